"""Repository behaviour, identical on SQLite and PostgreSQL+PostGIS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from dockpatrol.errors import NotFound
from dockpatrol.taxonomy import Category
from missions.types import Dock, DockStatus, PatrolArea
from storage.repositories import areas, docks, findings, flights, jurisdictions, schedules

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def square(lon: float, lat: float, half_deg: float = 0.001) -> dict:
    ring = [[lon - half_deg, lat - half_deg], [lon + half_deg, lat - half_deg], [lon + half_deg, lat + half_deg],
            [lon - half_deg, lat + half_deg], [lon - half_deg, lat - half_deg]]
    return {"type": "Polygon", "coordinates": [ring]}


def test_dock_round_trip_and_update(session: Session) -> None:
    dock = Dock(id="D1", name="Guicheng 1", lon=113.15, lat=23.03, alt_m=12.0, endurance_s=1800.0)
    docks.upsert(session=session, dock=dock)
    assert docks.require(session=session, dock_id="D1") == dock
    docks.set_status(session=session, dock_id="D1", status=DockStatus.CHARGING)
    assert docks.require(session=session, dock_id="D1").status is DockStatus.CHARGING
    assert [d.id for d in docks.list_all(session=session)] == ["D1"]


def test_missing_dock_is_not_found_with_its_id(session: Session) -> None:
    assert docks.get(session=session, dock_id="nope") is None
    with pytest.raises(NotFound, match="'nope'"):
        docks.require(session=session, dock_id="nope")


def test_area_geometry_round_trips_as_geojson(session: Session) -> None:
    area = PatrolArea(id="A1", name="River bend", polygon=square(113.15, 23.03),
                      scenarios=frozenset({Category.POLLUTION, Category.FIRE}), gsd_cm=3.0, cadence="FREQ=DAILY")
    areas.upsert(session=session, area=area)
    got = areas.require(session=session, area_id="A1")
    assert got.scenarios == area.scenarios
    assert got.polygon["type"] == "Polygon"
    assert got.polygon["coordinates"][0][0] == pytest.approx([113.149, 23.029])


@pytest.mark.parametrize(
    ("bbox", "expected"),
    [
        ((113.1485, 23.0285, 113.1495, 23.0295), ["A1"]),  # overlaps A1's corner only
        ((113.1495, 23.0295, 113.1605, 23.0305), ["A1", "A2"]),  # spans both
        ((113.170, 23.050, 113.171, 23.051), []),  # far away
    ],
)
def test_bbox_intersects_query(session: Session, bbox: tuple, expected: list[str]) -> None:
    for area_id, lon in (("A1", 113.15), ("A2", 113.16)):
        areas.upsert(session=session, area=PatrolArea(id=area_id, name=area_id, polygon=square(lon, 23.03),
                                                      scenarios=frozenset({Category.CONSTRUCTION})))
    assert sorted(a.id for a in areas.intersecting_areas(session=session, bbox=bbox)) == expected


def test_intersects_is_exact_not_just_bbox(session: Session) -> None:
    """A triangle whose bbox covers the query point but whose interior does not."""
    tri = {"type": "Polygon", "coordinates": [[[113.0, 23.0], [113.01, 23.0], [113.0, 23.01], [113.0, 23.0]]]}
    areas.upsert(session=session, area=PatrolArea(id="T", name="T", polygon=tri,
                                                  scenarios=frozenset({Category.FIRE})))
    assert areas.intersecting_areas(session=session, bbox=(113.009, 23.009, 113.0095, 23.0095)) == []
    assert [a.id for a in areas.intersecting_areas(session=session, bbox=(113.001, 23.001, 113.002, 23.002))] == ["T"]


def test_jurisdiction_containing_prefers_smallest(session: Session) -> None:
    jurisdictions.upsert(session=session, jurisdiction_id="C1", name="Community", geometry=square(113.15, 23.03, 0.01),
                         kind="community")
    jurisdictions.upsert(session=session, jurisdiction_id="G1", name="Grid 1", geometry=square(113.15, 23.03, 0.002),
                         parent_id="C1")
    assert jurisdictions.containing(session=session, lon=113.1501, lat=23.0301).id == "G1"
    assert jurisdictions.containing(session=session, lon=113.158, lat=23.038).id == "C1"
    assert jurisdictions.containing(session=session, lon=114.0, lat=23.0) is None


def test_frames_and_findings_of_a_flight(session: Session) -> None:
    docks.upsert(session=session, dock=Dock(id="D1", name="d", lon=113.15, lat=23.03))
    flights.save_mission(session=session, mission_id="M1", dock_id="D1", plan={"items": []})
    flights.save_flight(session=session, flight_id="F1", mission_id="M1", dock_id="D1", started_at=T0)
    flights.save_frame(session=session, frame_id="FR1", flight_id="F1", object_key="flights/F1/1.jpg",
                       sha256="ab" * 32, captured_at=T0)
    findings.save_finding(session=session, finding_id="X1", frame_id="FR1", flight_id="F1", class_name="smoke",
                          category="fire", score=0.8, seen_at=T0, geometry=square(113.15, 23.03, 0.00005))
    assert flights.frame_by_hash(session=session, flight_id="F1", sha256="ab" * 32).id == "FR1"
    assert [f.id for f in findings.findings_of_flight(session=session, flight_id="F1")] == ["X1"]
    assert [f.id for f in findings.findings_in(session=session, bbox=(113.14, 23.02, 113.16, 23.04))] == ["X1"]


def test_schedule_and_rules_order(session: Session) -> None:
    areas.upsert(session=session, area=PatrolArea(id="A1", name="a", polygon=square(113.15, 23.03),
                                                  scenarios=frozenset({Category.FIRE})))
    schedules.upsert(session=session, schedule_id="S1", area_id="A1", rule="FREQ=WEEKLY;BYDAY=MO", starts_at=T0)
    schedules.upsert_rule(session=session, rule_id="r2", name="fallback", match={}, department="enforcement",
                          sla_hours=72, priority=200)
    schedules.upsert_rule(session=session, rule_id="r1", name="fire", match={"category": "fire"},
                          department="fire_emergency", sla_hours=2, priority=10)
    assert [r.id for r in schedules.list_rules(session=session)] == ["r1", "r2"]
    assert schedules.list_all(session=session)[0].starts_at == T0


def test_postgis_geometry_column_and_gist_index(pg_engine) -> None:
    from sqlalchemy import text

    with pg_engine.connect() as conn:
        udt = conn.execute(text("SELECT udt_name FROM information_schema.columns "
                                "WHERE table_name='patrol_areas' AND column_name='geometry'")).scalar()
        index = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname='ix_patrol_areas_geometry_gist'"))
        assert udt == "geometry"
        assert "USING gist" in index.scalar()
