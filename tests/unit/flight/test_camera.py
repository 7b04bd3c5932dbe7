"""Camera plugin: commands and the merged capture stream (CAMERA_FEEDBACK and CAMERA_IMAGE_CAPTURED)."""

from __future__ import annotations

from typing import Any

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from flight.camera import capture_from_message
from flight.telemetry import FlightMode
from tests.unit.flight.helpers import run, sim_and_vehicle, sim_config

C = mavlink
ENC = C.MAVLink(None, srcSystem=1, srcComponent=1)


def test_capture_from_feedback_and_image_captured_agree() -> None:
    feedback = ENC.camera_feedback_encode(1_700_000_000_000_000, 0, 0, 5, 230_300_000, 1_131_500_000, 50.0, 40.0,
                                          1.0, -2.0, 270.0, 0.0, 0, 5)
    q = [0.7071068, 0.0, -0.7071068, 0.0]  # nadir (pitch -90°) camera, w x y z
    captured = ENC.camera_image_captured_encode(1000, 1_700_000_000_000_000, 1, 230_300_000, 1_131_500_000, 50_000,
                                                40_000, q, 4, 1, b"")
    a, b = capture_from_message(feedback), capture_from_message(captured)
    assert a is not None and b is not None
    assert a.index == b.index == 5
    assert (a.latitude_deg, a.longitude_deg) == (b.latitude_deg, b.longitude_deg) == (23.03, 113.15)
    assert a.relative_altitude_m == b.relative_altitude_m == 40.0
    assert b.pitch_deg == pytest.approx(-90.0, abs=1e-3)
    failed = ENC.camera_image_captured_encode(1000, 0, 1, 0, 0, 0, 0, q, 5, 0, b"")
    assert capture_from_message(failed) is None


def test_single_photos_and_interval_capture_on_the_ground() -> None:
    async def scenario() -> Any:
        async with sim_and_vehicle(sim_config(send_image_captured=True)) as (sim, vehicle):
            tel = vehicle.telemetry
            await tel.wait_for(lambda: tel.home is not None, what="home", vehicle_timeout_s=10.0)
            captures = vehicle.camera.captures()
            await vehicle.camera.take_photo()
            await vehicle.camera.take_photo()  # less than 0.1 s later in vehicle time: dropped, yet ACCEPTED
            first = await anext(captures)
            await tel.sleep_vehicle(0.5)  # clear of the 0.1 s minimum between triggers
            await vehicle.camera.start_photo_interval(1.0, count=3)
            later = [await anext(captures) for _ in range(3)]
            await captures.aclose()
            return first, later, len(sim.captures)

    first, later, taken = run(scenario())
    assert first.index == 1
    assert [c.index for c in later] == [2, 3, 4] and taken == 4


def test_trigger_distance_commanded_in_flight() -> None:
    async def scenario() -> Any:
        async with sim_and_vehicle() as (sim, vehicle):
            tel, action = vehicle.telemetry, vehicle.action
            await tel.wait_for(lambda: tel.home is not None, what="home", vehicle_timeout_s=10.0)
            await action.set_mode(FlightMode.GUIDED)
            await action.arm()
            await action.takeoff(30.0)
            await sim.wait_until(lambda s: s.model.altitude_above_home_m > 25.0, timeout_s=20.0)
            await vehicle.camera.set_trigger_distance(10.0)
            assert sim.model.guided_goto(*sim.model.ne_to_lonlat(100.0, 0.0), altitude_m=30.0)
            await sim.wait_until(lambda s: s.model.n_m > 99.0, timeout_s=20.0)
            await vehicle.camera.set_trigger_distance(0.0)
            return [c.pose for c in sim.captures]

    poses = run(scenario())
    assert 9 <= len(poses) <= 11
