"""Repository behaviour, identical on SQLite and PostgreSQL+PostGIS: explicit keywords in, domain types out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from dockpatrol.camera import CameraModel, GeoPose
from dockpatrol.errors import NotFound
from dockpatrol.taxonomy import Category
from flight.types import Flight, FlightStatus
from missions.scheduler import PatrolSchedule
from missions.types import (
    Dock,
    DockStatus,
    Jurisdiction,
    Mission,
    MissionStatus,
    NoFlyZone,
    PatrolArea,
    Priority,
)
from storage.repositories import _base, areas, docks, findings, flights, jurisdictions, schedules
from storage.tables import FlightRow
from vision.types import Finding, FindingStatus, Frame, FrameStatus, StoredFinding

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def square(lon: float, lat: float, half_deg: float = 0.001) -> dict:
    ring = [[lon - half_deg, lat - half_deg], [lon + half_deg, lat - half_deg], [lon + half_deg, lat + half_deg],
            [lon - half_deg, lat + half_deg], [lon - half_deg, lat - half_deg]]
    return {"type": "Polygon", "coordinates": [ring]}


def test_dock_round_trip_and_update(session: Session) -> None:
    dock = Dock(id="D1", name="Guicheng 1", lon=113.15, lat=23.03, elevation_amsl_m=12.0, endurance_s=1800.0)
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
    community = Jurisdiction(id="C1", name="Community", polygon=square(113.15, 23.03, 0.01), kind="community")
    jurisdictions.upsert(session=session, jurisdiction=community)
    jurisdictions.upsert(session=session, jurisdiction=Jurisdiction(
        id="G1", name="Grid 1", polygon=square(113.15, 23.03, 0.002), parent_id="C1"))
    inner = jurisdictions.containing(session=session, lon=113.1501, lat=23.0301)
    assert isinstance(inner, Jurisdiction) and (inner.id, inner.kind, inner.parent_id) == ("G1", "grid", "C1")
    assert jurisdictions.containing(session=session, lon=113.158, lat=23.038).id == "C1"
    assert jurisdictions.containing(session=session, lon=114.0, lat=23.0) is None


def test_jurisdiction_on_a_shared_border_goes_to_the_lowest_id(session: Session) -> None:
    """Two equal neighbours share the meridian 113.15: a point on it belongs to the lower id, whatever the order."""
    east = {"type": "Polygon", "coordinates": [[[113.15, 23.0], [113.16, 23.0], [113.16, 23.01], [113.15, 23.01],
                                                [113.15, 23.0]]]}
    west = {"type": "Polygon", "coordinates": [[[113.14, 23.0], [113.15, 23.0], [113.15, 23.01], [113.14, 23.01],
                                                [113.14, 23.0]]]}
    for jid, polygon in (("G2", east), ("G1", west)):
        jurisdictions.upsert(session=session, jurisdiction=Jurisdiction(id=jid, name=jid, polygon=polygon))
    assert jurisdictions.containing(session=session, lon=113.15, lat=23.005).id == "G1"


def _flight_with_a_frame(session: Session) -> tuple[Mission, Flight, Frame]:
    docks.upsert(session=session, dock=Dock(id="D1", name="d", lon=113.15, lat=23.03))
    mission = flights.save_mission(session=session, mission=Mission(
        id="M1", dock_id="D1", status=MissionStatus.FLYING, priority=Priority.REINSPECTION, scheduled_for=T0,
        plan={"items": []}))
    flight = flights.save_flight(session=session, flight=Flight(
        id="F1", mission_id="M1", dock_id="D1", vehicle_url="udp:127.0.0.1:14550", status=FlightStatus.FLYING,
        started_at=T0))
    frame = flights.save_frame(session=session, frame=Frame(
        id="FR1", flight_id="F1", object_key="flights/F1/1.jpg", sha256="ab" * 32, captured_at=T0, lon=113.15,
        lat=23.03, altitude_above_ground_m=60.0, yaw_deg=90.0, pitch_deg=-90.0, roll_deg=0.0,
        camera=CameraModel(800, 600, 73.7, source="focal_plane"), width_px=800, height_px=600))
    return mission, flight, frame


def test_mission_flight_and_frame_round_trip_as_domain_types(session: Session) -> None:
    mission, flight, frame = _flight_with_a_frame(session)
    session.expire_all()  # read back from the database, not the identity map
    assert flights.require_mission(session=session, mission_id="M1") == mission
    assert flights.require_flight(session=session, flight_id="F1") == flight
    got = flights.require_frame(session=session, frame_id="FR1")
    assert isinstance(got, Frame) and got == frame
    assert got.pose() == GeoPose(lon=113.15, lat=23.03, altitude_m=60.0, yaw_deg=90.0, pitch_deg=-90.0)
    assert flights.frame_by_hash(session=session, flight_id="F1", sha256="ab" * 32) == frame

    ended = flights.finish_flight(session=session, flight_id="F1", status=FlightStatus.LANDED, result="completed",
                                  ended_at=T0 + timedelta(minutes=20), summary={"photos": 1}, log_key="k")
    assert ended.status is FlightStatus.LANDED and ended.summary == {"photos": 1}
    assert flights.set_mission_status(session=session, mission_id="M1",
                                      status=MissionStatus.COMPLETED).status is MissionStatus.COMPLETED
    assert flights.set_frame_status(session=session, frame_id="FR1", status=FrameStatus.ANALYSED).status \
        is FrameStatus.ANALYSED
    assert [f.id for f in flights.frames_of_flight(session=session, flight_id="F1",
                                                   status=FrameStatus.ANALYSED)] == ["FR1"]
    assert [f.id for f in flights.flights_of_area(session=session, area_id="nowhere")] == []


def test_findings_round_trip_as_domain_types(session: Session) -> None:
    _flight_with_a_frame(session)
    geometry = square(113.15, 23.03, 0.00005)
    finding = Finding(geometry=geometry, class_name="smoke", category=Category.FIRE, score=0.8, seen_at=T0,
                      frame_id="FR1", box_xyxy_px=(10.0, 20.0, 110.0, 140.0), centroid_lon=113.15,
                      centroid_lat=23.03, area_m2=104.2, model="demo@1", evidence_key="flights/F1/evidence/X1.jpg")
    findings.save_finding(session=session, finding_id="X1", finding=finding, flight_id="F1", area_id=None)
    session.expire_all()
    (got,) = findings.findings_of_flight(session=session, flight_id="F1")
    assert isinstance(got, StoredFinding) and (got.id, got.flight_id, got.status) == ("X1", "F1", FindingStatus.NEW)
    f = got.finding
    assert isinstance(f, Finding) and f.category is Category.FIRE
    assert (f.class_name, f.score, f.seen_at, f.frame_id, f.box_xyxy_px, f.model, f.evidence_key, f.area_m2) == (
        "smoke", 0.8, T0, "FR1", (10.0, 20.0, 110.0, 140.0), "demo@1", "flights/F1/evidence/X1.jpg", 104.2)
    assert f.centroid_lon == pytest.approx(113.15) and f.centroid_lat == pytest.approx(23.03)
    assert f.geometry["coordinates"][0][0] == pytest.approx(geometry["coordinates"][0][0])
    assert [x.id for x in findings.findings_in(session=session, bbox=(113.14, 23.02, 113.16, 23.04))] == ["X1"]
    assert findings.require_finding(session=session, finding_id="X1").finding.class_name == "smoke"


@pytest.mark.parametrize(
    ("call", "misspelt"),
    [
        (lambda s: flights.finish_flight(session=s, flight_id="F1", statsu=FlightStatus.LANDED, result="",
                                         ended_at=None, summary={}, log_key=None), "statsu"),
        (lambda s: flights.set_frame_status(session=s, frame_id="FR1", stauts=FrameStatus.ANALYSED), "stauts"),
        (lambda s: docks.set_status(session=s, dock_id="D1", state=DockStatus.CHARGING), "state"),
        (lambda s: schedules.upsert_rule(session=s, rule_id="r", name="n", match={}, department="d", sla_hours=1,
                                         priorty=5), "priorty"),
    ],
)
def test_an_unknown_keyword_raises_instead_of_being_dropped(session: Session, call, misspelt: str) -> None:
    _flight_with_a_frame(session)
    with pytest.raises(TypeError, match=misspelt):
        call(session)
    assert flights.require_flight(session=session, flight_id="F1").status is FlightStatus.FLYING


def test_the_shared_upsert_refuses_a_column_the_table_lacks(session: Session) -> None:
    _flight_with_a_frame(session)
    with pytest.raises(TypeError, match="flights has no column 'statsu'"):
        _base.upsert_row(session, FlightRow, "F1", statsu="landed")
    assert flights.require_flight(session=session, flight_id="F1").status is FlightStatus.FLYING


def test_schedule_and_rules_order(session: Session) -> None:
    areas.upsert(session=session, area=PatrolArea(id="A1", name="a", polygon=square(113.15, 23.03),
                                                  scenarios=frozenset({Category.FIRE})))
    schedule = PatrolSchedule(id="S1", area_id="A1", rule="FREQ=WEEKLY;BYDAY=MO", starts_at=T0,
                              priority=Priority.EMERGENCY, enabled=False)
    schedules.upsert(session=session, schedule=schedule)
    schedules.upsert_rule(session=session, rule_id="r2", name="fallback", match={}, department="enforcement",
                          sla_hours=72, order=200)
    schedules.upsert_rule(session=session, rule_id="r1", name="fire", match={"category": "fire"},
                          department="fire_emergency", sla_hours=2, order=10)
    assert [r.id for r in schedules.list_rules(session=session)] == ["r1", "r2"]
    session.expire_all()
    assert schedules.list_all(session=session) == [schedule]  # priority and enabled reach the scheduler


def test_no_fly_zones_round_trip(session: Session) -> None:
    zone = NoFlyZone(id="N1", name="helipad", polygon=square(113.15, 23.03), reason="hospital")
    areas.upsert_no_fly(session=session, zone=zone)
    (got,) = areas.list_no_fly(session=session)
    assert isinstance(got, NoFlyZone) and (got.id, got.name, got.reason) == ("N1", "helipad", "hospital")


def test_postgis_geometry_column_and_gist_index(pg_engine) -> None:
    from sqlalchemy import text

    with pg_engine.connect() as conn:
        udt = conn.execute(text("SELECT udt_name FROM information_schema.columns "
                                "WHERE table_name='patrol_areas' AND column_name='geometry'")).scalar()
        index = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname='ix_patrol_areas_geometry_gist'"))
        assert udt == "geometry"
        assert "USING gist" in index.scalar()
