"""The `Detector` protocol: a batch of RGB images in, one `Detections` per image out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from vision.detections import Detections

#: Grey used for letterbox and tile padding (ultralytics' value), so padded areas look like training data.
PAD_VALUE = 114


@runtime_checkable
class Detector(Protocol):
    """Anything that finds taxonomy classes in images.

    ``images`` are HxWx3 uint8 RGB arrays; returned boxes are in each image's own pixels and
    ``class_id`` indexes ``dockpatrol.taxonomy.CLASS_NAMES``. Images exactly ``input_wh`` in size
    go through without resizing (the sliced path relies on it); others are letterboxed. A detector
    may also carry ``tile_wh``: the frame pixels one input covers (the scale it was trained at), and
    ``input_gsd_m``: the ground metres per input pixel it expects, from which tiles are sized per frame.
    """

    @property
    def input_wh(self) -> tuple[int, int]:
        """Model input (width, height) in pixels."""
        ...

    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]: ...


def letterbox(image: np.ndarray, input_wh: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Resize keeping aspect ratio into ``input_wh``, pad right/bottom; returns (canvas, scale)."""
    w, h = input_wh
    ih, iw = image.shape[:2]
    scale = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * scale)), max(1, round(ih * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp) if (nw, nh) != (iw, ih) else image
    canvas = np.full((h, w, 3), PAD_VALUE, dtype=np.uint8)
    canvas[:nh, :nw] = resized
    return canvas, scale
