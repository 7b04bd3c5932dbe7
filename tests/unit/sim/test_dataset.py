"""Training data from the twin: YOLO layout, labels inside bounds and on rendered objects, held-out split."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from dockpatrol.camera import GeoPose
from dockpatrol.errors import InvalidInput
from dockpatrol.taxonomy import CLASS_NAMES
from sim.camera import render_frame
from sim.dataset import MISSION_CAMERA, build_dataset, crop_camera, yolo_lines
from sim.world import World


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("ds")
    summary = build_dataset(out=out, frames=14, imgsz=320, seed=2, val_frames=5, world_size_m=700.0)
    return out, summary


def _labels(path: Path) -> np.ndarray:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return np.array(rows, dtype=float).reshape(-1, 5)


def test_layout_and_data_yaml(dataset) -> None:
    out, _ = dataset
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert Path(data["path"]).is_absolute() and Path(data["path"]) == out.resolve()
    assert [data["names"][i] for i in range(len(CLASS_NAMES))] == list(CLASS_NAMES)
    assert data["nc"] == 9
    for split, n in (("train", 14), ("val", 5)):
        images = sorted((out / data[split]).glob("*.jpg"))
        labels = sorted((out / "labels" / split).glob("*.txt"))
        assert len(images) == n and [p.stem for p in images] == [p.stem for p in labels]


def test_labels_are_valid_yolo_boxes_inside_the_image(dataset) -> None:
    out, summary = dataset
    counts = dict.fromkeys(CLASS_NAMES, 0)
    for lbl in sorted((out / "labels" / "train").glob("*.txt")):
        rows = _labels(lbl)
        img = cv2.imread(str(out / "images" / "train" / f"{lbl.stem}.jpg"))
        assert img.shape[1] == 320 and img.shape[0] in (240, 320)  # crops are square, whole frames 4:3
        for cls, cx, cy, w, h in rows:
            assert float(cls).is_integer() and 0 <= cls < len(CLASS_NAMES)
            assert 0 < w <= 1 and 0 < h <= 1
            assert cx - w / 2 >= -1e-6 and cx + w / 2 <= 1 + 1e-6 and cy - h / 2 >= -1e-6 and cy + h / 2 <= 1 + 1e-6
            counts[CLASS_NAMES[int(cls)]] += 1
    assert counts == summary.train.instances
    assert sum(counts.values()) >= 10
    assert len([c for c, n in counts.items() if n]) >= 6, "class balancing spreads frames over the classes"
    recorded = json.loads((out / "summary.json").read_text())
    assert recorded["train"]["instances"] == counts


def test_validation_split_comes_from_another_world(dataset) -> None:
    _, summary = dataset
    train, val = summary.worlds["train"], summary.worlds["val"]
    assert train["seed"] != val["seed"] and train["center"] != val["center"]
    assert summary.val.images == 5


def test_label_boxes_sit_on_the_rendered_objects() -> None:
    world = World.generate(seed=5, size_m=600.0)
    cam = crop_camera(320)
    obj = next(o for o in world.objects if o.kind == "steel_shed")
    c = obj.polygon.centroid
    lon, lat = world.projection.to_lonlat(c.x, c.y)
    frame = render_frame(world, cam, GeoPose(lon=float(lon), lat=float(lat), altitude_m=60.0),
                         obj.appears_at + timedelta(hours=2), pose_noise=False)
    lines = yolo_lines(frame.objects, width=320, height=320)
    rows = np.array([line.split() for line in lines], dtype=float)
    shed = [r for r in rows if CLASS_NAMES[int(r[0])] == "steel_shed"]
    assert shed, "the steel shed under the camera is labelled"
    _, cx, cy, w, h = shed[0]
    x0, y0, x1, y1 = (cx - w / 2) * 320, (cy - h / 2) * 320, (cx + w / 2) * 320, (cy + h / 2) * 320
    seen = next(o for o in frame.objects if o.object_id == obj.id)
    assert (x0, y0, x1, y1) == pytest.approx(seen.xyxy_px, abs=1e-3)
    # The box holds the shed's blue or white roof: strongly unlike the grass around it.
    roof = frame.rgb[int(y0) + 3:int(y1) - 3, int(x0) + 3:int(x1) - 3].reshape(-1, 3).astype(float)
    assert np.median(roof[:, 2] - roof[:, 1]) > -10, "the box does not sit on a colour-steel roof"


def test_crop_camera_keeps_mission_gsd() -> None:
    assert crop_camera(640).focal_px == pytest.approx(MISSION_CAMERA.focal_px)
    assert crop_camera(640).gsd_m(60.0) == pytest.approx(MISSION_CAMERA.gsd_m(60.0))


@pytest.mark.parametrize(("kwargs", "message"), [({"frames": 0}, "frames"), ({"imgsz": 100}, "imgsz"),
                                                 ({"val_frames": 0}, "val-frames")])
def test_bad_dataset_arguments_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"frames": 2, "imgsz": 320, "val_frames": 1} | kwargs
    with pytest.raises(InvalidInput, match=message):
        build_dataset(out=tmp_path / "ds", world_size_m=400.0, **args)


def test_refuses_to_write_into_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(InvalidInput, match="not an earlier dataset"):
        build_dataset(out=tmp_path, frames=1, imgsz=320, val_frames=1, world_size_m=400.0)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
