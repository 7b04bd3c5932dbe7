"""Telemetry plugin: state from messages, async iterators, waiting in vehicle time."""

from __future__ import annotations

from typing import Any

import pytest

from flight.telemetry import FlightMode, TelemetryError, TelemetryResult
from tests.unit.flight.helpers import HOME, run, sim_and_vehicle, sim_config


def test_state_and_iterators_follow_the_vehicle() -> None:
    async def scenario() -> Any:
        async with sim_and_vehicle(sim_config(home_alt_amsl_m=12.0)) as (_, vehicle):
            tel = vehicle.telemetry
            await tel.wait_for(lambda: tel.home is not None and tel.position is not None, what="home",
                               vehicle_timeout_s=10.0)
            positions = []
            async for pos in tel.positions():
                positions.append(pos)
                if len(positions) == 3:
                    break
            modes = tel.flight_modes()
            first_mode = await anext(modes)
            await vehicle.action.set_mode(FlightMode.GUIDED)
            second_mode = await anext(modes)
            await modes.aclose()
            battery = await anext(tel.batteries())
            return tel, positions, first_mode, second_mode, battery

    tel, positions, first_mode, second_mode, battery = run(scenario())
    assert tel.home.latitude_deg == pytest.approx(HOME[1]) and tel.home.absolute_altitude_m == pytest.approx(12.0)
    assert all(p.relative_altitude_m == pytest.approx(0.0, abs=0.01) for p in positions)
    assert positions[0].vehicle_time_s < positions[2].vehicle_time_s
    assert (first_mode, second_mode) == (FlightMode.STABILIZE, FlightMode.GUIDED)
    assert battery.remaining_percent == pytest.approx(100.0, abs=1.0) and battery.voltage_v > 20.0
    assert tel.gps.fix_type == 3 and tel.autopilot_ready and tel.prearm_ok
    assert tel.armed is False and tel.on_ground is True


def test_wait_for_times_out_in_vehicle_seconds_and_reports_link_silence() -> None:
    async def scenario() -> tuple[TelemetryError, TelemetryError, float]:
        async with sim_and_vehicle(sim_config(speedup=50.0), link_timeout_s=0.3) as (sim, vehicle):
            tel = vehicle.telemetry
            await tel.wait_for(lambda: tel.vehicle_time_s is not None, what="clock", vehicle_timeout_s=5.0)
            start = tel.vehicle_time_s
            with pytest.raises(TelemetryError) as slow:
                await tel.wait_for(lambda: False, what="never", vehicle_timeout_s=20.0)
            elapsed = tel.vehicle_time_s - start
            sim.cut_link()
            with pytest.raises(TelemetryError) as silent:
                await tel.wait_for(lambda: False, what="never", vehicle_timeout_s=1000.0)
            return slow.value, silent.value, elapsed

    slow, silent, elapsed = run(scenario())
    assert slow.result == TelemetryResult.TIMEOUT and 20.0 <= elapsed < 30.0
    assert silent.result == TelemetryResult.NO_LINK and "nothing heard" in str(silent)


def test_status_texts_include_the_boot_messages() -> None:
    async def scenario() -> list[str]:
        async with sim_and_vehicle(sim_config(speedup=5.0)) as (_, vehicle):
            tel = vehicle.telemetry
            await tel.wait_for(lambda: tel.home is not None, what="home", vehicle_timeout_s=10.0)
            return tel.recent_texts()

    texts = run(scenario())
    assert "ArduPilot Ready" in texts and any(t.startswith("PreArm:") for t in texts)
