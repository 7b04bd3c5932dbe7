"""The simulated ArduCopter: model behaviour stepped directly, and the MAVLink side checked with clients that
are not ours (pymavlink's mavutil/mavwp, MAVProxy) so conformance is not judged by flight/'s own code."""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymavlink import mavutil, mavwp
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sim.vehicle import SimVehicle
from sim.vehicle_model import (
    CopterMode,
    CopterModel,
    ItemReached,
    LandedState,
    SimVehicleConfig,
    StatusText,
    StoredItem,
)

C = mavlink
HOME = (113.15, 23.03)


def _config(**overrides: Any) -> SimVehicleConfig:
    base: dict[str, Any] = {"home_lon": HOME[0], "home_lat": HOME[1], "speedup": 40.0}
    base.update(overrides)
    return SimVehicleConfig(**base)


# ---- the model, stepped directly --------------------------------------------------------------------------


def _ready_model(**overrides: Any) -> CopterModel:
    model = CopterModel(_config(**overrides))
    _run(model, 5.0)
    return model


def _run(model: CopterModel, seconds: float, *, until: Callable[[CopterModel], bool] | None = None) -> list[Any]:
    events: list[Any] = []
    end = model.time_s + seconds
    while model.time_s < end:
        model.step(0.05)
        events += model.drain_events()
        if until is not None and until(model):
            break
    return events


def _item(command: int, n_m: float = 0.0, e_m: float = 0.0, alt_m: float = 0.0, *, model: CopterModel,
          params: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)) -> StoredItem:
    lon, lat = model.ne_to_lonlat(n_m, e_m) if (n_m or e_m) else (0.0, 0.0)
    return StoredItem(command, C.MAV_FRAME_GLOBAL_RELATIVE_ALT, params, round(lat * 1e7), round(lon * 1e7), alt_m)


def _texts(events: list[Any]) -> list[str]:
    return [e.text for e in events if isinstance(e, StatusText)]


def test_boot_reports_ready_then_origin_then_arming_once_the_ekf_has_a_position() -> None:
    model = CopterModel(_config(origin_s=3.0, ekf_ready_s=4.0))
    texts = _texts(_run(model, 2.9))
    assert texts[0] == "ArduPilot Ready" and "PreArm: Need 3D Fix" in texts
    assert not model.set_mode(CopterMode.GUIDED)
    assert model.arm() == (False, "PreArm: Need Position Estimate")
    texts = _texts(_run(model, 0.3))
    # origin set: position modes are accepted, but arming still waits for the position estimate
    assert "EKF3 IMU0 origin set" in texts and model.home_set and not model.ekf_ready
    assert model.set_mode(CopterMode.GUIDED) and model.arm() == (False, "Arm: Need Position Estimate")
    texts = _texts(_run(model, 1.0))
    assert "EKF3 IMU0 is using GPS" in texts and model.ekf_ready
    assert model.arm() == (True, None)


def test_sitl_profile_has_measured_timings_and_a_150_m_circle() -> None:
    sitl = SimVehicleConfig.sitl(home_lon=HOME[0], home_lat=HOME[1])
    assert (sitl.origin_s, sitl.ekf_ready_s, sitl.boot_on_first_client) == (19.0, 40.0, True)
    assert sitl.params["FENCE_RADIUS"] == 150.0 and _config().params["FENCE_RADIUS"] == 300.0
    assert sitl.params["FENCE_TYPE"] == 7 and sitl.params["FENCE_ALT_MAX"] == 100.0
    model = CopterModel(sitl)
    _run(model, 18.5)
    assert not model.origin_set
    _run(model, 1.0)
    assert model.origin_set and not model.ekf_ready
    _run(model, 21.0)
    assert model.ekf_ready


@pytest.mark.parametrize(("z", "stored"), [(66.7, 66.69), (30.0, 30.0), (20.05, 20.04), (40.1, 40.09), (-1.5, -1.5)])
def test_altitudes_are_stored_as_truncated_whole_centimetres_of_the_float32(z: float, stored: float) -> None:
    from sim.vehicle_model import stored_altitude_m

    wire = struct.unpack("<f", struct.pack("<f", z))[0]  # what a MISSION_ITEM_INT carries
    assert stored_altitude_m(wire) == pytest.approx(stored, abs=1e-9)


def test_item_reached_merges_items_finished_in_one_loop_and_skips_camera_items() -> None:
    m = _ready_model()
    m.mission = [m.mission[0],
                 _item(C.MAV_CMD_NAV_TAKEOFF, alt_m=30.0, model=m),
                 _item(C.MAV_CMD_DO_CHANGE_SPEED, params=(1.0, 8.0, -1.0, 0.0), model=m),
                 _item(C.MAV_CMD_NAV_WAYPOINT, 60.0, 0.0, 30.0, model=m),
                 _item(C.MAV_CMD_DO_SET_CAM_TRIGG_DIST, params=(10.0, 0.0, 1.0, 0.0), model=m),
                 _item(C.MAV_CMD_NAV_WAYPOINT, 60.0, 60.0, 30.0, model=m),
                 _item(C.MAV_CMD_DO_SET_CAM_TRIGG_DIST, model=m),
                 _item(C.MAV_CMD_NAV_RETURN_TO_LAUNCH, model=m)]
    m.mission_changed()
    assert m.set_mode(CopterMode.GUIDED) and m.arm()[0] and m.takeoff(30.0) and m.set_mode(CopterMode.AUTO)
    events = _run(m, 600.0, until=lambda x: not x.armed)
    reached = [e.seq for e in events if isinstance(e, ItemReached)]
    # the takeoff finishes in the same loop as the speed change (reported instead); camera items never are;
    # RTL is reported only once the copter is down
    assert reached == [2, 3, 5, 7]
    rtl_at = next(i for i, e in enumerate(events) if isinstance(e, ItemReached) and e.seq == 7)
    assert not any(isinstance(e, ItemReached) for e in events[rtl_at + 1:]) and m.landed
    assert m.image_index > 0


def test_arming_in_auto_is_refused_and_an_idle_armed_copter_disarms() -> None:
    model = _ready_model(disarm_delay_s=10.0)
    model.mission = [model.mission[0], _item(C.MAV_CMD_NAV_TAKEOFF, alt_m=10.0, model=model)]
    assert model.set_mode(CopterMode.AUTO)
    assert model.arm() == (False, "Arm: Mode not armable")
    assert model.set_mode(CopterMode.GUIDED) and model.arm()[0]
    _run(model, 9.5)
    assert model.armed
    _run(model, 1.0)
    assert not model.armed


def test_auto_on_the_ground_needs_a_takeoff_item_first() -> None:
    model = _ready_model()
    model.mission = [model.mission[0], _item(C.MAV_CMD_NAV_WAYPOINT, 50.0, 0.0, 20.0, model=model)]
    model.set_mode(CopterMode.GUIDED)
    model.arm()
    assert not model.set_mode(CopterMode.AUTO)
    assert "Auto: Missing Takeoff Cmd" in _texts(model.drain_events())


def test_mission_flies_reports_nav_items_runs_do_items_on_arrival_and_lands_home() -> None:
    model = _ready_model()
    m = model
    m.mission = [m.mission[0],
                 _item(C.MAV_CMD_NAV_TAKEOFF, alt_m=30.0, model=m),
                 _item(C.MAV_CMD_NAV_WAYPOINT, 100.0, 0.0, 30.0, model=m),
                 _item(C.MAV_CMD_DO_SET_CAM_TRIGG_DIST, params=(10.0, 0.0, 0.0, 0.0), model=m),
                 _item(C.MAV_CMD_NAV_WAYPOINT, 100.0, 100.0, 30.0, model=m),
                 _item(C.MAV_CMD_DO_SET_CAM_TRIGG_DIST, params=(0.0, 0.0, 0.0, 0.0), model=m),
                 _item(C.MAV_CMD_NAV_RETURN_TO_LAUNCH, model=m)]
    m.mission_changed()
    assert m.set_mode(CopterMode.GUIDED) and m.arm()[0] and m.takeoff(30.0)
    assert m.set_mode(CopterMode.AUTO)
    events = _run(m, 400.0, until=lambda x: not x.armed)
    reached = [e.seq for e in events if isinstance(e, ItemReached)]
    assert reached == [1, 2, 4, 6]  # navigation items; the camera items are never reported
    captures = [e for e in events if type(e).__name__ == "CaptureRecord"]
    # the camera runs from waypoint 2 to waypoint 4: one photo every 10 m of the 100 m leg
    assert 9 <= len(captures) <= 10
    assert all(abs(m.lonlat_to_ne(c.pose.lon, c.pose.lat)[0] - 100.0) < 2.0 for c in captures)
    assert not m.armed and m.landed and math.hypot(m.n_m, m.e_m) < 1.0
    assert m.mission_state == 5 and m.landed_state == LandedState.ON_GROUND


def test_after_the_last_waypoint_a_copter_hovers_in_auto() -> None:
    m = _ready_model()
    m.mission = [m.mission[0], _item(C.MAV_CMD_NAV_TAKEOFF, alt_m=20.0, model=m),
                 _item(C.MAV_CMD_NAV_WAYPOINT, 40.0, 0.0, 20.0, model=m)]
    m.set_mode(CopterMode.GUIDED)
    m.arm()
    m.takeoff(20.0)
    m.set_mode(CopterMode.AUTO)
    _run(m, 200.0)
    assert m.armed and m.mode == CopterMode.AUTO and m.altitude_above_home_m == pytest.approx(20.0, abs=0.5)
    assert m.n_m == pytest.approx(40.0, abs=2.5)


def _airborne(**overrides: Any) -> CopterModel:
    m = _ready_model(**overrides)
    m.set_mode(CopterMode.GUIDED)
    m.arm()
    m.takeoff(30.0)
    _run(m, 30.0)
    assert m.altitude_above_home_m > 28.0
    return m


@pytest.mark.parametrize(("fault", "mode", "text"), [
    (lambda m: m.gcs_lost(), CopterMode.RTL, "GCS Failsafe"),
    (lambda m: m.set_battery_remaining(15.0), CopterMode.RTL, "Battery 1 is low"),
    (lambda m: m.set_battery_remaining(5.0), CopterMode.LAND, "Battery 1 is critical"),
])
def test_failsafes_take_the_copter_home_or_down(fault: Callable[[CopterModel], None], mode: CopterMode,
                                                text: str) -> None:
    m = _airborne()
    m.guided_goto(*m.ne_to_lonlat(200.0, 0.0), altitude_m=30.0)
    _run(m, 10.0)
    fault(m)
    events = _run(m, 1.0)
    assert m.mode == mode and any(t.startswith(text) for t in _texts(events))
    _run(m, 300.0, until=lambda x: not x.armed)
    assert not m.armed and m.landed
    if mode == CopterMode.RTL:
        assert math.hypot(m.n_m, m.e_m) < 1.0


def test_fence_breach_triggers_rtl_only_when_the_fence_is_enabled() -> None:
    m = _airborne()
    lat_lon = [m.ne_to_lonlat(n, e) for n, e in [(-50, -50), (50, -50), (50, 50), (-50, 50)]]
    m.set_fence([StoredItem(C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, C.MAV_FRAME_GLOBAL, (4.0, 0, 0, 0),
                            round(lat * 1e7), round(lon * 1e7), 0.0) for lon, lat in lat_lon])
    m.guided_goto(*m.ne_to_lonlat(120.0, 0.0), altitude_m=30.0)
    _run(m, 20.0)
    assert m.mode == CopterMode.GUIDED  # FENCE_ENABLE is off until DO_FENCE_ENABLE
    m.enable_fence(True, 4)
    events = _run(m, 1.0)
    assert m.mode == CopterMode.RTL and "Polygon fence breached" in _texts(events)


@pytest.mark.parametrize(("p2", "radius_m", "breached"), [(0, 150.0, "Circle"), (4 | 1, 150.0, None),
                                                         (0, 300.0, None)])
def test_fence_enable_with_p2_0_turns_on_every_fence_type_including_the_default_circle(
        p2: int, radius_m: float, breached: str | None) -> None:
    m = _airborne(params={**_config().params, "FENCE_RADIUS": radius_m})
    m.enable_fence(True, p2)
    m.guided_goto(*m.ne_to_lonlat(200.0, 0.0), altitude_m=30.0)
    events = _run(m, 40.0)
    texts = [t for t in _texts(events) if "fence" in t]
    if breached is None:
        assert texts == [] and m.mode == CopterMode.GUIDED
    else:
        assert texts == [f"{breached} fence breached"] and m.mode == CopterMode.RTL


def test_max_altitude_fence_follows_fence_alt_max() -> None:
    m = _airborne()
    m.set_param("FENCE_ALT_MAX", 40.0)
    assert m.set_param("FENCE_ENABLE", 1.0) and not m.set_param("NO_SUCH_PARAM", 1.0)
    m.guided_goto(*m.ne_to_lonlat(0.0, 0.0), altitude_m=60.0)
    events = _run(m, 30.0)
    assert "Max altitude fence breached" in _texts(events) and m.mode == CopterMode.RTL


def test_wind_tilts_the_copter_into_it_and_costs_current() -> None:
    calm = _airborne()
    windy = _airborne(wind_north_m_s=8.0)
    _run(calm, 5.0)
    _run(windy, 5.0)
    # hovering with wind from the south-to-north: lean south (yaw 0 → nose up = positive pitch)
    assert windy.pitch_deg > 5.0 and abs(calm.pitch_deg) < 0.5
    assert windy.current_a > calm.current_a


def test_camera_triggers_closer_than_0_1_s_are_dropped() -> None:
    m = _ready_model()
    assert m.take_picture()
    m.step(0.05)
    assert not m.take_picture()
    m.step(0.1)
    assert m.take_picture() and m.image_index == 2


def test_camera_commands_before_boot_are_accepted_but_do_nothing() -> None:
    m = CopterModel(_config(boot_s=1.0))
    m.set_trigger_distance(10.0, trigger_now=True)
    assert m.trigger_distance_m == 0.0 and m.image_index == 0


# ---- MAVLink with pymavlink's own client ------------------------------------------------------------------------


def _with_client(config: SimVehicleConfig, client: Callable[[SimVehicle, Any], Any], *, tcp: bool = False,
                 timeout_s: float = 40.0) -> Any:
    """Run a blocking pymavlink client (in a thread) against a simulator running in the event loop."""
    async def main() -> Any:
        sim = SimVehicle(config)
        await sim.start(udp_port=None if tcp else 0, tcp_port=0 if tcp else None)
        url = f"tcp:127.0.0.1:{sim.tcp_port}" if tcp else f"udpout:127.0.0.1:{sim.udp_port}"
        master = mavutil.mavlink_connection(url, source_system=255, source_component=190)
        try:
            master.mav.heartbeat_send(C.MAV_TYPE_GCS, C.MAV_AUTOPILOT_INVALID, 0, 0, 0)
            return await asyncio.wait_for(asyncio.to_thread(client, sim, master), timeout_s)
        finally:
            master.close()
            await sim.stop()
    return asyncio.run(main())


def _ask_streams(sim: SimVehicle, master: Any, *, hz: int = 4, timeout_s: float = 5.0) -> None:
    """Wait for boot, then ask for every data stream: ArduPilot streams nothing else until a client asks."""
    waited = 0.0
    while not sim.model.booted:
        master.recv_match(blocking=True, timeout=0.05)
        waited += 0.05
        if waited > timeout_s:
            raise AssertionError(f"the vehicle did not boot within {timeout_s} s")
    master.mav.request_data_stream_send(1, 1, C.MAV_DATA_STREAM_ALL, hz, 1)


def _wait_home(master: Any, timeout_s: float = 10.0) -> Any:
    """HOME_POSITION once the origin is set (it is not streamed: ask for it)."""
    for _ in range(int(timeout_s / 0.5)):
        master.mav.command_long_send(1, 1, C.MAV_CMD_REQUEST_MESSAGE, 0, C.MAVLINK_MSG_ID_HOME_POSITION,
                                     0, 0, 0, 0, 0, 0)
        msg = master.recv_match(type=["HOME_POSITION"], blocking=True, timeout=0.5)
        if msg is not None:
            return msg
    raise AssertionError(f"no HOME_POSITION within {timeout_s} s")


def _recv(master: Any, types: list[str], timeout_s: float = 5.0, *, where: Callable[[Any], bool] | None = None) -> Any:
    end = timeout_s
    while end > 0:
        msg = master.recv_match(type=types, blocking=True, timeout=min(end, 1.0))
        end -= 1.0
        if msg is not None and (where is None or where(msg)):
            return msg
    raise AssertionError(f"no {types} within {timeout_s} s")


def _item_int(master: Any, seq: int, alt_m: float = 30.0, *, command: int = C.MAV_CMD_NAV_WAYPOINT) -> None:
    master.mav.mission_item_int_send(1, 1, seq, C.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, command, 0, 1, 0, 0, 0, 0,
                                     230_300_000 + 100 * seq, 1_131_500_000, alt_m)


def test_upload_asks_with_mission_request_40_ignores_duplicates_and_acks() -> None:
    def client(sim: SimVehicle, master: Any) -> list[Any]:
        master.mav.mission_count_send(1, 1, 4)
        seen = []
        for seq in range(4):
            req = _recv(master, ["MISSION_REQUEST", "MISSION_REQUEST_INT"])
            seen.append(req)
            _item_int(master, req.seq)
            if seq == 1:
                _item_int(master, 1)  # a duplicate: ACK 13, the upload goes on
                assert _recv(master, ["MISSION_ACK"]).type == C.MAV_MISSION_INVALID_SEQUENCE
        seen.append(_recv(master, ["MISSION_ACK"]))
        _item_int(master, 3)  # after the upload finished
        seen.append(_recv(master, ["MISSION_ACK"]))
        return seen

    seen = _with_client(_config(), client)
    assert [m.get_type() for m in seen[:4]] == ["MISSION_REQUEST"] * 4
    assert [m.seq for m in seen[:4]] == [0, 1, 2, 3]
    assert seen[4].type == C.MAV_MISSION_ACCEPTED and seen[5].type == C.MAV_MISSION_ERROR


def test_unanswered_requests_repeat_then_the_upload_is_cancelled_leaving_old_items() -> None:
    config = _config(mission_retry_wall_s=0.2, mission_timeout_wall_s=1.0)

    def client(sim: SimVehicle, master: Any) -> Any:
        master.mav.mission_count_send(1, 1, 6)
        for seq in range(6):
            _recv(master, ["MISSION_REQUEST"], where=lambda m, s=seq: m.seq == s)
            _item_int(master, seq, alt_m=30.0)
        _recv(master, ["MISSION_ACK"])
        master.mav.mission_count_send(1, 1, 6)
        for seq in range(3):
            _recv(master, ["MISSION_REQUEST"], where=lambda m, s=seq: m.seq == s)
            _item_int(master, seq, alt_m=55.0)
        repeats = 0
        while True:
            msg = _recv(master, ["MISSION_REQUEST", "MISSION_ACK"])
            if msg.get_type() == "MISSION_ACK":
                break
            assert msg.seq == 3
            repeats += 1
        return repeats, msg.type, [it.altitude_m for it in sim.model.mission]

    repeats, ack, altitudes = _with_client(config, client)
    assert 3 <= repeats <= 5  # every 0.2 s until 1 s after the last accepted item
    assert ack == C.MAV_MISSION_OPERATION_CANCELLED
    assert altitudes[1:] == [55.0, 55.0, 30.0, 30.0, 30.0]  # not atomic: new 1..2, old 3..5


def test_another_sender_and_downloads_are_denied_during_an_upload() -> None:
    def client(sim: SimVehicle, master: Any) -> list[int]:
        master.mav.mission_count_send(1, 1, 3)
        _recv(master, ["MISSION_REQUEST"])
        other = mavutil.mavlink_connection(f"udpout:127.0.0.1:{sim.udp_port}", source_system=254)
        try:
            other.mav.mission_count_send(1, 1, 2)
            denied_count = _recv(other, ["MISSION_ACK"]).type
            other.mav.mission_request_list_send(1, 1)
            denied_list = _recv(other, ["MISSION_ACK"]).type
        finally:
            other.close()
        master.mav.mission_count_send(1, 1, 3)  # the same client restarts at seq 0
        restart = _recv(master, ["MISSION_REQUEST"], where=lambda m: m.seq == 0).seq
        return [denied_count, denied_list, restart]

    assert _with_client(_config(), client) == [C.MAV_MISSION_DENIED, C.MAV_MISSION_DENIED, 0]


def test_capacity_limit_answers_no_space_with_a_status_text() -> None:
    def client(sim: SimVehicle, master: Any) -> tuple[int, str]:
        master.mav.mission_count_send(1, 1, 651)
        ack = _recv(master, ["MISSION_ACK"]).type
        text = _recv(master, ["STATUSTEXT"], where=lambda m: "items" in m.text).text
        return ack, text

    assert _with_client(_config(), client) == (C.MAV_MISSION_NO_SPACE, "Only 650 items are supported")


def test_download_gives_home_amsl_at_seq0_and_relative_items_in_frame_3() -> None:
    def client(sim: SimVehicle, master: Any) -> list[Any]:
        master.mav.mission_request_int_send(1, 1, 0)
        before_origin = _recv(master, ["MISSION_ITEM_INT"])
        _wait_home(master)
        master.mav.mission_count_send(1, 1, 3)
        for seq in range(3):
            _recv(master, ["MISSION_REQUEST"], where=lambda m, s=seq: m.seq == s)
            _item_int(master, seq)
        _recv(master, ["MISSION_ACK"])
        master.mav.mission_request_list_send(1, 1)
        count = _recv(master, ["MISSION_COUNT"]).count
        items = []
        for seq in range(count):
            master.mav.mission_request_int_send(1, 1, seq)
            items.append(_recv(master, ["MISSION_ITEM_INT"], where=lambda m, s=seq: m.seq == s))
        master.mav.mission_request_send(1, 1, 1)  # the float request gets the float item
        items.append(_recv(master, ["MISSION_ITEM"]))
        return [before_origin, *items]

    before, home, first, second, as_float = _with_client(_config(home_alt_amsl_m=17.0), client)
    assert (before.x, before.y, before.z) == (0, 0, 0)  # seq 0 is all zeros until the EKF origin is set
    assert home.frame == C.MAV_FRAME_GLOBAL and home.z == pytest.approx(17.0) and home.x == 230_300_000
    assert first.frame == second.frame == C.MAV_FRAME_GLOBAL_RELATIVE_ALT and first.z == pytest.approx(30.0)
    assert as_float.x == pytest.approx(23.03001) and as_float.frame == C.MAV_FRAME_GLOBAL_RELATIVE_ALT


def test_commands_and_messages_answer_like_arducopter() -> None:
    def client(sim: SimVehicle, master: Any) -> dict[str, Any]:
        hb = _recv(master, ["HEARTBEAT"])
        master.mav.command_long_send(1, 1, 31010, 0, 0, 0, 0, 0, 0, 0, 0)
        unsupported = _recv(master, ["COMMAND_ACK"]).result
        # nothing but HEARTBEAT (and STATUSTEXT) streams until a client asks
        unasked = master.recv_match(type=["SYS_STATUS", "GLOBAL_POSITION_INT", "ATTITUDE"], blocking=True,
                                    timeout=0.5)
        _ask_streams(sim, master)
        _wait_home(master)
        master.mav.command_long_send(1, 1, C.MAV_CMD_REQUEST_MESSAGE, 0, C.MAVLINK_MSG_ID_HOME_POSITION,
                                     0, 0, 0, 0, 0, 0)
        requested = _recv(master, ["HOME_POSITION"])
        master.mav.set_mode_send(1, C.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, CopterMode.LOITER)
        set_mode_ack = _recv(master, ["COMMAND_ACK"], where=lambda m: m.command == C.MAVLINK_MSG_ID_SET_MODE)
        status = _recv(master, ["SYS_STATUS"])
        landed = _recv(master, ["EXTENDED_SYS_STATE"])
        master.mav.param_request_read_send(1, 1, b"FENCE_RADIUS", -1)
        radius = _recv(master, ["PARAM_VALUE"], where=lambda m: m.param_id == "FENCE_RADIUS")
        master.mav.param_set_send(1, 1, b"FENCE_TYPE", 5.0, C.MAV_PARAM_TYPE_INT8)
        fence_type = _recv(master, ["PARAM_VALUE"], where=lambda m: m.param_id == "FENCE_TYPE")
        return {"hb": hb, "unsupported": unsupported, "home": requested, "ack": set_mode_ack, "status": status,
                "landed": landed, "unasked": unasked, "radius": radius.param_value,
                "fence_type": fence_type.param_value}

    got = _with_client(_config(), client)
    hb = got["hb"]
    assert (hb.type, hb.autopilot, hb.custom_mode) == (C.MAV_TYPE_QUADROTOR, C.MAV_AUTOPILOT_ARDUPILOTMEGA, 0)
    assert got["unsupported"] == C.MAV_RESULT_UNSUPPORTED
    assert got["home"].altitude == 10_000
    assert (got["ack"].command, got["ack"].result) == (C.MAVLINK_MSG_ID_SET_MODE, C.MAV_RESULT_ACCEPTED)
    assert got["status"].battery_remaining == 100 and got["status"].voltage_battery > 20_000
    assert got["landed"].landed_state == C.MAV_LANDED_STATE_ON_GROUND
    assert got["unasked"] is None
    assert got["radius"] == 300.0 and got["fence_type"] == 5.0


def test_injected_loss_drops_requests_and_a_cut_silences_the_link() -> None:
    def client(sim: SimVehicle, master: Any) -> tuple[int, Any]:
        _recv(master, ["HEARTBEAT"])
        sim.set_link(loss_up=1.0)
        master.mav.mission_request_list_send(1, 1)
        lost = master.recv_match(type=["MISSION_COUNT"], blocking=True, timeout=0.5)
        sim.set_link(loss_up=0.0)
        sim.cut_link()
        while master.recv_match(blocking=True, timeout=0.3) is not None:
            pass  # what was already in the socket before the cut
        silent = master.recv_match(blocking=True, timeout=0.5)
        sim.restore_link()
        master.mav.mission_request_list_send(1, 1)
        return _recv(master, ["MISSION_COUNT"]).count, (lost, silent)

    count, (lost, silent) = _with_client(_config(), client)
    assert count == 1 and lost is None and silent is None


QGC_WPL = """QGC WPL 110
0\t1\t0\t16\t0\t0\t0\t0\t23.03\t113.15\t10\t1
1\t0\t3\t22\t0\t0\t0\t0\t0\t0\t20\t1
2\t0\t3\t16\t0\t0\t0\t0\t23.0303\t113.15\t20\t1
3\t0\t3\t16\t0\t0\t0\t0\t23.0303\t113.1503\t20\t1
4\t0\t3\t20\t0\t0\t0\t0\t0\t0\t0\t1
"""


def test_pymavlink_mavwp_uploads_a_qgc_wpl_mission_sets_mode_arms_and_flies_it(tmp_path: Path) -> None:
    path = tmp_path / "mission.txt"
    path.write_text(QGC_WPL)

    def client(sim: SimVehicle, master: Any) -> list[int]:
        master.wait_heartbeat(timeout=5)
        _ask_streams(sim, master)
        _wait_home(master)
        loader = mavwp.MAVWPLoader(target_system=1, target_component=1)
        assert loader.load(str(path)) == 5
        master.waypoint_clear_all_send()
        _recv(master, ["MISSION_ACK"])
        master.waypoint_count_send(loader.count())
        while True:
            msg = _recv(master, ["MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"])
            if msg.get_type() == "MISSION_ACK":
                assert msg.type == C.MAV_MISSION_ACCEPTED
                break
            master.mav.send(loader.wp(msg.seq))
        master.set_mode("GUIDED")
        _recv(master, ["COMMAND_ACK"], where=lambda m: m.command == C.MAV_CMD_DO_SET_MODE)
        for _ in range(50):  # "Arm: Need Position Estimate" until the EKF is ready: retry, as a pilot would
            master.arducopter_arm()
            ack = _recv(master, ["COMMAND_ACK"], where=lambda m: m.command == C.MAV_CMD_COMPONENT_ARM_DISARM)
            if ack.result == C.MAV_RESULT_ACCEPTED:
                break
            _recv(master, ["HEARTBEAT"])  # one vehicle second between tries
        master.motors_armed_wait()
        master.mav.command_long_send(1, 1, C.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 0, 20)
        master.set_mode("AUTO")
        reached = []
        while 4 not in reached:
            master.mav.heartbeat_send(C.MAV_TYPE_GCS, C.MAV_AUTOPILOT_INVALID, 0, 0, 0)
            reached.append(_recv(master, ["MISSION_ITEM_REACHED"], timeout_s=20.0).seq)
        master.motors_disarmed_wait()
        return reached

    assert _with_client(_config(speedup=40.0), client, tcp=True, timeout_s=60.0) == [1, 2, 3, 4]


@pytest.mark.skipif(shutil.which("mavproxy.py", path=os.path.dirname(sys.executable)) is None,
                    reason="MAVProxy is not installed")
def test_mavproxy_loads_the_mission_sets_guided_arms_and_starts_auto(tmp_path: Path) -> None:
    path = tmp_path / "mission.txt"
    path.write_text(QGC_WPL)
    mavproxy = shutil.which("mavproxy.py", path=os.path.dirname(sys.executable))

    async def main() -> Any:
        sim = SimVehicle(_config(speedup=10.0))
        await sim.start(udp_port=None, tcp_port=0)
        proc = await asyncio.create_subprocess_exec(
            mavproxy, f"--master=tcp:127.0.0.1:{sim.tcp_port}", "--default-modules=wp,mode,arm,cmdlong",
            f"--state-basedir={tmp_path}", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)

        def command(line: str) -> None:
            assert proc.stdin is not None
            proc.stdin.write((line + "\n").encode())

        try:
            # MAVProxy asks for data streams once it has seen the vehicle; load after that and after EKF ready
            await sim.wait_until(lambda s: s.model.home_set and s.received["REQUEST_DATA_STREAM"] > 0, timeout_s=20)
            command(f"wp load {path}")
            await sim.wait_until(lambda s: any(u.count == 5 and u.result == 0 for u in s.uploads), timeout_s=20)
            command("mode guided")
            # a pilot arms once the EKF has its position estimate (before that: "Arm: Need Position Estimate")
            await sim.wait_until(lambda s: s.model.mode == CopterMode.GUIDED and s.model.ekf_ready, timeout_s=10)
            command("arm throttle")
            await sim.wait_until(lambda s: s.model.armed, timeout_s=10)
            command("takeoff 20")
            command("mode auto")
            await sim.wait_until(lambda s: s.model.mode == CopterMode.AUTO and s.model.current_seq >= 2, timeout_s=20)
            return [it.command for it in sim.model.mission], sim.uploads[-1].sender
        finally:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 1.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            await sim.stop()

    commands, sender = asyncio.run(asyncio.wait_for(main(), 60))
    assert commands == [16, 22, 16, 16, 20]
    assert sender[0] == 255


def test_battery_state_persists_across_flights_of_one_vehicle() -> None:
    m = _airborne()
    _run(m, 60.0)
    m.set_mode(CopterMode.LAND)
    _run(m, 300.0, until=lambda x: not x.armed)
    after_first = m.battery_remaining_percent
    assert after_first < 100.0 and not m.armed
    assert m.set_mode(CopterMode.GUIDED) and m.arm() == (True, None)  # a second flight, same process
    assert m.battery_remaining_percent == pytest.approx(after_first, abs=0.01)


def test_a_stream_rate_asked_for_during_boot_is_accepted_but_has_no_effect() -> None:
    def client(sim: SimVehicle, master: Any) -> tuple[int, Any, Any]:
        def ask() -> int:
            master.mav.command_long_send(1, 1, C.MAV_CMD_SET_MESSAGE_INTERVAL, 0, C.MAVLINK_MSG_ID_SYS_STATUS,
                                         100_000, 0, 0, 0, 0, 0)
            return _recv(master, ["COMMAND_ACK"], where=lambda m: m.command == C.MAV_CMD_SET_MESSAGE_INTERVAL).result

        during_boot = ask()
        silent = master.recv_match(type=["SYS_STATUS"], blocking=True, timeout=0.6)
        _ask_streams(sim, master, hz=1)  # waits for the boot
        ask()
        return during_boot, silent, _recv(master, ["SYS_STATUS"])

    accepted, silent, status = _with_client(_config(speedup=1.0, boot_s=1.0, gps_fix_s=1.0, origin_s=1.5,
                                                    ekf_ready_s=2.0), client)
    assert accepted == C.MAV_RESULT_ACCEPTED and silent is None and status is not None
