"""The patrol service's decisions without flying: clocks, launch refusals with their reasons, aborts,
an unreachable vehicle recorded offline."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from missions.scheduler import PatrolSchedule, TimetableEntry
from missions.types import Dock, DockStatus, MissionStatus, PatrolArea, Priority
from missions.weather import Weather
from pipeline.ledger import Ledger
from pipeline.runner import InlineRunner
from pipeline.service import (
    PatrolService,
    ServiceOptions,
    SimulatedClock,
    mission_id_for,
    request_abort,
    request_patrol,
)
from storage.platform import database
from storage.repositories import areas, docks, flights, schedules

T0 = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
SQUARE = {"type": "Polygon", "coordinates": [[[113.150, 23.030], [113.152, 23.030], [113.152, 23.0315],
                                              [113.150, 23.0315], [113.150, 23.030]]]}


@dataclass(frozen=True)
class Windy:
    wind_m_s: float

    def conditions(self, *, lon: float, lat: float, start: datetime, end: datetime) -> Weather:
        return Weather(wind_m_s=self.wind_m_s)


@pytest.fixture(autouse=True)
def _fresh_storage() -> None:
    from storage import platform

    platform.reset()


def _fleet(vehicle_url: str = "udp:127.0.0.1:9", status: DockStatus = DockStatus.READY) -> tuple[Dock, PatrolArea]:
    dock = Dock(id="D1", name="dock", lon=113.151, lat=23.031, vehicle_url=vehicle_url, status=status)
    area = PatrolArea(id="A1", name="area", polygon=SQUARE, scenarios=frozenset({"construction"}), gsd_cm=3.0)
    with database().unit_of_work() as session:
        docks.upsert(session=session, dock=dock)
        areas.upsert(session=session, area=area)
    return dock, area


def _service(**options: Any) -> PatrolService:
    return PatrolService(clock=SimulatedClock(T0, speedup=1000.0), ledger=Ledger(runner=InlineRunner()),
                         options=ServiceOptions(**options), echo=lambda _: None)


def _entry(mission_id: str = "S-A1@x") -> TimetableEntry:
    return TimetableEntry(mission_id, "A1", "D1", T0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=35),
                          Priority.ROUTINE, 1, 1, "test")


def _mission(mission_id: str) -> Any:
    with database().unit_of_work() as session:
        return flights.require_mission(session=session, mission_id=mission_id)


def test_a_simulated_clock_skips_idle_time_and_waits_sped_up_otherwise() -> None:
    clock = SimulatedClock(T0, speedup=1000.0)
    stop = threading.Event()
    clock.wait_until(T0 + timedelta(hours=3), stop, idle=True)
    assert clock.now() >= T0 + timedelta(hours=3)
    before = clock.now()
    clock.wait_until(before + timedelta(seconds=50), stop, idle=False)  # 50 ms of wall time
    assert clock.now() >= before + timedelta(seconds=50)


def test_mission_ids_of_scheduled_occurrences_are_stable() -> None:
    assert mission_id_for(_entry("S-A1@2026-01-05T04:00Z")) == mission_id_for(_entry("S-A1@2026-01-05T04:00Z"))
    assert mission_id_for(_entry("S-A1@2026-01-05T04:00Z")) != mission_id_for(_entry("S-A1@2026-01-06T04:00Z"))
    assert mission_id_for(_entry("M-adhoc1")) == "M-adhoc1"


@pytest.mark.parametrize(("status", "weather", "reason"), [
    (DockStatus.MAINTENANCE, 3.0, "dock D1 is maintenance"),
    (DockStatus.READY, 18.0, "weather at launch: wind 18"),
])
def test_a_patrol_that_cannot_launch_says_why(status: DockStatus, weather: float, reason: str) -> None:
    dock, area = _fleet(status=status)
    service = _service(weather=Windy(weather))
    service._launch(_entry(), "M-x", area, dock, T0)
    mission = _mission("M-x")
    assert mission.status is MissionStatus.SKIPPED and reason in mission.reason
    assert service.report.skipped == {"M-x": mission.reason} and not service.report.launched


def test_a_sim_dock_without_the_twin_is_skipped_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import vehicles

    monkeypatch.setattr(vehicles, "VEHICLE_PROVIDERS", {})
    monkeypatch.setattr("pipeline.service.VEHICLE_PROVIDERS", {})
    dock, area = _fleet(vehicle_url="sim:")
    _service()._launch(_entry(), "M-y", area, dock, T0)
    assert "needs the digital twin" in _mission("M-y").reason


def test_an_abort_before_launch_skips_the_request() -> None:
    _fleet()
    mission = request_patrol(area_id="A1", at=T0 + timedelta(hours=2), priority=Priority.EMERGENCY)
    request_abort(mission_id=mission.id, at=T0)
    _service().tick(T0)
    done = _mission(mission.id)
    assert done.status is MissionStatus.SKIPPED and "aborted by an operator" in done.reason


@pytest.mark.slow
def test_an_unreachable_vehicle_puts_its_dock_offline_and_the_mission_says_why() -> None:
    """A udp: dock whose autopilot never answers: the service keeps running, the record explains."""
    _fleet(vehicle_url="udpout:127.0.0.1:9")
    with database().unit_of_work() as session:
        schedules.upsert(session=session, schedule=PatrolSchedule(id="S-A1", area_id="A1", rule="FREQ=DAILY",
                                                                  starts_at=T0))
    service = _service()
    report = service.run(until=T0 + timedelta(minutes=1))
    (mission_id,) = report.launched
    mission = _mission(mission_id)
    assert mission.status is MissionStatus.FAILED and "could not fly" in mission.reason
    with database().unit_of_work() as session:
        status, reason, heartbeat = docks.status_of(session=session, dock_id="D1")
    assert status is DockStatus.OFFLINE and "did not answer" in reason and heartbeat is None
    assert mission_id in report.failed
