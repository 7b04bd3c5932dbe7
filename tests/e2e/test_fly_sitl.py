"""`dockpatrol plan` → `dockpatrol sim vehicle` (SITL profile) → `dockpatrol fly`, each a process, as issue 10
ran them against a real ArduCopter SITL: a construction survey reaching ~270 m from the dock at 66.7 m AGL.

The SITL profile has the defaults that broke the first real flight: a 150 m circle in FENCE_TYPE 7,
altitudes stored as truncated centimetres, no streams until asked, origin at ~19 s and arming at ~40 s.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
DOCK = (113.15, 23.03)
ROOT = Path(__file__).resolve().parents[2]


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "DOCKPATROL_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT), "COLUMNS": "160"}


def _cli(*args: str, env: dict[str, str], timeout_s: float = 300.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout_s, cwd=ROOT)


def _area(path: Path) -> Path:
    """A construction site 150–258 m east of the dock, 150 m north–south."""
    lon0, lat0 = DOCK

    def pt(north_m: float, east_m: float) -> list[float]:
        return [lon0 + east_m / (111320.0 * math.cos(math.radians(lat0))), lat0 + north_m / 110574.0]

    ring = [pt(-75, 150), pt(-75, 258), pt(75, 258), pt(75, 150), pt(-75, 150)]
    path.write_text(json.dumps({"type": "Feature", "properties": {"name": "construction site"},
                                "geometry": {"type": "Polygon", "coordinates": [ring]}}))
    return path


def test_fly_a_survey_beyond_sitls_default_circle_fence_on_the_sitl_profile(isolated_data_dir: Path,
                                                                            tmp_path: Path) -> None:
    env = _env(isolated_data_dir)
    plan_path = tmp_path / "plan.json"
    planned = _cli("plan", "--area", str(_area(tmp_path / "area.geojson")), "--dock", f"{DOCK[0]},{DOCK[1]}",
                   "-o", str(plan_path), "--scenario", "construction", env=env)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(plan_path.read_text())
    assert plan["altitude_m"] == pytest.approx(66.7, abs=0.05)

    sim = subprocess.Popen([sys.executable, "-m", "api.cli", "sim", "vehicle", "--port", "0", "--home",
                            f"{DOCK[0]},{DOCK[1]}", "--speedup", "20", "--no-render", "--profile", "sitl"],
                           env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert sim.stdout is not None
        line = sim.stdout.readline()
        match = re.search(r"tcp:127\.0\.0\.1:(\d+)", line)
        assert match, line
        flown = _cli("fly", "--vehicle", f"tcp:127.0.0.1:{match.group(1)}", "--plan", str(plan_path),
                     "--log-dir", str(tmp_path / "log"), env=env)
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=30)
    out = flown.stdout
    assert flown.returncode == 0, out + flown.stderr
    summary = next(s for s in out.splitlines() if s.startswith("adhoc: "))
    assert "completed" in summary and "landed 0.0 m from home" in summary, summary
    photos = int(re.search(r"(\d+) photos", summary).group(1))
    assert photos == plan["frame_count"], summary
    reach_m = float(re.search(r"up to (\d+) m from home at ([\d.]+) m", summary).group(1))
    assert 260.0 <= reach_m <= 285.0, summary  # well beyond the 150 m circle
    assert "fence: enabled alt_max+polygon (p2 = 5)" in out
    home_s = float(re.search(r"\[\s*([\d.]+)s\] home:", out).group(1))
    armed_s = float(re.search(r"\[\s*([\d.]+)s\] armed", out).group(1))
    assert home_s >= 19.0 and armed_s >= 40.0  # origin and position estimate as late as on SITL
