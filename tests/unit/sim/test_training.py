"""Twin training tiles (sim.training): YOLO image/label pairs from uniformly placed views."""

from __future__ import annotations

from pathlib import Path

from sim.training import render_background_tiles


def test_background_tiles_are_yolo_pairs(tmp_path: Path) -> None:
    counts = render_background_tiles(out=tmp_path, images=3, seed=101, imgsz=128)
    images = sorted((tmp_path / "images" / "train").glob("*.jpg"))
    labels = sorted((tmp_path / "labels" / "train").glob("*.txt"))
    assert counts["images"] == 3 and [p.stem for p in images] == [p.stem for p in labels]
    for lbl in labels:
        for line in lbl.read_text().splitlines():
            cls, *xywh = line.split()
            assert 0 <= int(cls) < 9 and all(0.0 <= float(v) <= 1.0 for v in xywh)
