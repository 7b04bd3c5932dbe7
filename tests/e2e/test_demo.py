"""`dockpatrol demo` as a newcomer runs it: seed, fly, store, detect, report; the second run is instant."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

pytestmark = pytest.mark.slow


def _demo(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # faulthandler: a native crash (one SIGFPE seen, with nothing on stderr) leaves its Python stack behind.
    env = {**os.environ, "DOCKPATROL_DATA_DIR": str(data_dir), "COLUMNS": "160", "PYTHONFAULTHANDLER": "1"}
    return subprocess.run([sys.executable, "-m", "api.cli", "demo", *args], env=env, capture_output=True, text=True,
                          timeout=1200)


def _failure(done: subprocess.CompletedProcess[str]) -> str:
    """What to show of a failed run: for a native crash, the faulting thread's stack ("Current thread")."""
    crash = done.stderr.find("Fatal Python error")
    if crash < 0:
        return done.stderr[-2000:]
    current = done.stderr.find("Current thread", crash)
    return done.stderr[crash:crash + 200] + "\n" + done.stderr[max(crash, current):][:4000]


def test_demo_runs_a_patrol_day_on_several_docks(isolated_data_dir: Path) -> None:
    first = _demo(isolated_data_dir, "--quick")
    assert first.returncode == 0, _failure(first)
    out = first.stdout
    assert "docks fly at once" in out and "flight: D" in out and "completed" in out
    assert "precision" in out and "recall" in out and "georeference error" in out
    assert "ticket events received" in out and "verification patrols:" in out and "capture→ticket latency" in out
    assert "report:" in out
    assert "previous epoch" in out and "Changes against the previous epoch" in out

    from storage.platform import database, object_store
    from storage.tables import (
        ChangeEventRow,
        FindingRow,
        FlightRow,
        FrameRow,
        MissionRow,
        OutboxRow,
        ReviewItemRow,
        TicketRow,
    )

    with database().unit_of_work() as s:
        flights = s.scalars(select(FlightRow)).all()
        missions = s.scalars(select(MissionRow)).all()
        frames = s.scalars(select(FrameRow)).all()
        findings = s.scalar(select(func.count()).select_from(FindingRow))
        tickets = s.scalars(select(TicketRow)).all()
        changes = s.scalars(select(ChangeEventRow)).all()
        change_reviews = s.scalars(select(ReviewItemRow).where(ReviewItemRow.kind == "change")).all()
        undelivered = s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.status != "delivered"))
    routine = sorted((m for m in missions if not m.area_id.startswith("R-")), key=lambda m: m.scheduled_for)
    verifications = [m for m in missions if m.area_id.startswith("R-")]
    earlier, day_one = routine[:2], routine[2:]  # the previous epoch's patrols of the same areas, then the day's
    assert len(day_one) == 2 and "A00" in {m.area_id for m in day_one}
    assert {m.area_id for m in earlier} == {m.area_id for m in day_one}
    assert max(m.scheduled_for for m in earlier) < min(m.scheduled_for for m in day_one)
    assert verifications and {m.status for m in missions} == {"completed"}
    assert len({m.dock_id for m in day_one}) == 2  # two docks flew at once
    assert tickets and undelivered == 0  # every ticket event reached the webhook receiver
    assert {t.status for t in tickets} & {"closed", "reopened"}  # the verification patrols decided
    assert {f.status for f in flights} == {"landed"}
    assert sum(f.summary["photos"] for f in flights) == len(frames) > 0
    assert {f.status for f in frames} == {"analysed"}
    for flight in flights:  # every photo stored raw before analysis
        raw = list(object_store().list(f"flights/{flight.id}/raw/"))
        assert len(raw) == sum(1 for f in frames if f.flight_id == flight.id)
    assert findings > 0
    # the day's patrols were compared with the previous epoch's through reconcile: changes, each queued for review
    day_flights = {f.id for f in flights if f.mission_id in {m.id for m in day_one}}
    assert changes and {c.after_flight_id for c in changes} <= day_flights
    assert {c.area_id for c in changes} <= {m.area_id for m in day_one}
    assert {r.candidate_key for r in change_reviews} == {c.id for c in changes}
    assert any(c.before_key and c.after_key for c in changes)
    report = next((isolated_data_dir / "reports").glob("patrol-day-*.html")).read_text(encoding="utf-8")
    assert "巡查日报" in report and "data:image/jpeg;base64," in report and "<svg" in report
    assert "Changes since the previous patrol" in report and 'alt="before"' in report and 'alt="after"' in report
    assert "http://" not in report.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched online

    second = _demo(isolated_data_dir, "--quick")
    assert second.returncode == 0 and "report:" in second.stdout, _failure(second)
    assert "launching" not in second.stdout  # the day was flown: nothing flies again
    with database().unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(FlightRow)) == len(flights)
        assert s.scalar(select(func.count()).select_from(FindingRow)) == findings
        assert s.scalar(select(func.count()).select_from(TicketRow)) == len(tickets)  # no duplicate tickets
        assert s.scalar(select(func.count()).select_from(ChangeEventRow)) == len(changes)
        assert s.scalar(select(func.count()).select_from(ReviewItemRow)
                        .where(ReviewItemRow.kind == "change")) == len(change_reviews)
