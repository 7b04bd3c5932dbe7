"""fly() against the simulated ArduCopter over real UDP: survey with photos, failsafes, abort, link loss, fleets."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest
from pymavlink import mavutil

from dockpatrol.errors import FlightError, InvalidInput
from dockpatrol.geo import haversine_m
from flight.executor import EventKind, FlightEvent, FlyOptions, FlyResult, fly, validate_plan
from flight.telemetry import FlightMode
from flight.vehicle import Vehicle
from missions.types import MavCmd, MissionItem
from sim.vehicle import SITL_PARAMS, SimVehicle, SimVehicleConfig
from tests.unit.flight.helpers import HOME, run, sim_and_vehicle, sim_config, square_fence, survey_plan, when

FAST = FlyOptions(link_giveup_s=20.0)


def _kinds(events: tuple[FlightEvent, ...]) -> list[EventKind]:
    return [e.kind for e in events]


def test_survey_flight_completes_with_one_photo_per_trigger_distance(tmp_path: Path) -> None:
    plan = survey_plan(lanes=3, length_m=200.0, spacing_m=30.0, trigger_m=20.0)
    hooked: list[Any] = []

    async def scenario() -> Any:
        async with sim_and_vehicle(on_capture=hooked.append) as (sim, vehicle):
            report = await fly(plan, vehicle, options=FAST, log_dir=tmp_path)
            return report, sim.model.armed, list(sim.captures)

    report, still_armed, sim_captures = run(scenario())
    assert report.result == FlyResult.COMPLETED, report.summary()
    assert report.ok and not still_armed
    assert report.landed_distance_to_home_m is not None and report.landed_distance_to_home_m < 2.0
    # camera on from the first lane's start to the last lane's end: 3 × 200 m + 2 × 30 m = 660 m
    assert 30 <= len(report.captures) <= 34
    assert [c.index for c in report.captures] == list(range(1, len(report.captures) + 1))
    assert report.missing_capture_indices == ()
    assert len(hooked) == len(sim_captures) == len(report.captures)
    for a, b in zip(report.captures, report.captures[1:], strict=False):
        d = haversine_m(a.longitude_deg, a.latitude_deg, b.longitude_deg, b.latitude_deg)
        assert d == pytest.approx(20.0, abs=1.0) or d < 20.0  # corners cut the straight-line distance
    assert all(c.relative_altitude_m == pytest.approx(40.0, abs=1.5) for c in report.captures)
    # every item is done (progress from MISSION_CURRENT, not from MISSION_ITEM_REACHED)
    assert report.reached_seqs == tuple(range(1, len(plan.items) + 1))
    assert report.upload is not None and report.upload.attempts == 1
    assert report.max_relative_altitude_m == pytest.approx(40.0, abs=1.5)
    # flight log: GeoJSON track + capture points, and a .tlog pymavlink can read
    collection = json.loads(report.track_path.read_text())
    kinds = [f["properties"]["kind"] for f in collection["features"]]
    assert kinds.count("capture") == len(report.captures) and "track" in kinds and "home" in kinds
    track = next(f for f in collection["features"] if f["properties"]["kind"] == "track")
    assert track["geometry"]["type"] == "LineString" and len(track["geometry"]["coordinates"]) > 50
    log = mavutil.mavlink_connection(str(report.tlog_path))
    feedback = 0
    while (msg := log.recv_match()) is not None:
        feedback += msg.get_type() == "CAMERA_FEEDBACK"
    assert feedback == len(report.captures)


def test_px4_style_image_captured_messages_are_merged_with_feedback() -> None:
    plan = survey_plan(lanes=1, length_m=120.0, trigger_m=20.0)

    async def scenario() -> Any:
        async with sim_and_vehicle(sim_config(send_image_captured=True)) as (sim, vehicle):
            return await fly(plan, vehicle, options=FAST), len(sim.captures)

    report, taken = run(scenario())
    assert report.ok, report.summary()
    assert len(report.captures) == taken >= 5
    assert {c.source for c in report.captures} <= {"camera_feedback", "image_captured"}


def test_mission_without_final_rtl_is_brought_home_by_the_executor() -> None:
    plan = survey_plan(lanes=1, length_m=80.0, trigger_m=0.0, end_with_rtl=False)

    async def scenario() -> Any:
        async with sim_and_vehicle() as (_, vehicle):
            return await fly(plan, vehicle, options=FAST)

    report = run(scenario())
    assert report.result == FlyResult.COMPLETED, report.summary()
    assert any(e.kind == EventKind.RETURN_COMMANDED and "end of mission" in e.detail for e in report.events)
    assert report.landed_distance_to_home_m < 2.0


def _at_item(seq: int, flag: asyncio.Event) -> Any:
    def on_event(ev: FlightEvent) -> None:
        if ev.kind == EventKind.ITEM_REACHED and ev.detail.startswith(f"{seq}/"):
            flag.set()
    return on_event


def test_link_cut_mid_mission_vehicle_returns_and_executor_recovers_the_link() -> None:
    plan = survey_plan(lanes=3, length_m=200.0)

    async def scenario() -> Any:
        # GCS heartbeats every 0.25 s, failsafe after 1 s without one: a cut triggers it quickly
        config = sim_config(gcs_timeout_wall_s=1.0, speedup=20.0)
        async with sim_and_vehicle(config, link_timeout_s=0.5, heartbeat_interval_s=0.25) as (sim, vehicle):
            reached = asyncio.Event()

            async def cut_until_rtl() -> None:
                sim.cut_link()
                await sim.wait_until(lambda s: s.model.mode == FlightMode.RTL, timeout_s=10.0)
                sim.restore_link()

            task = asyncio.create_task(when(reached, cut_until_rtl))
            report = await fly(plan, vehicle, options=FAST, on_event=_at_item(4, reached))
            await task
            return report, [t for _, t in sim.status_log]

    report, texts = run(scenario())
    kinds = _kinds(report.events)
    assert "GCS Failsafe" in texts
    assert EventKind.LINK_LOST in kinds and EventKind.LINK_RESTORED in kinds
    assert kinds.index(EventKind.LINK_LOST) < kinds.index(EventKind.LINK_RESTORED)
    assert report.result == FlyResult.FAILSAFE, report.summary()
    assert report.failsafe_reason is not None and "RTL" in report.failsafe_reason
    assert report.landed_distance_to_home_m < 2.0
    assert not report.ok
    assert report.upload is not None and report.upload.attempts == 1  # never re-uploaded after the link came back
    if report.missing_capture_indices:
        assert any("not reported" in w for w in report.warnings)


def test_low_battery_failsafe_returns_to_the_dock() -> None:
    plan = survey_plan(lanes=3, length_m=200.0)

    async def scenario() -> Any:
        async with sim_and_vehicle() as (sim, vehicle):
            reached = asyncio.Event()
            task = asyncio.create_task(when(reached, lambda: sim.set_battery_remaining(18.0)))
            report = await fly(plan, vehicle, options=FAST, on_event=_at_item(2, reached))
            await task
            return report

    report = run(scenario())
    assert report.result == FlyResult.FAILSAFE, report.summary()
    assert "Battery" in (report.failsafe_reason or "")
    assert report.landed_distance_to_home_m < 2.0
    assert len(report.reached_seqs) < sum(it.is_nav for it in survey_plan().items)


def test_fence_breach_makes_the_vehicle_return() -> None:
    # the inclusion fence covers only the first 120 m of the 200 m lanes
    fence = square_fence(60.0, center_ne_m=(50.0, 40.0))
    plan = survey_plan(lanes=2, length_m=200.0, fence=fence)

    async def scenario() -> Any:
        async with sim_and_vehicle() as (sim, vehicle):
            report = await fly(plan, vehicle, options=FAST)
            return report, sim.model.fence_enabled, len(sim.model.fence.inclusions)

    report, enabled, inclusions = run(scenario())
    assert enabled and inclusions == 1
    assert report.result == FlyResult.FAILSAFE, report.summary()
    assert "Polygon fence breached" in (report.failsafe_reason or "")
    assert report.landed_distance_to_home_m < 2.0


@pytest.mark.parametrize(("action", "mode"), [("rtl", FlightMode.RTL), ("land", FlightMode.LAND)])
def test_abort_returns_or_lands_and_reports_aborted(action: str, mode: FlightMode) -> None:
    from flight.executor import AbortAction

    plan = survey_plan(lanes=2, length_m=150.0)
    options = FlyOptions(abort_action=AbortAction(action), link_giveup_s=20.0)

    async def scenario() -> Any:
        async with sim_and_vehicle() as (sim, vehicle):
            abort, reached = asyncio.Event(), asyncio.Event()
            task = asyncio.create_task(when(reached, abort.set))
            report = await fly(plan, vehicle, options=options, abort=abort, on_event=_at_item(2, reached))
            await task
            return report, sim.model.mode

    report, final_mode = run(scenario())
    assert report.result == FlyResult.ABORTED, report.summary()
    assert final_mode == mode
    if action == "rtl":
        assert report.landed_distance_to_home_m < 2.0
    else:
        assert report.landed_distance_to_home_m > 10.0


def test_eight_vehicles_fly_concurrently_from_one_process() -> None:
    homes = [(HOME[0] + 0.01 * (i % 4), HOME[1] + 0.01 * (i // 4)) for i in range(8)]
    plans = [survey_plan(lanes=1, length_m=100.0, trigger_m=25.0, home=h, dock_id=f"dock-{i}")
             for i, h in enumerate(homes)]

    async def one(i: int) -> Any:
        config = sim_config(home_lon=homes[i][0], home_lat=homes[i][1], system_id=i + 1, speedup=30.0)
        async with SimVehicle(config) as sim:
            vehicle = await Vehicle.connect(sim.udp_url, timeout_s=5.0, link_timeout_s=2.0)
            try:
                return await fly(plans[i], vehicle, options=FAST)
            finally:
                await vehicle.close()

    async def scenario() -> list[Any]:
        return await asyncio.gather(*(one(i) for i in range(8)))

    reports = run(scenario(), timeout_s=90.0)
    assert [r.result for r in reports] == [FlyResult.COMPLETED] * 8, [r.summary() for r in reports]
    assert [r.dock_id for r in reports] == [f"dock-{i}" for i in range(8)]
    assert all(3 <= len(r.captures) <= 5 and r.landed_distance_to_home_m < 2.0 for r in reports)


def test_preflight_refuses_a_low_battery_and_a_plan_for_another_dock() -> None:
    far_plan = survey_plan(home=(HOME[0] + 0.01, HOME[1]))

    async def scenario() -> list[FlightError]:
        errors = []
        async with sim_and_vehicle() as (sim, vehicle):
            with pytest.raises(FlightError) as wrong_dock:
                await fly(far_plan, vehicle, options=FAST)
            errors.append(wrong_dock.value)
            sim.set_battery_remaining(30.0)
            with pytest.raises(FlightError) as low:
                await fly(survey_plan(), vehicle, options=FAST)
            errors.append(low.value)
            assert not sim.model.armed and sim.uploads == []
        return errors

    wrong_dock, low = run(scenario())
    assert wrong_dock.result == FlyResult.PREFLIGHT_FAILED and "wrong vehicle or wrong plan" in str(wrong_dock)
    assert low.result == FlyResult.PREFLIGHT_FAILED and "battery 30 %" in str(low)


def test_a_plan_larger_than_the_vehicle_can_store_fails_to_upload_with_a_hint() -> None:
    async def scenario() -> FlightError:
        async with sim_and_vehicle(sim_config(mission_capacity=5)) as (sim, vehicle):
            with pytest.raises(FlightError) as info:
                await fly(survey_plan(), vehicle, options=FAST)
            assert not sim.model.armed
            return info.value

    error = run(scenario())
    assert error.result == FlyResult.UPLOAD_FAILED
    assert "TOO_MANY_ITEMS" in str(error) and "sorties" in str(error)


@pytest.mark.parametrize(("item", "message"), [
    (MissionItem(command=MavCmd.NAV_WAYPOINT, lat=23.03, lon=113.15, altitude_m=150.0), "outside 0..120"),
    (MissionItem(command=MavCmd.NAV_WAYPOINT, lat=123.0, lon=113.15, altitude_m=50.0), "outside WGS84"),
])
def test_validate_plan_refuses_unsafe_items(item: MissionItem, message: str) -> None:
    plan = survey_plan()
    bad = type(plan)(**{**plan.__dict__, "items": (*plan.items[:2], item, *plan.items[2:])})
    with pytest.raises(InvalidInput, match=message):
        validate_plan(bad)


def test_validate_plan_refuses_a_fence_polygon_with_missing_vertices() -> None:
    fence = square_fence(100.0)[:3]
    with pytest.raises(InvalidInput, match="fence polygon 0"):
        validate_plan(survey_plan(fence=fence))


def test_track_length_matches_the_flown_path() -> None:
    plan = survey_plan(lanes=1, length_m=150.0, trigger_m=0.0)

    async def scenario() -> Any:
        async with sim_and_vehicle() as (_, vehicle):
            return await fly(plan, vehicle, options=FAST)

    report = run(scenario())
    # home → lane start (20 m N, 20 m E) → 150 m north → back home
    expected_m = math.hypot(20.0, 20.0) + 150.0 + math.hypot(170.0, 20.0)
    assert report.ok
    assert report.track_length_m == pytest.approx(expected_m, rel=0.1)


def test_a_vehicle_without_a_camera_completes_but_warns_that_no_photo_was_reported() -> None:
    plan = survey_plan(lanes=1, length_m=80.0, trigger_m=20.0)

    async def scenario() -> Any:
        async with sim_and_vehicle(sim_config(camera_enabled=False)) as (_, vehicle):
            return await fly(plan, vehicle, options=FAST)

    report = run(scenario())
    assert report.result == FlyResult.COMPLETED and report.captures == ()
    assert any("no photos" in w for w in report.warnings)


# ---- as a real ArduCopter behaves (ARDUPILOT.md, second round): each of these failed before issue 10 -----------


def _planner_like(*, altitude_m: float, lanes: int = 2, length_m: float = 120.0, east0_m: float = 20.0,
                  fence: tuple[Any, ...] = ()) -> Any:
    """Items in the order `dockpatrol plan` writes them: takeoff, speed, lane start, camera on, …, camera off, RTL."""
    from missions.types import MavFrame, MissionPlan
    from tests.unit.flight.helpers import offset

    def wp(north: float, east: float) -> MissionItem:
        lat, lon = offset(north, east)
        return MissionItem(command=MavCmd.NAV_WAYPOINT, lat=lat, lon=lon, altitude_m=altitude_m)

    def do(cmd: MavCmd, params: tuple[float, float, float, float]) -> MissionItem:
        return MissionItem(command=cmd, params=params, frame=MavFrame.MISSION)

    lane_ends = [(0.0, east0_m + 30.0 * k) if k % 2 == 0 else (length_m, east0_m + 30.0 * k) for k in range(lanes)]
    items = [MissionItem(command=MavCmd.NAV_TAKEOFF, lat=HOME[1], lon=HOME[0], altitude_m=altitude_m),
             do(MavCmd.DO_CHANGE_SPEED, (1.0, 10.0, -1.0, 0.0)), wp(*lane_ends[0]),
             do(MavCmd.DO_SET_CAM_TRIGG_DIST, (20.0, 0.0, 1.0, 0.0))]
    for k, (north, east) in enumerate(lane_ends):
        far = length_m - north
        if k:
            items.append(wp(north, east))
        items.append(wp(far, east))
    items += [do(MavCmd.DO_SET_CAM_TRIGG_DIST, (0.0, 0.0, 0.0, 0.0)),
              MissionItem(command=MavCmd.NAV_RETURN_TO_LAUNCH, frame=MavFrame.MISSION)]
    path_m = lanes * length_m + (lanes - 1) * 30.0 + 2 * (east0_m + 30.0 * lanes)
    return MissionPlan(dock_id="dock-1", items=tuple(items), trigger_distance_m=20.0, length_m=path_m,
                       duration_s=path_m / 8.0 + 60, home_lon=HOME[0], home_lat=HOME[1], altitude_m=altitude_m,
                       fence=fence)


def test_an_upload_whose_altitudes_the_autopilot_truncates_to_whole_centimetres_verifies_and_flies() -> None:
    plan = _planner_like(altitude_m=66.7, lanes=1)

    async def scenario() -> Any:
        async with sim_and_vehicle() as (sim, vehicle):
            report = await fly(plan, vehicle, options=FAST)
            return report, [it.altitude_m for it in sim.model.mission]

    report, stored = run(scenario())
    assert 66.69 in stored and 66.7 not in stored  # the vehicle keeps 6669 cm
    assert report.result == FlyResult.COMPLETED, report.summary()


def test_a_survey_beyond_the_default_circle_fence_flies_within_its_own_polygon() -> None:
    # SITL's default parameters: FENCE_TYPE 7 (altitude, circle, polygon), a 150 m circle; the survey reaches ~220 m
    fence = square_fence(140.0, center_ne_m=(60.0, 120.0))  # home well inside, lanes up to 210 m east
    plan = _planner_like(altitude_m=40.0, lanes=3, length_m=120.0, east0_m=150.0, fence=fence)
    config = sim_config(params=SITL_PARAMS)

    async def scenario() -> Any:
        async with sim_and_vehicle(config) as (sim, vehicle):
            report = await fly(plan, vehicle, options=FAST)
            return report, [t for _, t in sim.status_log], int(sim.model.fence_enabled_types)

    report, texts, enabled = run(scenario())
    assert not any("fence breached" in t for t in texts), texts
    assert report.result == FlyResult.COMPLETED, report.summary()
    assert enabled == 4 | 1  # polygon and maximum altitude, not the circle
    assert report.max_distance_from_home_m > 200.0


def test_progress_counts_items_the_vehicle_never_reports_reached() -> None:
    # the takeoff merges with the speed change and camera items are never reported (MISSION_ITEM_REACHED)
    plan = _planner_like(altitude_m=30.0, lanes=2)

    async def scenario() -> Any:
        async with sim_and_vehicle() as (_, vehicle):
            reached_messages: list[int] = []
            vehicle.connection.add_listener(
                lambda m: reached_messages.append(m.seq) if m.get_type() == "MISSION_ITEM_REACHED" else None)
            return await fly(plan, vehicle, options=FAST), reached_messages

    report, reached_messages = run(scenario())
    n = len(plan.items)
    assert 1 not in reached_messages and 4 not in reached_messages  # what the vehicle said
    assert report.result == FlyResult.COMPLETED, report.summary()
    assert report.reached_seqs == tuple(range(1, n + 1))  # what it did
    assert f"{n} items of {n}" in report.summary()


def test_late_origin_sitl_timings_home_only_once_the_origin_is_set() -> None:
    # SITL: boots on its first client, streams nothing until asked, origin at ~19 s, arming from ~40 s
    config = SimVehicleConfig.sitl(home_lon=HOME[0], home_lat=HOME[1], speedup=40.0)
    plan = _planner_like(altitude_m=30.0, lanes=1)

    async def scenario() -> Any:
        async with sim_and_vehicle(config) as (sim, vehicle):
            return await fly(plan, vehicle, options=FAST), sim.model.armed

    report, armed = run(scenario(), timeout_s=60.0)
    assert report.result == FlyResult.COMPLETED, report.summary()
    assert not armed
    home = next(e for e in report.events if e.kind == EventKind.HOME)
    assert home.vehicle_time_s is not None and home.vehicle_time_s >= 19.0
    armed_at = next(e for e in report.events if e.kind == EventKind.ARMED).vehicle_time_s
    assert armed_at is not None and armed_at >= 40.0


def test_a_plan_leaving_the_fence_the_vehicle_keeps_on_is_refused_before_anything_is_uploaded() -> None:
    # imported here, so the tests above also run against the executor from before issue 10
    from flight.fence import FencePolicy

    # FENCE_ENABLE 1: the vehicle enforces its 150 m circle by itself; the plan (no polygon) reaches ~220 m
    plan = _planner_like(altitude_m=40.0, lanes=3, length_m=120.0, east0_m=150.0)
    config = sim_config(params={**SITL_PARAMS, "FENCE_ENABLE": 1.0})

    async def scenario() -> Any:
        async with sim_and_vehicle(config) as (sim, vehicle):
            with pytest.raises(FlightError) as refused:
                await fly(plan, vehicle, options=FAST)
            assert sim.uploads == [] and not sim.model.armed
            adapted = await fly(plan, vehicle, options=FlyOptions(link_giveup_s=20.0, fence_policy=FencePolicy.ADAPT))
            return refused.value, adapted, sim.model.params["FENCE_RADIUS"], [t for _, t in sim.status_log]

    refused, adapted, radius, texts = run(scenario(), timeout_s=90.0)
    assert refused.result == FlyResult.PREFLIGHT_FAILED
    assert "circle fence (FENCE_RADIUS) is 150 m" in str(refused) and "reaches 2" in str(refused)
    assert adapted.result == FlyResult.COMPLETED, adapted.summary()
    assert radius > adapted.max_distance_from_home_m and not any("fence breached" in t for t in texts)
    assert any(e.kind == EventKind.FENCE and "FENCE_RADIUS raised" in e.detail for e in adapted.events)
