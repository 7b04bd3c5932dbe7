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
    env = {**os.environ, "DOCKPATROL_DATA_DIR": str(data_dir), "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "api.cli", "demo", *args], env=env, capture_output=True, text=True,
                          timeout=1200)


def test_demo_flies_a_patrol_end_to_end(isolated_data_dir: Path) -> None:
    first = _demo(isolated_data_dir)
    assert first.returncode == 0, first.stderr[-2000:]
    out = first.stdout
    assert "flight: D" in out and "completed" in out
    assert "report:" in out

    from storage.platform import database, object_store
    from storage.tables import FindingRow, FlightRow, FrameRow, MissionRow

    with database().unit_of_work() as s:
        flight = s.scalars(select(FlightRow)).one()
        mission = s.scalars(select(MissionRow)).one()
        frames = s.scalars(select(FrameRow)).all()
        findings = s.scalar(select(func.count()).select_from(FindingRow))
    assert mission.status == "completed" and mission.area_id == "A00"
    assert flight.status == "landed" and flight.summary["photos"] == len(frames) > 0
    assert {f.status for f in frames} == {"analysed"}
    raw = list(object_store().list(f"flights/{flight.id}/raw/"))
    assert len(raw) == len(frames)  # every photo stored raw before analysis
    assert findings > 0
    report = next((isolated_data_dir / "reports").glob("patrol-*.html")).read_text(encoding="utf-8")
    assert "巡查报告" in report and "data:image/jpeg;base64," in report and "<svg" in report
    assert "http://" not in report.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched online

    second = _demo(isolated_data_dir)
    assert second.returncode == 0 and "already flown" in second.stdout
    with database().unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(FlightRow)) == 1
