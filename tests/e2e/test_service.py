"""The patrol service flying the twin: an emergency request pre-empts a routine flight on the dock it
needs (the routine vehicle is recalled, its record says so) and flies as soon as the dock is ready."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

DEADLINE_S = 300.0


def _one_dock_district(area_id: str, *, size_m: tuple[float, float] = (140.0, 100.0), **dock_changes: Any) -> Any:
    """The demo district with every schedule off and one dock in service, a small twin area beside it flown
    daily from ``t0``; returns (area, dock, t0)."""
    from api.demo_district import seed
    from dockpatrol.camera import CameraModel
    from missions.scheduler import PatrolSchedule
    from missions.types import DockStatus
    from sim.demo import area_around, demo_world, install_twin_vehicles
    from sim.world import DEMO_OFFSET
    from storage.platform import database
    from storage.repositories import areas, docks, schedules

    install_twin_vehicles()
    world = demo_world()
    with database().unit_of_work() as session:
        district = seed(session)
        for s in schedules.list_all(session=session):
            schedules.upsert(session=session, schedule=replace(s, enabled=False))
    lon, lat = world.hotspots(limit=1)[0]
    patrol = area_around(lon, lat, district, area_id=area_id, size_m=size_m)
    area = replace(patrol.area, gsd_cm=5.0)
    dock = replace(patrol.dock, camera=CameraModel().scaled(1600), **dock_changes)
    t0 = world.epoch + DEMO_OFFSET
    with database().unit_of_work() as session:
        for other in docks.list_all(session=session):
            if other.id != dock.id:
                docks.upsert(session=session, dock=replace(other, status=DockStatus.MAINTENANCE))
        docks.upsert(session=session, dock=dock)
        areas.upsert(session=session, area=area)
        schedules.upsert(session=session, schedule=PatrolSchedule(id=f"S-{area_id}", area_id=area_id,
                                                                  rule="FREQ=DAILY", starts_at=t0))
    return area, dock, t0


def _service(t0: datetime, area_ids: set[str], lines: list[str]) -> Any:
    from pipeline.ledger import Ledger
    from pipeline.runner import InProcessRunner
    from pipeline.service import PatrolService, ServiceOptions, SimulatedClock

    return PatrolService(clock=SimulatedClock(t0 - timedelta(minutes=1), speedup=8.0),
                         ledger=Ledger(runner=InProcessRunner(workers=1)),
                         options=ServiceOptions(horizon_days=0.5, tick_s=20.0, lookback_s=0.0,
                                                areas=frozenset(area_ids)), echo=lines.append)


def test_an_emergency_pre_empts_a_routine_patrol(isolated_data_dir: Path) -> None:
    from missions.types import DockStatus, MissionStatus, Priority
    from pipeline.service import request_patrol
    from storage.platform import database
    from storage.repositories import areas, docks, flights

    routine, dock, t0 = _one_dock_district("AR")
    with database().unit_of_work() as session:
        areas.upsert(session=session, area=replace(routine, id="AE", name="emergency"))
    lines: list[str] = []
    service = _service(t0, {"AR", "AE"}, lines)
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
    from missions.types import MissionStatus
    from storage.platform import database
    from storage.repositories import flights

    # five minutes of battery: scheduler and planner both split this survey into two sorties
    _, dock, t0 = _one_dock_district("AS", size_m=(200.0, 140.0), endurance_s=300.0, charge_s=120.0)
    lines: list[str] = []
    service = _service(t0, {"AS"}, lines)
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
