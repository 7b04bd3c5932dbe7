"""Mission plugin against the simulated ArduCopter over UDP: lossy uploads, verification, ACK codes, fences."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from flight.connection import MavConnection
from flight.mission import (
    MISSION_TYPE_FENCE,
    MissionError,
    MissionResult,
    UploadTuning,
    WireItem,
    fence_to_wire,
    mission_to_wire,
    verify_items,
)
from tests.unit.flight.helpers import run, sim_and_vehicle, sim_config, square_fence, survey_plan

C = mavlink


def _items(n: int, *, altitude_m: float = 30.0) -> list[WireItem]:
    home = WireItem(seq=0, command=C.MAV_CMD_NAV_WAYPOINT, frame=C.MAV_FRAME_GLOBAL)
    return [home] + [WireItem(seq=i, command=C.MAV_CMD_NAV_WAYPOINT, x=230_300_000 + 50 * i, y=1_131_500_000 - 20 * i,
                              z=altitude_m, params=(float(i % 3), 0.0, 0.0, 0.0)) for i in range(1, n)]


@pytest.mark.parametrize(("loss", "count"), [(0.0, 200), (0.1, 120), (0.3, 60)])
def test_upload_and_verify_survives_packet_loss(loss: float, count: int) -> None:
    items = _items(count)

    async def scenario() -> Any:
        async with sim_and_vehicle(sim_config(speedup=20.0)) as (sim, vehicle):
            sim.set_link(loss=loss)
            stats = await vehicle.mission.upload_and_verify(items)
            sim.set_link(loss=0.0)
            return stats, sim.uploads[-1], list(sim.model.mission)

    stats, record, stored = run(scenario())
    assert record.result == C.MAV_MISSION_ACCEPTED and record.count == count
    assert len(stored) == count and stored[7].altitude_m == pytest.approx(30.0)
    assert stats.items == count
    if loss == 0.0:
        assert stats.resends == 0 and stats.packets_sent == count + 1
    else:
        assert stats.resends > 0


def test_vehicle_requests_with_mission_request_int_are_answered_too() -> None:
    items = _items(20)

    async def scenario() -> Any:
        async with sim_and_vehicle() as (sim, vehicle):
            # a PX4-like vehicle asks with MISSION_REQUEST_INT (51) instead of MISSION_REQUEST (40)
            enc = sim.mission._mav
            enc.mission_request_encode = enc.mission_request_int_encode  # type: ignore[method-assign]
            await vehicle.mission.upload(items)
            return await vehicle.mission.download()

    assert verify_items(items, run(scenario()), mission_type=0) == []


def test_a_lost_final_ack_is_confirmed_by_counting() -> None:
    items = _items(15)

    async def scenario() -> Any:
        async with sim_and_vehicle() as (sim, vehicle):
            reply = sim.mission._reply
            dropped = []

            def drop_first_accept(peer: Any, msg: Any) -> None:
                if msg.get_type() == "MISSION_ACK" and msg.type == C.MAV_MISSION_ACCEPTED and not dropped:
                    dropped.append(msg)
                    return
                reply(peer, msg)

            sim.mission._reply = drop_first_accept
            stats = await vehicle.mission.upload(items)
            return stats, dropped, await vehicle.mission.count()

    stats, dropped, count = run(scenario())
    assert dropped and count == 15 and stats.items == 15


def test_an_abandoned_upload_leaves_a_mixed_mission_that_verification_catches() -> None:
    old, new = _items(40, altitude_m=30.0), _items(40, altitude_m=55.0)

    async def scenario() -> Any:
        config = sim_config(mission_timeout_wall_s=0.3, mission_retry_wall_s=0.1)
        async with sim_and_vehicle(config) as (sim, vehicle):
            await vehicle.mission.upload(old)
            # another run of the uploader dies after 10 items: the vehicle keeps what it got
            conn = vehicle.connection
            ts, tc = conn.target_system, conn.target_component
            conn.send(conn.mav.mission_count_encode(ts, tc, 40, 0))
            for it in new[:10]:
                conn.send(conn.mav.mission_item_int_encode(ts, tc, it.seq, it.frame, it.command, 0, 1, *it.params,
                                                           it.x, it.y, it.z, 0))
            await sim.wait_until(lambda s: s.uploads[-1].result == C.MAV_MISSION_OPERATION_CANCELLED, timeout_s=5.0)
            mixed = await vehicle.mission.download()
            fixed = await vehicle.mission.upload_and_verify(new)
            return mixed, fixed, await vehicle.mission.download()

    mixed, fixed, final = run(scenario())
    assert [it.z for it in mixed[1:12]] == [55.0] * 9 + [30.0, 30.0]
    problems = verify_items(new, mixed, mission_type=0)
    assert problems and "item 10: altitude 30" in problems[0]
    assert fixed.attempts == 1 and verify_items(new, final, mission_type=0) == []


def test_download_reports_home_at_seq0_in_amsl_and_relative_items_in_frame_3() -> None:
    plan = survey_plan()

    async def scenario() -> list[WireItem]:
        async with sim_and_vehicle(sim_config(home_alt_amsl_m=23.5)) as (_, vehicle):
            await vehicle.telemetry.wait_for(lambda: vehicle.telemetry.home is not None, what="home",
                                             vehicle_timeout_s=10.0)
            await vehicle.mission.upload(mission_to_wire(plan))
            return await vehicle.mission.download()

    got = run(scenario())
    assert got[0].frame == C.MAV_FRAME_GLOBAL and got[0].z == pytest.approx(23.5)
    assert got[0].x == round(plan.home_lat * 1e7)
    waypoints = [w for w in got if w.command == C.MAV_CMD_NAV_WAYPOINT][1:]
    assert waypoints and all(w.frame == C.MAV_FRAME_GLOBAL_RELATIVE_ALT for w in waypoints)
    assert verify_items(mission_to_wire(plan), got, mission_type=0) == []


def test_too_many_items_is_reported_with_a_split_hint() -> None:
    async def scenario() -> MissionError:
        async with sim_and_vehicle(sim_config(mission_capacity=30)) as (sim, vehicle):
            with pytest.raises(MissionError) as info:
                await vehicle.mission.upload(_items(31))
            assert "Only 30 items are supported" in [t for _, t in sim.status_log]
            return info.value

    error = run(scenario())
    assert error.result == MissionResult.TOO_MANY_ITEMS and "sorties" in str(error)


def test_busy_vehicle_is_denied_then_retried_once_the_other_upload_times_out() -> None:
    items = _items(10)
    fast = UploadTuning(busy_wait_s=0.3, attempts=4)

    async def scenario() -> Any:
        config = sim_config(mission_timeout_wall_s=0.5, mission_retry_wall_s=0.2)
        async with sim_and_vehicle(config) as (sim, vehicle):
            other = await MavConnection.open(sim.udp_url, source_system=254)
            try:
                await other.wait_heartbeat(3.0)
                other.send(other.mav.mission_count_encode(1, 1, 5, 0))  # starts an upload, then goes silent
                await sim.wait_until(lambda s: s.mission.receiving(), timeout_s=3.0)
                with pytest.raises(MissionError) as denied:
                    await vehicle.mission.upload(items, tuning=fast)
                stats = await vehicle.mission.upload_and_verify(items, tuning=fast)
            finally:
                await other.close()
            return denied.value, stats

    denied, stats = run(scenario())
    assert denied.result == MissionResult.DENIED and "another client" in str(denied)
    assert stats.attempts >= 2


def test_fence_round_trips_and_is_committed_as_a_whole() -> None:
    fence = fence_to_wire(square_fence(100.0) + square_fence(20.0, center_ne_m=(50.0, 0.0), inclusion=False,
                                                              polygon_index=1))

    async def scenario() -> Any:
        async with sim_and_vehicle() as (sim, vehicle):
            await vehicle.mission.upload_and_verify(fence, mission_type=MISSION_TYPE_FENCE)
            await vehicle.action.set_fence_enabled(True, types=4)
            return sim.model.fence, sim.model.fence_enabled, await vehicle.mission.count(MISSION_TYPE_FENCE)

    model_fence, enabled, count = run(scenario())
    assert enabled and count == 8
    assert len(model_fence.inclusions) == 1 and len(model_fence.exclusions) == 1
    assert model_fence.contains(0.0, 0.0) and not model_fence.contains(50.0, 0.0)


def test_clear_and_set_current() -> None:
    async def scenario() -> Any:
        async with sim_and_vehicle() as (sim, vehicle):
            await vehicle.mission.upload(_items(10))
            await vehicle.mission.set_current(4)
            current = sim.model.current_seq
            await vehicle.mission.clear()
            return current, await vehicle.mission.count()

    assert run(scenario()) == (4, 1)  # a cleared ArduPilot mission still holds home


@pytest.mark.parametrize(("change", "expect"), [
    ({"frame": C.MAV_FRAME_GLOBAL_RELATIVE_ALT}, None),
    ({"frame": C.MAV_FRAME_GLOBAL}, "frame"),
    ({"z": 31.0}, "altitude"),
    ({"x": 1}, "position"),
    ({"command": C.MAV_CMD_NAV_LOITER_UNLIM}, "command"),
    ({"params": (2.0, 0.0, 0.0, 0.0)}, "param1"),
    ({"params": (1.0, 9.0, 9.0, 9.0)}, None),  # params ArduPilot does not keep for NAV_WAYPOINT
])
def test_verify_items_compares_what_ardupilot_keeps(change: dict[str, Any], expect: str | None) -> None:
    expected = _items(3)
    actual = list(expected)
    fields = {**expected[1].__dict__, **change}
    actual[1] = WireItem(**fields)
    problems = verify_items(expected, actual, mission_type=0)
    if expect is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expect in problems[0]


def test_verify_items_reports_a_short_mission() -> None:
    assert verify_items(_items(5), _items(4), mission_type=0) == ["vehicle holds 4 items, expected 5"]


def test_upload_rejects_items_out_of_sequence() -> None:
    async def scenario() -> MissionError:
        async with sim_and_vehicle() as (_, vehicle):
            items = _items(4)
            with pytest.raises(MissionError) as info:
                await vehicle.mission.upload([items[0], items[2], items[1], items[3]])
            return info.value

    assert run(scenario()).result == MissionResult.INVALID_ARGUMENT


def test_uploads_to_several_vehicles_run_concurrently() -> None:
    items = _items(80)

    async def one(system_id: int) -> int:
        async with sim_and_vehicle(sim_config(system_id=system_id)) as (sim, vehicle):
            sim.set_link(loss=0.1)
            await vehicle.mission.upload_and_verify(items)
            return len(sim.model.mission)

    async def scenario() -> list[int]:
        return await asyncio.gather(*(one(i) for i in range(1, 5)))

    assert run(scenario()) == [80] * 4


def test_latency_adapts_the_resend_timer_instead_of_flooding_the_link() -> None:
    items = _items(30)

    async def scenario() -> Any:
        async with sim_and_vehicle() as (sim, vehicle):
            sim.set_link(latency_s=0.05)  # 100 ms round trip
            stats = await vehicle.mission.upload_and_verify(items)
            return stats, sim.uploads[-1]

    stats, record = run(scenario())
    assert record.result == C.MAV_MISSION_ACCEPTED and record.items_rejected == 0
    assert stats.resends == 0


@pytest.mark.parametrize(("sent_m", "back_m", "problem"), [
    (66.7, 66.68999481201172, None),  # ArduPilot: 6669 cm (truncated) sent back as 6669 × 0.01 in float32
    (66.7, 66.7, None),  # an autopilot that keeps the float
    (40.1, 40.09000015258789, None),
    (66.7, 66.65, "item 1: altitude 66.65 m, expected 66.7 m (stored as 6669 cm): -4 cm"),
    (66.7, 66.72, "item 1: altitude 66.72 m, expected 66.7 m (stored as 6669 cm): +3 cm"),
])
def test_verify_items_compares_altitudes_in_the_whole_centimetres_the_autopilot_stores(
        sent_m: float, back_m: float, problem: str | None) -> None:
    expected = _items(2)
    expected[1] = WireItem(**{**expected[1].__dict__, "z": sent_m})
    actual = list(expected)
    actual[1] = WireItem(**{**expected[1].__dict__, "z": back_m})
    assert verify_items(expected, actual, mission_type=0) == ([] if problem is None else [problem])


def test_verify_items_says_how_far_a_position_is_off() -> None:
    expected = _items(2)
    actual = list(expected)
    actual[1] = WireItem(**{**expected[1].__dict__, "x": expected[1].x + 90})  # 90e-7° of latitude ≈ 1 m
    (problem,) = verify_items(expected, actual, mission_type=0)
    assert problem.startswith("item 1: position") and "1.00 m off" in problem
