"""Sliced inference for large frames: model-sized overlapping tiles in batches, shift back, merge.

Small objects in 4000×3000 frames vanish when the frame is shrunk to the model input; tiles at
native resolution keep them. Tiles go through the detector in batches (one forward per batch),
an optional full-frame pass catches objects larger than a tile, and greedy non-maximum merging on
intersection-over-smaller joins the pieces of objects cut by tile borders.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import StrEnum

import cv2
import numpy as np

from dockpatrol.errors import InvalidInput
from vision.detections import Detections, greedy_nmm, nms_indices
from vision.detector import PAD_VALUE, Detector


class Merge(StrEnum):
    """How detections from overlapping tiles are combined."""

    GREEDY_NMM = "greedy_nmm"
    NMS = "nms"
    NONE = "none"


class Metric(StrEnum):
    IOS = "ios"
    IOU = "iou"


def _starts(length: int, tile: int, overlap: float) -> np.ndarray:
    """Tile start offsets along one axis: regular steps, the last tile flush with the far edge."""
    if length <= tile:
        return np.zeros(1, dtype=np.int64)
    step = max(1, int(tile * (1.0 - overlap)))
    n = math.ceil((length - tile) / step) + 1
    starts = np.minimum(np.arange(n, dtype=np.int64) * step, length - tile)
    return np.unique(starts)


def tile_grid(image_wh: tuple[int, int], *, slice_wh: tuple[int, int],
              overlap_wh: tuple[float, float] = (0.2, 0.2)) -> np.ndarray:
    """Tile boxes (k, 4) int xyxy covering an image; every tile is ``slice_wh`` unless the image is smaller."""
    w, h = image_wh
    sw, sh = slice_wh
    if w <= 0 or h <= 0:
        raise InvalidInput(f"image size must be positive, got {w}x{h}")
    if sw <= 0 or sh <= 0:
        raise InvalidInput(f"slice_wh must be positive, got {slice_wh}")
    if not all(0.0 <= o < 1.0 for o in overlap_wh):
        raise InvalidInput(f"overlap_wh must be fractions in [0, 1), got {overlap_wh}")
    xs = _starts(w, sw, overlap_wh[0])
    ys = _starts(h, sh, overlap_wh[1])
    gx, gy = np.meshgrid(xs, ys)
    x0, y0 = gx.ravel(), gy.ravel()
    return np.stack([x0, y0, np.minimum(x0 + sw, w), np.minimum(y0 + sh, h)], axis=1)


def cut_tiles(image: np.ndarray, tiles: np.ndarray, *, slice_wh: tuple[int, int]) -> np.ndarray:
    """Stack tile crops into (k, sh, sw, 3); tiles of an image smaller than the slice are padded."""
    sw, sh = slice_wh
    out = np.full((len(tiles), sh, sw, 3), PAD_VALUE, dtype=np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(tiles):
        out[i, : y1 - y0, : x1 - x0] = image[y0:y1, x0:x1]
    return out


def merge_detections(dets: Detections, *, merge: Merge = Merge.GREEDY_NMM, metric: Metric = Metric.IOS,
                     threshold: float = 0.5, class_agnostic: bool = False) -> Detections:
    """Combine overlapping detections of the same object (class-aware unless ``class_agnostic``).

    Greedy merging repeats until nothing more merges: a box widened by the pieces it absorbed can now cover
    another piece of the same object that overlapped none of the boxes it came from (tiles cut a large
    object into pieces that each overlap only their neighbours).
    """
    if merge is Merge.NONE or len(dets) < 2:
        return dets
    if merge is Merge.NMS:
        keep = nms_indices(dets.xyxy, dets.confidence, None if class_agnostic else dets.class_id,
                           threshold=threshold, metric=metric.value)
        return dets[keep]
    while True:
        merged = greedy_nmm(dets, threshold=threshold, metric=metric.value, class_agnostic=class_agnostic)
        if len(merged) == len(dets):
            return merged
        dets = merged


def slice_infer(image: np.ndarray, detector: Detector, *, slice_wh: tuple[int, int] | None = None,
                overlap_wh: tuple[float, float] = (0.2, 0.2), merge: Merge = Merge.GREEDY_NMM,
                metric: Metric = Metric.IOS, match_threshold: float = 0.5, full_frame: bool = True,
                batch_size: int = 8) -> Detections:
    """Detect in a large RGB frame by tiles; boxes come back in frame pixels.

    ``slice_wh`` (frame pixels) defaults to the detector's ``tile_wh``, else its input size. When
    it differs from the input size the frame is resized once, so every tile is exactly model-sized.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidInput(f"image must be HxWx3 uint8 RGB, got shape {image.shape} dtype {image.dtype}")
    slice_wh = tuple(slice_wh or getattr(detector, "tile_wh", None) or detector.input_wh)
    input_wh = tuple(detector.input_wh)
    if slice_wh != input_wh:
        scale = input_wh[0] / slice_wh[0]
        if abs(input_wh[1] / slice_wh[1] - scale) > 1e-6:
            raise InvalidInput(f"slice_wh {slice_wh} and model input {input_wh} differ in aspect ratio")
        oh, ow = image.shape[:2]
        size = (max(1, round(ow * scale)), max(1, round(oh * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        dets = slice_infer(small, detector, slice_wh=input_wh, overlap_wh=overlap_wh, merge=merge, metric=metric,
                           match_threshold=match_threshold, full_frame=full_frame, batch_size=batch_size)
        sx, sy = ow / size[0], oh / size[1]
        factor = np.array([sx, sy, sx, sy], dtype=np.float32)
        return Detections(dets.xyxy * factor, dets.confidence, dets.class_id, dict(dets.data))
    h, w = image.shape[:2]
    tiles = tile_grid((w, h), slice_wh=slice_wh, overlap_wh=overlap_wh)
    parts: list[Detections] = []
    for start in range(0, len(tiles), batch_size):
        chunk = tiles[start:start + batch_size]
        # a (B, H, W, 3) array is a sequence of images; detectors may take it without re-stacking
        found = detector(cut_tiles(image, chunk, slice_wh=slice_wh))
        counts = np.array([len(d) for d in found])
        if counts.sum() == 0:
            continue
        # shift every tile's boxes by its origin in one vectorised step
        joined = Detections.merge(found)
        origin = np.repeat(chunk[:, :2], counts, axis=0)
        parts.append(joined.shifted(dx_px=origin[:, 0], dy_px=origin[:, 1]))
    single_tile = len(tiles) == 1 and (w, h) == tuple(slice_wh)
    if full_frame and not single_tile:
        parts.extend(detector([image]))
    dets = Detections.merge(parts).clipped(width_px=w, height_px=h)
    return merge_detections(dets, merge=merge, metric=metric, threshold=match_threshold)


def model_tiles(images: Iterable[np.ndarray], *, input_wh: tuple[int, int], slice_wh: tuple[int, int],
                count: int, seed: int = 0, overlap_wh: tuple[float, float] = (0.2, 0.2)) -> np.ndarray:
    """Up to ``count`` (n, H, W, 3) tiles exactly as `slice_infer` feeds them to a model (frames resized by
    input/slice, then cut), drawn at random from ``images``: calibration data for quantisation."""
    input_wh, slice_wh = tuple(input_wh), tuple(slice_wh)
    out = []
    for image in images:
        scale = input_wh[0] / slice_wh[0]
        if scale != 1.0:
            size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        grid = tile_grid((image.shape[1], image.shape[0]), slice_wh=input_wh, overlap_wh=overlap_wh)
        out.append(cut_tiles(image, grid, slice_wh=input_wh))
    if not out:
        raise InvalidInput("no images to cut tiles from")
    stack = np.concatenate(out)
    return stack[np.random.default_rng(seed).permutation(len(stack))[:count]]
