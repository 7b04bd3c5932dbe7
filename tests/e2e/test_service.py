"""The patrol service flying the twin: an emergency request pre-empts a routine flight on the dock it
needs (the routine vehicle is recalled, its record says so) and flies as soon as the dock is ready."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

DEADLINE_S = 300.0


def _small_area(world: object, district: object, area_id: str, hotspot: int,
                size_m: tuple[float, float] = (140.0, 100.0)) -> object:
    from sim.demo import area_around

    lon, lat = world.hotspots(limit=hotspot + 1)[hotspot]  # type: ignore[attr-defined]
    patrol = area_around(lon, lat, district, area_id=area_id, size_m=size_m)  # type: ignore[arg-type]
    return replace(patrol.area, gsd_cm=5.0), patrol.dock


def test_an_emergency_pre_empts_a_routine_patrol(isolated_data_dir: Path) -> None:
    from api.demo_district import seed
    from dockpatrol.camera import CameraModel
    from missions.scheduler import PatrolSchedule
    from missions.types import DockStatus, MissionStatus, Priority
    from pipeline.ledger import Ledger
    from pipeline.runner import InProcessRunner
    from pipeline.service import PatrolService, ServiceOptions, SimulatedClock, request_patrol
    from sim.demo import demo_world, install_twin_vehicles
    from sim.world import DEMO_OFFSET
    from storage.platform import database
    from storage.repositories import areas, docks, flights, schedules

    install_twin_vehicles()
    world = demo_world()
    with database().unit_of_work() as session:
        district = seed(session)
        for s in schedules.list_all(session=session):
            schedules.upsert(session=session, schedule=replace(s, enabled=False))
    routine, dock = _small_area(world, district, "AR", 0)
    emergency = replace(routine, id="AE", name="emergency")
    t0 = world.epoch + DEMO_OFFSET
    with database().unit_of_work() as session:
        for other in docks.list_all(session=session):
            if other.id != dock.id:
                docks.upsert(session=session, dock=replace(other, status=DockStatus.MAINTENANCE))
        docks.upsert(session=session, dock=replace(dock, camera=CameraModel().scaled(1600)))
        areas.upsert(session=session, area=routine)
        areas.upsert(session=session, area=emergency)
        schedules.upsert(session=session, schedule=PatrolSchedule(id="S-AR", area_id="AR", rule="FREQ=DAILY",
                                                                  starts_at=t0))
    lines: list[str] = []
    service = PatrolService(clock=SimulatedClock(t0 - timedelta(minutes=1), speedup=8.0),
                            ledger=Ledger(runner=InProcessRunner(workers=1)),
                            options=ServiceOptions(horizon_days=0.5, tick_s=20.0, lookback_s=0.0,
                                                   areas=frozenset({"AR", "AE"})), echo=lines.append)
    out: dict[str, object] = {}
    runner = threading.Thread(target=lambda: out.setdefault("report", service.run(until=t0 + timedelta(hours=2))))
    runner.start()
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:  # wait for the routine vehicle to be in the air
            with database().unit_of_work() as session:
                flying = flights.missions_with_status(session=session, status=MissionStatus.FLYING)
            if flying:
                break
            time.sleep(0.05)
        assert flying and flying[0].area_id == "AR", lines
        urgent = request_patrol(area_id="AE", at=service.clock.now(), priority=Priority.EMERGENCY)
        runner.join(timeout=DEADLINE_S)
        assert not runner.is_alive(), lines
    finally:
        service.stop.set()
        runner.join(timeout=60)
    report = out["report"]
    with database().unit_of_work() as session:
        pre_empted = flights.require_mission(session=session, mission_id=flying[0].id)
        (routine_flight,) = flights.flights_of_mission(session=session, mission_id=flying[0].id)
        done = flights.require_mission(session=session, mission_id=urgent.id)
        status, reason, heartbeat = docks.status_of(session=session, dock_id=dock.id)
    assert any("pre-empted by emergency" in line for line in lines)
    assert routine_flight.result == "aborted" and pre_empted.status is MissionStatus.FAILED
    assert "aborted" in pre_empted.reason
    assert done.status is MissionStatus.COMPLETED and done.priority is Priority.EMERGENCY
    assert report.launched == [flying[0].id, urgent.id]  # type: ignore[attr-defined]
    assert status is DockStatus.CHARGING and "charging until" in reason and heartbeat is not None


def test_a_patrol_one_battery_cannot_cover_flies_every_sortie(isolated_data_dir: Path) -> None:
    from api.demo_district import seed
    from dockpatrol.camera import CameraModel
    from missions.scheduler import PatrolSchedule
    from missions.types import DockStatus, MissionStatus
    from pipeline.ledger import Ledger
    from pipeline.runner import InProcessRunner
    from pipeline.service import PatrolService, ServiceOptions, SimulatedClock
    from sim.demo import demo_world, install_twin_vehicles
    from sim.world import DEMO_OFFSET
    from storage.platform import database
    from storage.repositories import areas, docks, flights, schedules

    install_twin_vehicles()
    world = demo_world()
    with database().unit_of_work() as session:
        district = seed(session)
        for s in schedules.list_all(session=session):
            schedules.upsert(session=session, schedule=replace(s, enabled=False))
    area, dock = _small_area(world, district, "AS", 0, size_m=(200.0, 140.0))
    # five minutes of battery: scheduler and planner both split this survey into two sorties
    dock = replace(dock, camera=CameraModel().scaled(1600), endurance_s=300.0, charge_s=120.0)
    t0 = world.epoch + DEMO_OFFSET
    with database().unit_of_work() as session:
        for other in docks.list_all(session=session):
            if other.id != dock.id:
                docks.upsert(session=session, dock=replace(other, status=DockStatus.MAINTENANCE))
        docks.upsert(session=session, dock=dock)
        areas.upsert(session=session, area=area)
        schedules.upsert(session=session, schedule=PatrolSchedule(id="S-AS", area_id="AS", rule="FREQ=DAILY",
                                                                  starts_at=t0))
    lines: list[str] = []
    service = PatrolService(clock=SimulatedClock(t0 - timedelta(minutes=1), speedup=8.0),
                            ledger=Ledger(runner=InProcessRunner(workers=1)),
                            options=ServiceOptions(horizon_days=0.5, tick_s=20.0, lookback_s=0.0,
                                                   areas=frozenset({"AS"})), echo=lines.append)
    report = service.run(until=t0 + timedelta(hours=1))
    assert len(report.launched) == 2, lines
    with database().unit_of_work() as session:
        missions = [flights.require_mission(session=session, mission_id=m) for m in report.launched]
        flown = [flights.flights_of_mission(session=session, mission_id=m)[0] for m in report.launched]
    assert [m.status for m in missions] == [MissionStatus.COMPLETED] * 2, [m.reason for m in missions]
    assert [(f.summary["sortie"], f.summary["sorties"]) for f in flown] == [(1, 2), (2, 2)]
    # the second sortie flies other ground, after the first (over three minutes) and the recharge
    assert missions[0].plan["items"] != missions[1].plan["items"]
    assert flown[1].started_at >= flown[0].started_at + timedelta(seconds=dock.charge_s + 180)
    assert any("sortie 2 of 2" in line for line in lines)
