"""The patrol service killed with SIGKILL during a flight and during analysis, then restarted:
every raw photo stored and analysed, no duplicate findings, the flight's record says what happened."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

T0 = "2026-01-05T04:00:00+00:00"
DEADLINE_S = 240.0


def _seed(data_dir: Path) -> None:
    """One simulated dock and one small area over the twin's hotspot, patrolled daily from T0."""
    from datetime import datetime

    from api.demo_district import seed
    from dockpatrol.camera import CameraModel
    from missions.scheduler import PatrolSchedule
    from sim.demo import area_around, demo_world
    from storage.platform import database
    from storage.repositories import areas, docks, schedules

    world = demo_world()
    with database().unit_of_work() as session:
        district = seed(session)
    lon, lat = world.hotspots(limit=1)[0]
    demo = area_around(lon, lat, district, area_id="AK", size_m=(140.0, 100.0))
    area = replace(demo.area, gsd_cm=5.0)
    dock = replace(demo.dock, camera=CameraModel().scaled(1600))
    with database().unit_of_work() as session:
        for other in docks.list_all(session=session):  # only the test's dock flies
            if other.id != dock.id:
                docks.upsert(session=session, dock=replace(other, status="maintenance"))
        docks.upsert(session=session, dock=dock)
        areas.upsert(session=session, area=area)
        for s in schedules.list_all(session=session):
            schedules.upsert(session=session, schedule=replace(s, enabled=False))
        schedules.upsert(session=session, schedule=PatrolSchedule(
            id="S-AK", area_id="AK", rule="FREQ=DAILY", starts_at=datetime.fromisoformat(T0)))


def _service(data_dir: Path, start: str, until: str, speedup: float = 40.0) -> subprocess.Popen[str]:
    env = {**os.environ, "DOCKPATROL_DATA_DIR": str(data_dir), "PYTHONPATH": os.getcwd()}
    return subprocess.Popen([sys.executable, "-m", "api.cli", "run", "--clock", f"sim:{start}", "--speedup", str(speedup),
                             "--until", until, "--tick", "60"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _state() -> dict[str, object]:
    from sqlalchemy import select

    from storage.platform import database, object_store
    from storage.tables import FlightRow, FrameRow, JobRow, MissionRow

    with database().unit_of_work() as s:
        flight = s.scalars(select(FlightRow)).first()
        mission = s.scalars(select(MissionRow).where(MissionRow.area_id == "AK")).first()
        frames = Counter(f.status for f in s.scalars(select(FrameRow)))
        analysing = s.scalars(select(JobRow).where(JobRow.name == "frames.analyse", JobRow.status == "running")).all()
    raw = len(list(object_store().list(f"flights/{flight.id}/raw/"))) if flight else 0
    return {"flight": flight.status if flight else None, "mission": mission.status if mission else None,
            "frames": frames, "raw": raw, "analyse_running": len(analysing)}


def _wait_for(condition: Callable[[dict[str, object]], bool], proc: subprocess.Popen[str]) -> dict[str, object]:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"service exited early ({proc.returncode}): {proc.stdout.read()[-3000:]}")
        state = _state()
        if condition(state):
            return state
        time.sleep(0.05)  # polling a condition with a bounded deadline, not waiting for time to pass
    raise AssertionError(f"condition not reached in {DEADLINE_S} s: {_state()}")


#: when to kill, and the clock speed-up that makes the moment last (a slow flight; a fast one whose
#: photos are still being analysed after landing)
KILL_POINTS: dict[str, tuple[Callable[[dict[str, object]], bool], float]] = {
    "during the flight": (lambda st: st["flight"] == "flying" and st["raw"] >= 2, 8.0),
    "during analysis": (lambda st: st["mission"] == "analysing" and st["analyse_running"] > 0, 40.0),
}


@pytest.mark.parametrize("when", list(KILL_POINTS))
def test_sigkill_then_restart_loses_nothing_and_duplicates_nothing(when: str, isolated_data_dir: Path) -> None:
    from datetime import datetime

    from sqlalchemy import select

    from storage.platform import database, object_store
    from storage.tables import FindingRow, FlightRow, FrameRow, JobRow, MissionRow, TicketRow

    _seed(isolated_data_dir)
    until = (datetime.fromisoformat(T0) + timedelta(hours=1)).isoformat()
    condition, speedup = KILL_POINTS[when]
    first = _service(isolated_data_dir, T0, until, speedup)
    try:
        killed_at = _wait_for(condition, first)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == -signal.SIGKILL

    restart_at = (datetime.fromisoformat(T0) + timedelta(minutes=10)).isoformat()
    second = _service(isolated_data_dir, restart_at, until, speedup)
    out, _ = second.communicate(timeout=600)
    assert second.returncode == 0, out[-3000:]
    assert "recovery:" in out

    from storage import platform

    platform.reset()
    with database().unit_of_work() as s:
        (flight,) = s.scalars(select(FlightRow)).all()  # the restart did not fly the occurrence again
        mission = s.get(MissionRow, flight.mission_id)
        frames = s.scalars(select(FrameRow)).all()
        findings = s.scalars(select(FindingRow)).all()
        analyse_jobs = {j.kwargs["frame_id"]: j for j in s.scalars(select(JobRow).where(JobRow.name == "frames.analyse"))}
        unfinished = s.scalars(select(JobRow).where(JobRow.status.in_(["queued", "running"]))).all()
        tickets = s.scalars(select(TicketRow)).all()
        jobs_done = s.scalars(select(JobRow)).all()
    photos = sorted(p.name for p in Path(flight.summary["media_dir"]).glob("*.jpg"))
    raw = sorted(o.key.rsplit("/", 1)[-1] for o in object_store().list(f"flights/{flight.id}/raw/"))
    assert photos and raw == photos, (photos, raw)  # every photo on the card is stored raw
    assert len(frames) == len(photos) and {f.status for f in frames} == {"analysed"}
    assert not unfinished
    per_frame = Counter(f.frame_id for f in findings)
    for frame in frames:  # each frame's findings are exactly those its one analysis stored
        assert per_frame.get(frame.id, 0) == analyse_jobs[frame.id].result["findings"]
    boxes = Counter((f.frame_id, tuple(round(v, 1) for v in f.box_xyxy_px or ())) for f in findings)
    assert not [b for b, n in boxes.items() if n > 1]
    ticketed = {j.id for j in jobs_done if j.name == "tickets.open" and j.status == "succeeded"}
    assert f"tickets.open:{flight.id}" in ticketed  # the flight's objects went through intake after the restart
    # ...once each: no two tickets of one class at one place
    from shapely.geometry import shape

    from dockpatrol.geo import haversine_m

    places = [(t.class_name, shape(t.geometry).centroid) for t in tickets]
    twins = [(a, b) for i, a in enumerate(places) for b in places[i + 1:]
             if a[0] == b[0] and haversine_m(a[1].x, a[1].y, b[1].x, b[1].y) < 1.0]
    assert not twins
    if when == "during the flight":
        assert killed_at["flight"] == "flying"
        assert flight.status == "failed" and flight.result == "interrupted"
        assert "stopped during the flight" in flight.summary["interrupted"]
        assert mission.status == "failed" and "interrupted" in mission.reason
    else:
        assert killed_at["analyse_running"] and flight.status == "landed"
        assert mission.status == "completed", mission.reason
