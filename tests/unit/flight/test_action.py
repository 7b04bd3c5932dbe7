"""Action plugin against the simulator: ArduCopter's readiness quirks, refusals and COMMAND_ACK handling."""

from __future__ import annotations

from typing import Any

import pytest

from flight.action import ActionError, ActionResult
from flight.telemetry import FlightMode, LandedState
from flight.vehicle import Vehicle
from sim.vehicle import SimVehicle
from tests.unit.flight.helpers import run, sim_and_vehicle, sim_config


def test_arm_retries_through_prearm_failures_until_the_ekf_is_ready() -> None:
    async def scenario() -> Any:
        # as SITL: position modes from the EKF origin (2 s), arming only once it has a position estimate (6 s)
        async with SimVehicle(sim_config(origin_s=2.0, ekf_ready_s=6.0, speedup=5.0)) as sim:
            vehicle = await Vehicle.connect(sim.udp_url, timeout_s=3.0)
            try:
                with pytest.raises(ActionError) as early:
                    await vehicle.action.set_mode(FlightMode.GUIDED)
                await vehicle.telemetry.wait_for(lambda: vehicle.telemetry.home is not None, what="home",
                                                 vehicle_timeout_s=10.0)
                await vehicle.action.set_mode(FlightMode.GUIDED)
                refused_before = sim.model.ekf_ready
                await vehicle.action.arm(retry_vehicle_s=20.0)
                await vehicle.action.takeoff(10.0)
                await vehicle.telemetry.wait_for(lambda: vehicle.telemetry.landed_state == LandedState.IN_AIR,
                                                 what="climb", vehicle_timeout_s=30.0)
                texts = [t for _, t in sim.status_log]
                return early.value, refused_before, sim.model.armed, texts
            finally:
                await vehicle.close()

    early, refused_before, armed, texts = run(scenario())
    assert early.result == ActionResult.FAILED and "GUIDED" in early.call
    assert not refused_before and "Arm: Need Position Estimate" in texts
    assert armed


def test_arm_gives_up_with_the_prearm_reason() -> None:
    async def scenario() -> ActionError:
        async with sim_and_vehicle() as (sim, vehicle):
            await vehicle.telemetry.wait_for(lambda: vehicle.telemetry.home is not None, what="home",
                                             vehicle_timeout_s=10.0)
            sim.set_battery_remaining(10.0)
            await vehicle.action.set_mode(FlightMode.GUIDED)
            with pytest.raises(ActionError) as info:
                await vehicle.action.arm(retry_vehicle_s=3.0)
            return info.value

    error = run(scenario())
    assert error.result == ActionResult.FAILED and "PreArm: Battery 1 below minimum" in str(error)


def test_an_armed_copter_left_on_the_ground_disarms_by_itself() -> None:
    async def scenario() -> bool:
        async with sim_and_vehicle(sim_config(disarm_delay_s=3.0)) as (sim, vehicle):
            tel = vehicle.telemetry
            await tel.wait_for(lambda: tel.home is not None, what="home", vehicle_timeout_s=10.0)
            await vehicle.action.set_mode(FlightMode.GUIDED)
            await vehicle.action.arm()
            await tel.wait_for(lambda: tel.armed is True, what="armed", vehicle_timeout_s=5.0)
            await tel.wait_for(lambda: tel.armed is False, what="auto disarm", vehicle_timeout_s=10.0)
            return sim.model.armed

    assert run(scenario()) is False


def test_takeoff_is_refused_unless_armed_and_guided() -> None:
    async def scenario() -> ActionError:
        async with sim_and_vehicle() as (_, vehicle):
            await vehicle.telemetry.wait_for(lambda: vehicle.telemetry.home is not None, what="home",
                                             vehicle_timeout_s=10.0)
            with pytest.raises(ActionError) as info:
                await vehicle.action.takeoff(20.0)
            return info.value

    assert run(scenario()).result == ActionResult.FAILED


def test_unsupported_command_and_timeout_map_to_results() -> None:
    async def scenario() -> tuple[ActionResult, ActionResult]:
        async with sim_and_vehicle() as (sim, vehicle):
            unsupported = await vehicle.action.command(31010, (), call="user_1")
            vehicle.action.ack_timeout_s, vehicle.action.retries = 0.1, 1
            sim.cut_link()
            timed_out = await vehicle.action.command(400, (1,), call="arm")
            return unsupported, timed_out

    assert run(scenario()) == (ActionResult.UNSUPPORTED, ActionResult.TIMEOUT)


def test_invalid_takeoff_altitude_is_refused_before_sending() -> None:
    async def scenario() -> ActionError:
        async with sim_and_vehicle() as (_, vehicle):
            with pytest.raises(ActionError) as info:
                await vehicle.action.takeoff(-5.0)
            return info.value

    assert run(scenario()).result == ActionResult.INVALID_ARGUMENT


def test_mission_start_takes_off_from_the_ground_and_abort_lands_in_place() -> None:
    from flight.mission import mission_to_wire
    from tests.unit.flight.helpers import survey_plan

    async def scenario() -> Any:
        async with sim_and_vehicle() as (sim, vehicle):
            tel, action = vehicle.telemetry, vehicle.action
            await tel.wait_for(lambda: tel.home is not None, what="home", vehicle_timeout_s=10.0)
            await vehicle.mission.upload(mission_to_wire(survey_plan(lanes=1, length_m=100.0)))
            await action.set_mode(FlightMode.GUIDED)
            await action.arm()
            await action.start_mission()  # MISSION_START sets auto-armed: AUTO takes off by itself
            await tel.wait_for(lambda: tel.position is not None and tel.position.relative_altitude_m > 20.0,
                               what="climb", vehicle_timeout_s=60.0)
            mode_in_flight = tel.flight_mode
            await action.abort(land=True)
            await tel.wait_for(lambda: tel.armed is False, what="landed", vehicle_timeout_s=120.0)
            return mode_in_flight, sim.model.mode, sim.model.landed

    assert run(scenario()) == (FlightMode.AUTO, FlightMode.LAND, True)
