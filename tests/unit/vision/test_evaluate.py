"""Matching findings to ground truth on the ground, per-class scores, truth files, dataset checks."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import shapely

from dockpatrol.errors import InvalidInput
from dockpatrol.geo import LocalProjection
from dockpatrol.taxonomy import CATEGORY_OF
from vision.evaluate import ErrorStats, TruthItem, assign_findings, load_truth, match_frame, summarise
from vision.train import _clamp_threshold, inspect_dataset
from vision.types import Finding

PROJ = LocalProjection.around(113.15, 23.03)
X0, Y0 = (float(v) for v in PROJ.to_metric(113.15, 23.03))
T0 = datetime(2026, 1, 5, 4, tzinfo=UTC)


def square_m(cx: float, cy: float, half: float) -> shapely.Polygon:
    return shapely.box(X0 + cx - half, Y0 + cy - half, X0 + cx + half, Y0 + cy + half)


def finding(cls: str, cx: float, cy: float, half: float = 2.0, score: float = 0.8) -> Finding:
    poly = shapely.transform(square_m(cx, cy, half), lambda c: np.column_stack(PROJ.to_lonlat(c[:, 0], c[:, 1])))
    lon, lat = PROJ.to_lonlat(X0 + cx, Y0 + cy)
    return Finding(geometry=shapely.geometry.mapping(poly), class_name=cls, category=CATEGORY_OF[cls], score=score,
                   seen_at=T0, frame_id="f", box_xyxy_px=(0, 0, 1, 1), centroid_lon=float(lon),
                   centroid_lat=float(lat), area_m2=(2 * half) ** 2)


def truth(oid: str, cls: str, cx: float, cy: float, half: float = 2.0, counts: bool = True) -> TruthItem:
    return TruthItem(oid, cls, square_m(cx, cy, half), counts)


def test_matching_radius_class_and_one_to_one() -> None:
    truths = [truth("a", "steel_shed", 0, 0), truth("b", "steel_shed", 20, 0), truth("c", "smoke", 40, 0, half=6.0)]
    found = [
        finding("steel_shed", 1.5, 0, score=0.9),  # 1.5 m off: match a
        finding("steel_shed", 0.5, 0, score=0.5),  # a already taken: false positive
        finding("garbage_dump", 20, 0),  # right place, wrong class: false positive
        finding("smoke", 44, 0, half=5.0),  # 4 m off but overlapping well (IoU 0.40): match c
    ]
    out = match_frame(found, truths, projection=PROJ, radius_m=3.0)
    assert out.tp_by_class == {"steel_shed": 1, "smoke": 1}
    assert out.fp_by_class == {"steel_shed": 1, "garbage_dump": 1}
    assert out.dup_by_class == {"steel_shed": 1}  # the second shed finding re-finds a
    assert out.fn_by_class == {"steel_shed": 1}
    assert sorted(round(e, 3) for e in out.centroid_errors_m) == [1.5, 4.0]


def test_assignments_name_the_truth_each_finding_took() -> None:
    truths = [truth("a", "steel_shed", 0, 0)]
    found = [finding("steel_shed", 0.5, 0, score=0.5), finding("steel_shed", 1.0, 0, score=0.9),
             finding("steel_shed", 60, 0, score=0.7)]
    got = {a.finding.score: (a.truth.object_id if a.truth else None, a.repeat)
           for a in assign_findings(found, truths, projection=PROJ)}
    # the surest finding takes the truth; the other near one repeats it; the far one is a plain false alarm
    assert got == {0.9: ("a", False), 0.5: (None, True), 0.7: (None, False)}


def test_partly_visible_truth_is_dont_care() -> None:
    truths = [truth("edge", "bare_soil", 0, 0, counts=False), truth("gone", "bare_soil", 50, 0, counts=False)]
    out = match_frame([finding("bare_soil", 0, 0)], truths, projection=PROJ)
    assert (out.tp_by_class, out.fp_by_class, out.fn_by_class) == ({}, {}, {})


def test_summary_precision_recall() -> None:
    a = match_frame([finding("smoke", 0, 0), finding("smoke", 30, 0)], [truth("a", "smoke", 0, 0)], projection=PROJ)
    b = match_frame([], [truth("b", "smoke", 0, 0)], projection=PROJ)
    smoke = {s.class_name: s for s in summarise([a, b])}["smoke"]
    assert (smoke.truths, smoke.findings, smoke.true_positives) == (2, 2, 1)
    assert smoke.precision == 0.5 and smoke.recall == 0.5
    assert math.isnan({s.class_name: s for s in summarise([a, b])}["open_fire"].precision)
    stats = ErrorStats.of([1.0, 2.0, 3.0, 10.0])
    assert (stats.n, stats.median_m, stats.max_m) == (4, 2.5, 10.0)
    assert ErrorStats.of([]).n == 0


def test_load_truth(tmp_path: Path) -> None:
    poly = shapely.geometry.mapping(shapely.box(113.15, 23.03, 113.1501, 23.0301))
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "o1", "geometry": poly,
         "properties": {"class": "steel_shed", "appears_at": "2026-01-01T00:00:00+00:00", "removed_at": None}},
        {"type": "Feature", "geometry": poly, "properties": {"class": "tree"}},  # background: skipped
    ]}
    path = tmp_path / "truth.geojson"
    path.write_text(json.dumps(fc))
    items = load_truth(path)
    assert [(t["id"], t["class"]) for t in items] == [("o1", "steel_shed")]
    assert items[0]["appears_at"] == datetime(2026, 1, 1, tzinfo=UTC) and items[0]["removed_at"] is None
    path.write_text('{"type": "Feature"}')
    with pytest.raises(InvalidInput, match="FeatureCollection"):
        load_truth(path)


def test_inspect_dataset(tmp_path: Path) -> None:
    for split in ("train", "val"):
        (tmp_path / "images" / split).mkdir(parents=True)
        (tmp_path / "images" / split / "a.jpg").write_bytes(b"x")
    (tmp_path / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnames:\n  0: smoke\n  1: cat\n")
    info = inspect_dataset(tmp_path / "data.yaml")
    assert info.names == ("smoke", "cat") and info.images == {"train": 1, "val": 1, "test": 0}
    assert info.unknown_classes == ("cat",)
    (tmp_path / "images" / "val" / "a.jpg").unlink()
    with pytest.raises(InvalidInput, match="'val' has no images"):
        inspect_dataset(tmp_path / "data.yaml")


@pytest.mark.parametrize(("value", "expected"), [(0.05, 0.1), (0.42, 0.42), (0.95, 0.8), (math.nan, 0.25)])
def test_threshold_clamp(value: float, expected: float) -> None:
    assert _clamp_threshold(value) == expected


def test_run_summary_reads_the_ultralytics_run(tmp_path: Path) -> None:
    from vision.train import run_summary

    (tmp_path / "weights").mkdir()
    (tmp_path / "args.yaml").write_text("model: yolo11n.yaml\nimgsz: 320\nbatch: 16\ntime: 1.1\n")
    (tmp_path / "results.csv").write_text("epoch,time,metrics/mAP50(B)\n1,60.0,0.1\n2,150.0,0.42\n3,210.0,0.4\n")
    out = run_summary(tmp_path / "weights" / "best.pt")
    assert out == {"model": "yolo11n.yaml", "imgsz": 320, "batch": 16, "time": 1.1, "epochs_trained": 3,
                   "wall_time_min": 3.5, "best_val_map50": 0.42}
    assert run_summary(tmp_path / "nowhere" / "weights" / "x.pt") == {}
