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


def test_frame_writer_renders_each_capture_through_the_twin(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from dockpatrol.camera import CameraModel, GeoPose
    from sim.media import TwinCameraCard
    from sim.vehicle import CaptureRecord
    from sim.world import World

    world = World.generate(seed=3, center_lon=113.15, center_lat=23.03, size_m=300.0)
    writer = TwinCameraCard(world=world, camera=CameraModel().scaled(64), media_dir=tmp_path / "media", seed=3)
    at = datetime(2026, 1, 5, 3, tzinfo=UTC)
    for index in (1, 2):
        writer(CaptureRecord(index=index, captured_at=at, time_boot_s=10.0 * index,
                             pose=GeoPose(lon=113.15, lat=23.03 + 1e-4 * index, altitude_m=40.0),
                             altitude_amsl_m=50.0, vehicle_roll_deg=0.0, vehicle_pitch_deg=0.0))
    written = writer.close()
    files = sorted(p.name for p in (tmp_path / "media").iterdir())
    assert files == ["00001.jpg", "00002.jpg"] and [p.name for p in written] == files
    assert (tmp_path / "media" / "00001.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_sim_vehicle_command_serves_until_interrupted(tmp_path: Path) -> None:
    import asyncio
    import os
    import re
    import signal
    import sys

    from flight.vehicle import Vehicle

    async def scenario() -> tuple[int | None, int, str]:
        exe = os.path.join(os.path.dirname(sys.executable), "dockpatrol")
        proc = await asyncio.create_subprocess_exec(
            exe, "sim", "vehicle", "--port", "0", "--home", "113.15,23.03", "--speedup", "20", "--no-render",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30.0)).decode()
        port = int(re.search(r"tcp:127\.0\.0\.1:(\d+)", line).group(1))
        vehicle = await Vehicle.connect(f"tcp:127.0.0.1:{port}", timeout_s=5.0)
        sysid = vehicle.system_id
        await vehicle.close()
        proc.send_signal(signal.SIGINT)
        rest = (await asyncio.wait_for(proc.stdout.read(), 10.0)).decode()
        return sysid, await proc.wait(), line + rest

    sysid, code, output = asyncio.run(scenario())
    assert sysid == 1 and code == 0, output
    assert "simulated ArduCopter (system 1)" in output


def test_a_fixed_camera_card_renders_the_banked_view_and_records_only_position_and_heading(tmp_path: Path) -> None:
    import dataclasses
    from datetime import UTC, datetime

    from dockpatrol.camera import CameraModel, CameraMount, GeoPose, off_nadir_deg
    from sim.media import TwinCameraCard
    from sim.vehicle import CaptureRecord
    from sim.world import World
    from vision.ingest import ingest_bytes

    world = World.generate(seed=3, center_lon=113.15, center_lat=23.03, size_m=300.0)
    camera = dataclasses.replace(CameraModel().scaled(64), mount=CameraMount.FIXED)
    card = TwinCameraCard(world=world, camera=camera, media_dir=tmp_path / "media", seed=3)
    rec = CaptureRecord(index=1, captured_at=datetime(2026, 1, 5, 3, tzinfo=UTC), time_boot_s=10.0,
                        pose=GeoPose(lon=113.15, lat=23.03, altitude_m=66.7, yaw_deg=90.0),
                        altitude_amsl_m=76.7, vehicle_roll_deg=-17.0, vehicle_pitch_deg=0.0)
    seen = card.true_pose(rec)
    assert off_nadir_deg(seen.pitch_deg) == pytest.approx(17.0, abs=1e-6) and round(seen.yaw_deg) == 180
    card(rec)
    (path,) = card.close()
    meta = ingest_bytes(path.read_bytes(), source=path.name).meta
    assert meta.gimbal_pitch_deg == -90.0 and meta.gimbal_roll_deg == 0.0
    assert meta.gimbal_yaw_deg == pytest.approx(90.0, abs=3.0)
