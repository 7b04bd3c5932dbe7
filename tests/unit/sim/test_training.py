"""Twin training tiles (sim.training): YOLO image/label pairs from uniformly placed views."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dockpatrol.camera import CameraModel
from sim.training import render_background_tiles, render_hard_negatives
from vision.detections import Detections

SMOKE = 6


class CentreSmokeDetector:
    """Reports smoke in the middle of every image it sees: on a twin frame that is mostly a false alarm."""

    input_wh = (128, 128)

    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]:
        out = []
        for image in images:
            h, w = image.shape[:2]
            box = np.array([[w * 0.45, h * 0.45, w * 0.55, h * 0.55]])
            out.append(Detections(box, np.array([0.9]), np.array([SMOKE])))
        return out


class BlindDetector:
    input_wh = (128, 128)

    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]:
        return [Detections.empty() for _ in images]


def test_background_tiles_are_yolo_pairs(tmp_path: Path) -> None:
    counts = render_background_tiles(out=tmp_path, images=3, seed=101, imgsz=128)
    images = sorted((tmp_path / "images" / "train").glob("*.jpg"))
    labels = sorted((tmp_path / "labels" / "train").glob("*.txt"))
    assert counts["images"] == 3 and [p.stem for p in images] == [p.stem for p in labels]
    for lbl in labels:
        for line in lbl.read_text().splitlines():
            cls, *xywh = line.split()
            assert 0 <= int(cls) < 9 and all(0.0 <= float(v) <= 1.0 for v in xywh)


def _pairs(root: Path) -> tuple[list[Path], list[Path]]:
    return sorted((root / "images" / "train").glob("*.jpg")), sorted((root / "labels" / "train").glob("*.txt"))


def test_hard_negatives_are_rendered_around_false_alarms(tmp_path: Path) -> None:
    camera = CameraModel(4000, 3000, 73.7).scaled(400)
    counts = render_hard_negatives(detector=CentreSmokeDetector(), out=tmp_path, frames=3, images=8, seed=101,
                                   imgsz=128, per_frame=2, camera=camera)
    images, labels = _pairs(tmp_path)
    assert counts["frames"] == 3 and counts["false_alarms"] >= 1
    assert counts["images"] == len(images) >= 1 and [p.stem for p in images] == [p.stem for p in labels]
    assert counts["images"] <= 6  # at most per_frame from each frame


def test_a_detector_without_false_alarms_mines_nothing(tmp_path: Path) -> None:
    camera = CameraModel(4000, 3000, 73.7).scaled(400)
    counts = render_hard_negatives(detector=BlindDetector(), out=tmp_path, frames=2, images=4, seed=101, imgsz=128,
                                   camera=camera)
    assert counts["false_alarms"] == 0 and counts["images"] == 0 and _pairs(tmp_path) == ([], [])
