"""A flight's findings grouped into ticket candidates: one per object, stable keys, the best view leads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dockpatrol.taxonomy import Category
from pipeline.tickets import candidate_key, candidates_from_findings
from vision.types import Finding, StoredFinding

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def finding(fid: str, cls: str, lon: float, score: float, minutes: int) -> StoredFinding:
    d = 2e-5
    ring = [[lon, 23.03], [lon + d, 23.03], [lon + d, 23.03 + d], [lon, 23.03 + d], [lon, 23.03]]
    return StoredFinding(id=fid, flight_id="F1", area_id="A01", finding=Finding(
        geometry={"type": "Polygon", "coordinates": [ring]}, class_name=cls,
        category=Category.CONSTRUCTION if cls == "steel_shed" else Category.FIRE, score=score,
        seen_at=T0 + timedelta(minutes=minutes), frame_id=f"FR-{fid}", box_xyxy_px=None, centroid_lon=lon,
        centroid_lat=23.03, area_m2=4.0, evidence_key=f"ev/{fid}.jpg"))


def test_views_of_one_object_become_one_candidate_led_by_the_best() -> None:
    found = [finding("a", "steel_shed", 113.15, 0.6, 2), finding("b", "steel_shed", 113.15001, 0.8, 1),
             finding("c", "smoke", 113.15, 0.7, 3), finding("d", "steel_shed", 113.16, 0.9, 4)]
    shed, smoke, far = candidates_from_findings(found, flight_id="F1")
    assert (shed.class_name, shed.frames, shed.score, shed.evidence_key) == ("steel_shed", 2, 0.8, "ev/b.jpg")
    assert shed.seen_at == T0 + timedelta(minutes=1) and shed.finding_ids == ("a", "b")
    assert shed.key == candidate_key("F1", ["b", "a"]) and shed.key != far.key
    assert (smoke.class_name, smoke.category, smoke.frames, far.frames) == ("smoke", "fire", 1, 1)
    assert candidates_from_findings(list(reversed(found)), flight_id="F1")[0].key in {shed.key, smoke.key, far.key}
    assert candidates_from_findings([], flight_id="F1") == []
