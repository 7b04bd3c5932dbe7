"""Grouping a flight's findings into objects, and multi-view agreement (pure; no servers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import shapely

from dockpatrol.errors import InvalidInput
from dockpatrol.geo import LocalProjection
from dockpatrol.taxonomy import Category
from pipeline.flight_import import group_findings, photos_in
from vision.types import Finding, StoredFinding

PROJ = LocalProjection.around(113.15, 23.03)


def square(east_m: float, north_m: float, side_m: float = 2.0) -> dict[str, Any]:
    x0, y0 = PROJ.to_metric(113.15, 23.03)
    box = shapely.box(x0 + east_m, y0 + north_m, x0 + east_m + side_m, y0 + north_m + side_m)
    return shapely.geometry.mapping(PROJ.geometry_to_lonlat(box))


def row(i: int, frame: str, cls: str, east_m: float, score: float = 0.5) -> StoredFinding:
    geometry = square(east_m, 0.0)
    centre = shapely.geometry.shape(geometry).centroid
    finding = Finding(geometry=geometry, class_name=cls, category=Category.POLLUTION, score=score,
                      seen_at=datetime(2026, 1, 5, 12, tzinfo=UTC), frame_id=frame, box_xyxy_px=None,
                      centroid_lon=centre.x, centroid_lat=centre.y, area_m2=4.0, evidence_key=f"ev/{i}.jpg")
    return StoredFinding(id=f"FD-{i}", finding=finding, flight_id="F-1")


def test_sightings_group_per_class_with_a_wider_radius_for_spread_classes() -> None:
    rows = [row(0, "A", "garbage_dump", 0.0, 0.9), row(1, "B", "garbage_dump", 1.0, 0.6),
            row(2, "A", "steel_shed", 0.0), row(3, "B", "steel_shed", 10.0),
            row(4, "A", "smoke", 0.0), row(5, "A", "smoke", 10.0)]
    objects = group_findings(rows, radius_m=3.0)
    by_class: dict[str, list] = {}
    for o in objects:
        by_class.setdefault(o.class_name, []).append(o)
    dump, = by_class["garbage_dump"]
    assert dump.frame_ids == ("A", "B") and dump.score == 0.9 and dump.evidence_keys == ("ev/0.jpg", "ev/1.jpg")
    assert len(by_class["steel_shed"]) == 2  # 10 m apart: two sheds
    assert len(by_class["smoke"]) == 1  # one plume boxed in two pieces 10 m apart


def test_multi_view_agreement() -> None:
    far = shapely.geometry.shape(square(-50.0, -50.0, 100.0))  # a frame footprint covering everything here
    rows = [row(0, "A", "garbage_dump", 0.0), row(1, "B", "garbage_dump", 1.0), row(2, "A", "bare_soil", 30.0)]
    objects = {o.class_name: o for o in group_findings(rows, radius_m=3.0, footprints=[far, far])}
    assert objects["garbage_dump"].covered_by == 2 and objects["garbage_dump"].confirmed
    assert objects["bare_soil"].covered_by == 2 and not objects["bare_soil"].confirmed  # one of two frames saw it
    alone = group_findings(rows[2:], radius_m=3.0, footprints=[far])
    assert alone[0].confirmed  # the only frame covering it saw it
    props = alone[0].to_geojson()["properties"]
    assert {"class", "category", "score", "frames", "evidence", "covered_by", "confirmed"} <= set(props)


def test_photos_in_refuses_what_is_not_a_flight(tmp_path) -> None:
    with pytest.raises(InvalidInput, match="not a folder"):
        photos_in(tmp_path / "absent")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InvalidInput, match="holds no JPEG photos"):
        photos_in(tmp_path)
    (tmp_path / "b.JPG").write_bytes(b"x")
    (tmp_path / "a.jpeg").write_bytes(b"x")
    assert [p.name for p in photos_in(tmp_path)] == ["a.jpeg", "b.JPG"]
