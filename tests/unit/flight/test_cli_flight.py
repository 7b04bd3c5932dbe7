"""`dockpatrol fly` exit codes and messages, run in-process through api.cli.main."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from api.cli import main
from missions.planfile import write_plan
from tests.unit.flight.helpers import survey_plan


@pytest.fixture
def plan_path(tmp_path: Path) -> Path:
    path = tmp_path / "plan.json"
    write_plan(path, survey_plan(lanes=1, length_m=60.0, trigger_m=20.0))
    return path


def test_fly_on_the_in_process_simulator_exits_0_after_landing(plan_path: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fly", "--vehicle", "sim:", "--plan", str(plan_path), "--sim-speedup", "40",
                 "--log-dir", str(tmp_path / "log")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "completed" in out and "landed 0.0 m from home" in out
    assert (tmp_path / "log" / "track.geojson").is_file() and (tmp_path / "log" / "flight.tlog").stat().st_size > 0


def test_fly_refuses_a_url_outside_the_allow_list(plan_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fly", "--vehicle", "http://drone:80", "--plan", str(plan_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: vehicle URL 'http://drone:80': scheme 'http' is not one of")


def test_fly_reports_an_unreachable_vehicle(plan_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["fly", "--vehicle", f"udpout:127.0.0.1:{port}", "--plan", str(plan_path),
                 "--connect-timeout", "0.5"]) == 1
    assert "no heartbeat from a vehicle at udpout:127.0.0.1" in capsys.readouterr().err


def test_fly_exits_1_with_the_reason_when_the_flight_does_not_complete(
        plan_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fly", "--vehicle", "sim:", "--plan", str(plan_path), "--min-battery", "101",
                 "--log-dir", str(tmp_path / "log")])
    assert code == 1
    assert "PREFLIGHT_FAILED" in capsys.readouterr().err
