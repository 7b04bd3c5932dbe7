"""Fly one MissionPlan on one vehicle: pre-flight checks, upload and verify (mission, fence, rally),
GUIDED → arm → takeoff → AUTO, follow progress and photos, react to failsafes, aborts and link loss,
and report how it ended once the vehicle has landed and disarmed.

Every flight timer is measured in the vehicle's clock (``time_boot_ms``) so a simulator running at
any speed-up is flown the same way; only link silence is timed on the wall clock. Several flights
run concurrently with ``asyncio.gather``. A mission is never re-uploaded once the vehicle is armed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from dockpatrol.errors import FlightError, InvalidInput
from dockpatrol.geo import check_lonlat, haversine_m
from flight.action import ActionError
from flight.camera import CaptureInfo, capture_from_message
from flight.fence import FENCE_PARAMS, FencePolicy, FenceType, VehicleFence, decide_fence
from flight.flightlog import TrackRecorder, track_geojson, write_geojson
from flight.mission import (
    GLOBAL_FRAMES,
    MISSION_TYPE_FENCE,
    MISSION_TYPE_RALLY,
    MissionError,
    TransferStats,
    fence_to_wire,
    mission_to_wire,
    rally_to_wire,
)
from flight.params import ParamError
from flight.telemetry import DEFAULT_RATES_HZ, FlightMode, LandedState, Position, TelemetryError
from flight.vehicle import Vehicle
from missions.safety import CEILING_M
from missions.types import NAV_COMMANDS, MavCmd, MavFrame, MissionPlan

log = logging.getLogger(__name__)
C = mavlink
_ENDS_ON_GROUND = frozenset({MavCmd.NAV_RETURN_TO_LAUNCH, MavCmd.NAV_LAND})
_RETURN_MODES = frozenset({FlightMode.RTL, FlightMode.LAND, FlightMode.SMART_RTL, FlightMode.AUTO_RTL})
_FRESH = ("HEARTBEAT", "SYS_STATUS", "GPS_RAW_INT")
_FAILSAFE_WORDS = ("failsafe", "battery", "fence", "gcs", "ekf", "radio", "terrain", "crash", "vibration")


class FlyResult(Enum):
    """How a flight ended (or why it never started)."""

    COMPLETED = "completed"
    FAILSAFE = "failsafe"
    ABORTED = "aborted"
    LANDED_AWAY = "landed_away"
    INCOMPLETE = "incomplete"
    TIMEOUT = "timeout"
    LINK_LOST = "link_lost"
    TAKEOFF_FAILED = "takeoff_failed"
    PREFLIGHT_FAILED = "preflight_failed"
    UPLOAD_FAILED = "upload_failed"


class AbortAction(Enum):
    RTL = "rtl"
    LAND = "land"


class EventKind(Enum):
    HOME = "home"
    PREFLIGHT_OK = "preflight_ok"
    FENCE = "fence"
    UPLOADED = "uploaded"
    ARMED = "armed"
    TOOK_OFF = "took_off"
    MISSION_STARTED = "mission_started"
    CURRENT_ITEM = "current_item"
    ITEM_REACHED = "item_reached"
    CAPTURE = "capture"
    MODE_CHANGED = "mode_changed"
    FAILSAFE = "failsafe"
    STATUSTEXT = "statustext"
    LINK_LOST = "link_lost"
    LINK_RESTORED = "link_restored"
    ABORT_REQUESTED = "abort_requested"
    RETURN_COMMANDED = "return_commanded"
    BUDGET_EXCEEDED = "budget_exceeded"
    LANDED = "landed"
    DISARMED = "disarmed"


@dataclass(frozen=True)
class FlightEvent:
    kind: EventKind
    vehicle_time_s: float | None
    detail: str = ""


@dataclass(frozen=True)
class FlyOptions:
    """Limits and tolerances of one flight; vehicle-time budgets are in the vehicle's seconds."""

    min_battery_percent: float = 40.0
    max_altitude_m: float = CEILING_M
    dock_radius_m: float = 5.0
    home_tolerance_m: float = 50.0
    readiness_vehicle_s: float = 120.0
    #: ArduCopter refuses to arm ("Arm: Need Position Estimate") for ~20 s after its origin is set
    arm_retry_vehicle_s: float = 60.0
    fence_policy: FencePolicy = FencePolicy.REFUSE
    #: Distance (m, horizontal) within which the last waypoint counts as reached when MISSION_CURRENT says
    #: nothing about completion (firmware without mission_state).
    waypoint_reached_m: float = 5.0
    budget_factor: float = 2.0
    budget_margin_vehicle_s: float = 300.0
    link_giveup_s: float = 120.0
    abort_action: AbortAction = AbortAction.RTL
    track_min_spacing_m: float = 2.0
    stream_rates_hz: dict[int, float] = field(default_factory=lambda: dict(DEFAULT_RATES_HZ))


@dataclass(frozen=True)
class FlightReport:
    """Everything a flight produced; ``ok`` only when the mission completed and the vehicle is down at the dock."""

    result: FlyResult
    dock_id: str
    detail: str
    events: tuple[FlightEvent, ...]
    captures: tuple[CaptureInfo, ...]
    missing_capture_indices: tuple[int, ...]
    reached_seqs: tuple[int, ...]
    items_total: int
    vehicle_duration_s: float
    track_length_m: float
    max_relative_altitude_m: float
    max_distance_from_home_m: float
    landed_distance_to_home_m: float | None
    battery_used_percent: float | None
    failsafe_reason: str | None
    upload: TransferStats | None
    track_path: Path | None
    tlog_path: Path | None
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.result == FlyResult.COMPLETED

    def summary(self) -> str:
        landed = ("" if self.landed_distance_to_home_m is None
                  else f", landed {self.landed_distance_to_home_m:.1f} m from home")
        return (f"{self.dock_id}: {self.result.value}{' (' + self.detail + ')' if self.detail else ''}; "
                f"{len(self.reached_seqs)} items of {self.items_total} done, {len(self.captures)} photos"
                f"{f' ({len(self.missing_capture_indices)} unreported)' if self.missing_capture_indices else ''}, "
                f"{self.track_length_m:.0f} m in {self.vehicle_duration_s:.0f} s, up to "
                f"{self.max_distance_from_home_m:.0f} m from home at {self.max_relative_altitude_m:.1f} m{landed}")


def validate_plan(plan: MissionPlan, *, max_altitude_m: float = CEILING_M) -> None:
    """Refuse plans the executor must not fly: no items, bad coordinates, altitude above the ceiling, bad fence."""
    if not plan.items:
        raise InvalidInput(f"plan {plan.dock_id!r} has no mission items")
    if plan.home_lon or plan.home_lat:
        check_lonlat(plan.home_lon, plan.home_lat, where="plan home")
    if plan.trigger_distance_m < 0:
        raise InvalidInput(f"trigger_distance_m must not be negative, got {plan.trigger_distance_m}")
    for i, item in enumerate(plan.items, start=1):
        where = f"mission item {i} (command {int(item.command)})"
        if int(item.frame) in GLOBAL_FRAMES and (item.lat or item.lon):
            check_lonlat(item.lon, item.lat, where=where)
        relative = int(item.frame) in (MavFrame.GLOBAL_RELATIVE_ALT, MavFrame.GLOBAL_RELATIVE_ALT_INT)
        if item.command in NAV_COMMANDS and relative and not -1.0 <= item.altitude_m <= max_altitude_m:
            raise InvalidInput(f"{where}: altitude {item.altitude_m:g} m is outside 0..{max_altitude_m:g} m above home")
    i = 0
    fence = plan.fence
    while i < len(fence):
        v = fence[i]
        check_lonlat(v.lon, v.lat, where=f"fence vertex {i}")
        group = fence[i:i + v.vertex_count]
        if v.vertex_count < 3 or len(group) < v.vertex_count or any(
                g.vertex_count != v.vertex_count or g.polygon_index != v.polygon_index for g in group):
            raise InvalidInput(f"fence polygon {v.polygon_index} at vertex {i}: needs {v.vertex_count} (≥ 3) "
                               "consecutive vertices with the same polygon_index and vertex_count")
        i += v.vertex_count


@dataclass(frozen=True)
class _Link:
    up: bool


@dataclass(frozen=True)
class _Abort:
    pass


class _Flight:
    """One flight's state machine; fly() is its only user."""

    def __init__(self, plan: MissionPlan, vehicle: Vehicle, *, options: FlyOptions, log_dir: Path | None,
                 abort: asyncio.Event | None, on_event: Callable[[FlightEvent], None] | None) -> None:
        self.plan = plan
        self.vehicle = vehicle
        self.opts = options
        self.log_dir = log_dir
        self.abort = abort
        self.on_event = on_event
        self.events: list[FlightEvent] = []
        self.captures: dict[int, CaptureInfo] = {}
        self.reached: list[int] = []
        self.track = TrackRecorder(min_spacing_m=options.track_min_spacing_m)
        self.wire = mission_to_wire(plan)
        nav = [w.seq for w in self.wire[1:] if w.command in NAV_COMMANDS]
        self.last_nav_seq = nav[-1] if nav else len(self.wire) - 1
        self.ends_on_ground = bool(nav) and self.wire[self.last_nav_seq].command in _ENDS_ON_GROUND
        self.first_nav_is_takeoff = bool(nav) and self.wire[nav[0]].command == MavCmd.NAV_TAKEOFF
        self.has_camera_items = any(w.command == MavCmd.DO_SET_CAM_TRIGG_DIST for w in self.wire)
        self.upload_stats: TransferStats | None = None
        self.commanded_mode: FlightMode | None = None
        self.pending_mode: FlightMode | None = None
        self.pending_tried_at = -1e9
        self.mode: FlightMode | int | None = None
        self.armed = False
        self.airborne = False
        self.landed_state: LandedState | None = None
        self.current_seq = 0
        self.auto_started = False
        self.home_lonlat: tuple[float, float] | None = None
        self.max_distance_m = 0.0
        self.mission_done = False
        self.fence_plan: Any = None
        self.aborted = False
        self.budget_exceeded = False
        self.failsafe_reason: str | None = None
        self.link_lost_at: float | None = None
        self.link_gave_up = False
        self.set_trigger = False
        self.start_vehicle_s: float | None = None
        self.start_battery: float | None = None
        self.track_path: Path | None = None
        self.tlog_path: Path | None = None

    # ---- bookkeeping ---------------------------------------------------------------------------

    def event(self, kind: EventKind, detail: str = "", *, keep: bool = True) -> None:
        ev = FlightEvent(kind, self.vehicle.telemetry.vehicle_time_s, detail)
        if keep:
            self.events.append(ev)
        if self.on_event is not None:
            try:
                self.on_event(ev)
            except Exception:
                log.exception("flight event callback failed")

    def fail(self, result: FlyResult, detail: str) -> FlightError:
        return FlightError(result, "fly", f"{self.plan.dock_id}: {detail}")

    # ---- phases --------------------------------------------------------------------------------

    async def run(self) -> FlightReport:
        conn = self.vehicle.connection
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.tlog_path = self.log_dir / "flight.tlog"
            self.track_path = self.log_dir / "track.geojson"
            conn.start_tlog(self.tlog_path)
        result = FlyResult.INCOMPLETE
        detail = ""
        try:
            await self.preflight()
            await self.upload()
            await self.launch()
            result, detail = await self.monitor()
        except asyncio.CancelledError:
            if self.armed:
                self.send_mode_now(FlightMode.RTL)  # best effort: never leave an aircraft flying unattended
            raise
        finally:
            self.write_track(result)
            if self.log_dir is not None:
                conn.stop_tlog()
        return self.report(result, detail)

    async def preflight(self) -> None:
        tel = self.vehicle.telemetry
        tel.request_rates(self.opts.stream_rates_hz)
        tel.request_message(C.MAVLINK_MSG_ID_HOME_POSITION)
        start: float | None = None
        # decide on fresh state only: what was heard before this flight may be stale, and one message of
        # each kind may already have been on its way when the flight started
        before = {kind: tel.received[kind] for kind in _FRESH}
        while True:
            waiting, fatal = self.preflight_problems()
            stale = [kind for kind in _FRESH if tel.received[kind] < before[kind] + 2]
            if stale:
                waiting.append("waiting for fresh " + ", ".join(stale))
                fatal = []
            if fatal:
                raise self.fail(FlyResult.PREFLIGHT_FAILED, "; ".join(fatal))
            if not waiting:
                break
            now = tel.vehicle_time_s
            start = now if start is None or (now is not None and now < start) else start
            if start is not None and now is not None and now - start > self.opts.readiness_vehicle_s:
                prearm = tel.recent_texts(prefix="PreArm")[-2:]
                raise self.fail(FlyResult.PREFLIGHT_FAILED, "; ".join(waiting + prearm) +
                                f" after {self.opts.readiness_vehicle_s:g} s")
            if tel.home is None:
                tel.request_message(C.MAVLINK_MSG_ID_HOME_POSITION)
            try:
                await tel.sleep_vehicle(0.5, what="preflight")
            except TelemetryError as exc:
                raise self.fail(FlyResult.PREFLIGHT_FAILED, f"{exc.detail} ({'; '.join(waiting)})") from exc
        await self.confirm_home()
        self.fence_plan = await self.check_fence()
        self.start_vehicle_s = tel.vehicle_time_s
        self.start_battery = tel.battery.remaining_percent if tel.battery else None
        self.event(EventKind.PREFLIGHT_OK, f"GPS fix {tel.gps.fix_type if tel.gps else '?'}, battery "
                   f"{self.start_battery if self.start_battery is not None else '?'} %")

    async def confirm_home(self) -> None:
        """Take home from mission seq 0 once the EKF origin is set (before that it downloads as (0, 0, 0))."""
        tel = self.vehicle.telemetry
        start = tel.vehicle_time_s
        while True:
            try:
                home = await self.vehicle.mission.read_home()
            except MissionError as exc:
                raise self.fail(FlyResult.PREFLIGHT_FAILED, f"cannot read home (mission item 0): {exc}") from exc
            if home.x or home.y:
                break
            now = tel.vehicle_time_s
            if start is not None and now is not None and now - start > self.opts.readiness_vehicle_s:
                raise self.fail(FlyResult.PREFLIGHT_FAILED, "home (mission item 0) is still (0, 0, 0) after "
                                f"{self.opts.readiness_vehicle_s:g} s: the vehicle's EKF has no origin")
            await tel.sleep_vehicle(1.0, what="EKF origin")
        lon, lat = home.y / 1e7, home.x / 1e7
        if self.plan.home_lon or self.plan.home_lat:
            d = haversine_m(lon, lat, self.plan.home_lon, self.plan.home_lat)
            if d > self.opts.home_tolerance_m:
                raise self.fail(FlyResult.PREFLIGHT_FAILED, f"vehicle home is {d:.0f} m from the plan's dock "
                                f"(> {self.opts.home_tolerance_m:g} m): wrong vehicle or wrong plan")
        self.home_lonlat = (lon, lat)
        self.event(EventKind.HOME, f"{lon:.7f}, {lat:.7f}, {home.z:.2f} m AMSL (mission item 0, EKF origin set)")

    async def check_fence(self) -> Any:
        """Read the vehicle's FENCE_* parameters and decide how to fly inside them; refuse when the plan leaves them."""
        params = self.vehicle.params
        try:
            first = await params.get(FENCE_PARAMS[0])
            values = {FENCE_PARAMS[0]: first}
            if first is not None:
                values.update(await params.get_many(FENCE_PARAMS[1:]))
        except ParamError as exc:
            raise self.fail(FlyResult.PREFLIGHT_FAILED, f"cannot read the vehicle's fence parameters: {exc}") from exc
        home = self.home_lonlat or (self.plan.home_lon, self.plan.home_lat)
        located = [it for it in self.plan.items if it.command in NAV_COMMANDS and (it.lat or it.lon)]
        reach_m = max((haversine_m(it.lon, it.lat, *home) for it in located), default=0.0)
        relative = [it.altitude_m for it in self.plan.items if it.command in NAV_COMMANDS
                    and int(it.frame) in (MavFrame.GLOBAL_RELATIVE_ALT, MavFrame.GLOBAL_RELATIVE_ALT_INT)]
        decision = decide_fence(VehicleFence.from_params(values), reach_m=reach_m,
                                top_altitude_m=max(relative, default=0.0), has_polygon=bool(self.plan.fence),
                                policy=self.opts.fence_policy, ceiling_m=self.opts.max_altitude_m)
        if decision.refusal:
            raise self.fail(FlyResult.PREFLIGHT_FAILED, decision.refusal)
        return decision

    def preflight_problems(self) -> tuple[list[str], list[str]]:
        """(still waiting for, cannot fly) from the latest telemetry."""
        tel = self.vehicle.telemetry
        waiting: list[str] = []
        fatal: list[str] = []
        if tel.armed is None or not tel.autopilot_ready:
            waiting.append("autopilot not ready")
        if tel.armed:
            fatal.append("vehicle is already armed")
        if tel.gps is None or tel.gps.fix_type < C.GPS_FIX_TYPE_3D_FIX:
            waiting.append(f"GPS fix {tel.gps.fix_type if tel.gps else 'unknown'} (need 3D)")
        if tel.home is None:
            waiting.append("no home position (EKF has no GPS position yet)")
        if tel.prearm_ok is False:
            waiting.append("pre-arm checks failing")
        if tel.battery is None:
            waiting.append("no battery status")
        elif tel.battery.remaining_percent is not None and tel.battery.remaining_percent < self.opts.min_battery_percent:
            fatal.append(f"battery {tel.battery.remaining_percent:.0f} % < {self.opts.min_battery_percent:g} %")
        if tel.home is not None and (self.plan.home_lon or self.plan.home_lat):
            d = haversine_m(tel.home.longitude_deg, tel.home.latitude_deg, self.plan.home_lon, self.plan.home_lat)
            if d > self.opts.home_tolerance_m:
                fatal.append(f"vehicle home is {d:.0f} m from the plan's dock (> {self.opts.home_tolerance_m:g} m): "
                             "wrong vehicle or wrong plan")
        return waiting, fatal

    async def upload(self) -> None:
        mission = self.vehicle.mission
        try:
            self.upload_stats = await mission.upload_and_verify(self.wire)
            if self.plan.fence:
                await mission.upload_and_verify(fence_to_wire(self.plan.fence), mission_type=MISSION_TYPE_FENCE)
            rally = getattr(self.plan, "rally_points", ())
            if rally:
                await mission.upload_and_verify(rally_to_wire(rally), mission_type=MISSION_TYPE_RALLY)
            await mission.set_current(1)
        except MissionError as exc:
            raise self.fail(FlyResult.UPLOAD_FAILED, str(exc)) from exc
        await self.apply_fence()
        stats = self.upload_stats
        self.event(EventKind.UPLOADED, f"{len(self.wire) - 1} items verified in {stats.wall_s:.2f} s "
                   f"({stats.attempts} attempt(s), {stats.resends} re-sends)"
                   + (f", fence of {len(self.plan.fence)} vertices" if self.plan.fence else ""))

    async def apply_fence(self) -> None:
        """Change the vehicle's fence as decided (only what the operator allowed) and enable the plan's types."""
        decision = self.fence_plan
        try:
            for name, value in decision.set_params:
                await self.vehicle.params.set(name, value)
            if decision.disable_types:
                await self.vehicle.action.set_fence_enabled(False, types=int(decision.disable_types))
            if self.plan.fence and decision.enable_types:
                await self.vehicle.action.set_fence_enabled(True, types=int(decision.enable_types))
        except (ActionError, ParamError) as exc:
            raise self.fail(FlyResult.UPLOAD_FAILED, f"fence not set up: {exc}") from exc
        for note in decision.notes:
            self.event(EventKind.FENCE, note)
        if self.plan.fence and decision.enable_types:
            names = "+".join(t.name.lower() for t in FenceType if t in decision.enable_types)
            self.event(EventKind.FENCE, f"enabled {names} (p2 = {int(decision.enable_types)})")

    def takeoff_altitude_m(self) -> float:
        for item in self.plan.items:
            if item.command in NAV_COMMANDS and item.command not in _ENDS_ON_GROUND and item.altitude_m > 0:
                return float(item.altitude_m)
        return float(self.plan.altitude_m or 10.0)

    async def launch(self) -> None:
        tel, action = self.vehicle.telemetry, self.vehicle.action
        try:
            await self.retry_refused(lambda: action.set_mode(FlightMode.GUIDED), "set GUIDED")
            self.commanded_mode = FlightMode.GUIDED
            await action.arm(retry_vehicle_s=self.opts.arm_retry_vehicle_s)
        except (ActionError, TelemetryError) as exc:
            raise self.fail(FlyResult.TAKEOFF_FAILED, str(exc)) from exc
        self.armed = True
        self.event(EventKind.ARMED)
        altitude = self.takeoff_altitude_m()
        try:
            await action.takeoff(altitude)
        except ActionError as exc:
            with contextlib.suppress(ActionError):
                await action.disarm()
            raise self.fail(FlyResult.TAKEOFF_FAILED, str(exc)) from exc
        self.event(EventKind.TOOK_OFF, f"to {altitude:g} m")
        try:
            if not self.first_nav_is_takeoff:
                # ArduCopter refuses AUTO on the ground unless the mission starts with a takeoff
                await tel.wait_for(lambda: (tel.position is not None and tel.position.relative_altitude_m > 1.0),
                                   what="takeoff", vehicle_timeout_s=60.0)
            await action.set_mode(FlightMode.AUTO)
            self.commanded_mode = FlightMode.AUTO
            self.auto_started = True
            self.event(EventKind.MISSION_STARTED)
        except (ActionError, TelemetryError) as exc:
            self.event(EventKind.STATUSTEXT, f"could not start the mission: {exc}")
            self.failsafe_reason = f"mission not started: {exc}"
            self.pending_mode = FlightMode.RTL
            return
        if not self.has_camera_items and self.plan.trigger_distance_m > 0:
            # the plan has no camera items: trigger for the whole mission (ArduPilot's CAM_TRIGG_DIST)
            try:
                await self.vehicle.camera.set_trigger_distance(self.plan.trigger_distance_m)
                self.set_trigger = True
            except FlightError as exc:
                self.event(EventKind.STATUSTEXT, f"camera trigger distance not set: {exc}")

    async def retry_refused(self, attempt: Callable[[], Any], what: str) -> None:
        """Repeat an action ArduPilot refuses while its EKF settles, for up to arm_retry_vehicle_s."""
        tel = self.vehicle.telemetry
        start = tel.vehicle_time_s
        while True:
            try:
                await attempt()
                return
            except ActionError as exc:
                if exc.result.name not in ("FAILED", "TEMPORARILY_REJECTED", "NOT_CONFIRMED"):
                    raise
                now = tel.vehicle_time_s
                if start is None or now is None or now - start > self.opts.arm_retry_vehicle_s:
                    raise
            await tel.sleep_vehicle(1.0, what=what)

    # ---- following the flight -----------------------------------------------------------------

    async def monitor(self) -> tuple[FlyResult, str]:
        conn, tel = self.vehicle.connection, self.vehicle.telemetry
        sub = conn.subscribe(("HEARTBEAT", "MISSION_CURRENT", "MISSION_ITEM_REACHED", "CAMERA_FEEDBACK",
                              "CAMERA_IMAGE_CAPTURED", "STATUSTEXT", "EXTENDED_SYS_STATE", "GLOBAL_POSITION_INT"))

        def on_link(up: bool) -> None:
            sub.push(_Link(up))

        conn.add_link_listener(on_link)
        abort_task = asyncio.create_task(self._watch_abort(sub)) if self.abort is not None else None
        self.armed = bool(tel.armed) or self.armed
        budget = self.expected_duration_s() * self.opts.budget_factor + self.opts.budget_margin_vehicle_s
        try:
            while True:
                loop_now = asyncio.get_running_loop().time()
                if self.pending_mode is not None and conn.link_up and loop_now - self.pending_tried_at > 2.0:
                    self.pending_tried_at = loop_now
                    await self.command_mode(self.pending_mode)
                msg = await sub.get(1.0)
                if msg is None:
                    if self.link_lost_at is not None and \
                            asyncio.get_running_loop().time() - self.link_lost_at > self.opts.link_giveup_s:
                        self.link_gave_up = True
                        return FlyResult.LINK_LOST, f"no link for {self.opts.link_giveup_s:g} s"
                    continue
                done = await self.handle(msg)
                if done:
                    return self.outcome()
                start = self.start_vehicle_s
                if (not self.budget_exceeded and start is not None and tel.vehicle_time_s is not None
                        and tel.vehicle_time_s - start > budget and self.armed):
                    self.budget_exceeded = True
                    self.event(EventKind.BUDGET_EXCEEDED, f"{budget:.0f} s of vehicle time")
                    await self.command_mode(FlightMode.RTL)
        finally:
            sub.close()
            conn.remove_link_listener(on_link)
            if abort_task is not None:
                abort_task.cancel()
            if self.set_trigger and conn.link_up:
                with contextlib.suppress(FlightError):
                    await self.vehicle.camera.set_trigger_distance(0)

    def expected_duration_s(self) -> float:
        """The planner's estimate, or path length at 5 m/s plus climbs when the plan has none (QGC files)."""
        if self.plan.duration_s > 0:
            return self.plan.duration_s
        points = [(self.plan.home_lon, self.plan.home_lat)] if (self.plan.home_lon or self.plan.home_lat) else []
        points += [(it.lon, it.lat) for it in self.plan.items if it.command in NAV_COMMANDS and (it.lat or it.lon)]
        length = sum(haversine_m(a[0], a[1], b[0], b[1]) for a, b in itertools.pairwise(points))
        return length / 5.0 + 2 * self.takeoff_altitude_m()

    async def _watch_abort(self, sub: Any) -> None:
        assert self.abort is not None
        await self.abort.wait()
        sub.push(_Abort())

    async def handle(self, msg: Any) -> bool:
        """Process one message or marker; True once the vehicle has landed and disarmed."""
        if isinstance(msg, _Link):
            return await self.on_link(msg.up)
        if isinstance(msg, _Abort):
            self.aborted = True
            self.event(EventKind.ABORT_REQUESTED, self.opts.abort_action.value)
            if not self.airborne and self.armed:
                with contextlib.suppress(ActionError):
                    await self.vehicle.action.disarm()
            else:
                await self.command_mode(FlightMode.RTL if self.opts.abort_action == AbortAction.RTL
                                        else FlightMode.LAND)
            return False
        kind = msg.get_type()
        if kind == "GLOBAL_POSITION_INT":
            pos = self.vehicle.telemetry.position
            if pos is not None and (msg.lat or msg.lon):
                self.track.add(pos)
                if self.home_lonlat is not None:
                    self.max_distance_m = max(self.max_distance_m, haversine_m(
                        pos.longitude_deg, pos.latitude_deg, *self.home_lonlat))
                if pos.relative_altitude_m > 1.0:
                    self.airborne = True
                if self.at_last_waypoint(pos) and not self.mission_done:
                    self.pass_items(len(self.wire) - 1)
                    await self.mission_finished()
            return False
        if kind == "HEARTBEAT":
            if msg.get_srcComponent() != self.vehicle.connection.target_component:
                return False
            return await self.on_heartbeat(msg)
        if kind == "EXTENDED_SYS_STATE":
            state = self.vehicle.telemetry.landed_state
            if state is not None and state != self.landed_state:
                self.landed_state = state
                if state in (LandedState.IN_AIR, LandedState.TAKING_OFF):
                    self.airborne = True
                if state == LandedState.ON_GROUND and self.airborne:
                    self.event(EventKind.LANDED)
                    return not self.armed
            return False
        if kind == "MISSION_CURRENT":
            if msg.seq != self.current_seq:
                self.current_seq = msg.seq
                self.event(EventKind.CURRENT_ITEM, f"{msg.seq}/{len(self.wire) - 1}", keep=False)
            if self.auto_started:
                # the autopilot moved on: every item before the current one is done (DO items run between)
                self.pass_items(msg.seq - 1)
                if (msg.seq == self.last_nav_seq and getattr(msg, "mission_state", 0) == C.MISSION_STATE_COMPLETE
                        and not self.mission_done):
                    self.pass_items(len(self.wire) - 1)
                    await self.mission_finished()
            return False
        if kind == "MISSION_ITEM_REACHED":
            # not a progress count on ArduPilot (merged, also for DO items, RTL only after touchdown): logged only
            log.debug("%s: vehicle reports item %d reached", self.plan.dock_id, msg.seq)
            return False
        if kind in ("CAMERA_FEEDBACK", "CAMERA_IMAGE_CAPTURED"):
            info = capture_from_message(msg)
            if info is not None and info.index not in self.captures:
                self.captures[info.index] = info
                self.event(EventKind.CAPTURE, f"photo {info.index}", keep=False)
            return False
        if kind == "STATUSTEXT" and msg.severity <= C.MAV_SEVERITY_WARNING:
            text = (msg.text if isinstance(msg.text, str) else msg.text.decode(errors="replace")).rstrip("\x00")
            self.event(EventKind.STATUSTEXT, text)
            # the text that explains a takeover may arrive after it (sent while the link was down)
            if self.failsafe_reason and ":" not in self.failsafe_reason \
                    and any(w in text.lower() for w in _FAILSAFE_WORDS):
                self.failsafe_reason = f"{self.failsafe_reason}: {text}"
        return False

    def pass_items(self, upto_seq: int) -> None:
        """Items 1..upto_seq are done; each newly done one is an ITEM_REACHED event."""
        for seq in range(len(self.reached) + 1, min(upto_seq, len(self.wire) - 1) + 1):
            self.reached.append(seq)
            self.event(EventKind.ITEM_REACHED, f"{seq}/{len(self.wire) - 1}", keep=False)

    def at_last_waypoint(self, pos: Position) -> bool:
        """Hovering at the last waypoint of a mission that does not end on the ground (the copter stays in AUTO)."""
        if self.ends_on_ground or not self.auto_started or self.current_seq != self.last_nav_seq:
            return False
        last = self.wire[self.last_nav_seq]
        if last.command != MavCmd.NAV_WAYPOINT or not (last.x or last.y):
            return False
        off_m = haversine_m(pos.longitude_deg, pos.latitude_deg, last.y / 1e7, last.x / 1e7)
        return off_m <= self.opts.waypoint_reached_m and abs(pos.relative_altitude_m - last.z) <= 2.0

    async def mission_finished(self) -> None:
        self.mission_done = True
        if not self.ends_on_ground and self.mode == FlightMode.AUTO and self.armed:
            # a copter hovers in AUTO after its last waypoint: bring it home
            self.event(EventKind.RETURN_COMMANDED, "end of mission")
            await self.command_mode(FlightMode.RTL)

    async def on_heartbeat(self, msg: Any) -> bool:
        mode: FlightMode | int
        try:
            mode = FlightMode(msg.custom_mode)
        except ValueError:
            mode = int(msg.custom_mode)
        if mode != self.mode:
            previous, self.mode = self.mode, mode
            name = mode.name if isinstance(mode, FlightMode) else str(mode)
            self.event(EventKind.MODE_CHANGED, name)
            if previous is not None and mode != self.commanded_mode and self.armed and self.airborne:
                self.on_vehicle_took_over(mode)
        armed = bool(msg.base_mode & C.MAV_MODE_FLAG_SAFETY_ARMED)
        if armed != self.armed:
            self.armed = armed
            if not armed:
                self.event(EventKind.DISARMED)
                on_ground = self.landed_state in (None, LandedState.ON_GROUND, LandedState.UNKNOWN)
                pos = self.vehicle.telemetry.position
                low = pos is None or pos.relative_altitude_m < 1.0
                return on_ground or low
        return False

    def on_vehicle_took_over(self, mode: FlightMode | int) -> None:
        """A mode change we did not command while flying: a failsafe (or a pilot) took over."""
        tel = self.vehicle.telemetry
        since = (tel.vehicle_time_s or 0.0) - 30.0
        texts = [t for t in tel.recent_texts(since_vehicle_s=since) if any(w in t.lower() for w in _FAILSAFE_WORDS)]
        name = mode.name if isinstance(mode, FlightMode) else str(mode)
        reason = f"vehicle switched to {name}" + (f": {texts[-1]}" if texts else "")
        if mode in _RETURN_MODES or texts:
            self.failsafe_reason = self.failsafe_reason or reason
            self.event(EventKind.FAILSAFE, reason)
        self.commanded_mode = mode if isinstance(mode, FlightMode) else self.commanded_mode
        self.pending_mode = None

    async def on_link(self, up: bool) -> bool:
        loop = asyncio.get_running_loop()
        if not up:
            self.link_lost_at = loop.time()
            self.event(EventKind.LINK_LOST, f"no messages for {self.vehicle.connection.link_timeout_s:g} s")
            return False
        silent_s = self.vehicle.connection.link_timeout_s
        if self.link_lost_at is not None:
            silent_s += loop.time() - self.link_lost_at
        self.link_lost_at = None
        self.event(EventKind.LINK_RESTORED, f"after {silent_s:.1f} s of silence")
        tel = self.vehicle.telemetry
        # a vehicle that rebooted forgets stream rates; the mission stays as verified (never re-uploaded)
        tel.request_rates(self.opts.stream_rates_hz)
        tel.request_message(C.MAVLINK_MSG_ID_HOME_POSITION)
        return False

    async def command_mode(self, mode: FlightMode) -> None:
        """Switch mode; if the link is down, remember it and try again when it is back."""
        self.commanded_mode = mode
        try:
            await self.vehicle.action.set_mode(mode, confirm_vehicle_s=5.0)
            self.pending_mode = None
            if mode in _RETURN_MODES:
                self.event(EventKind.RETURN_COMMANDED, mode.name)
        except (ActionError, TelemetryError) as exc:
            self.pending_mode = mode
            self.event(EventKind.STATUSTEXT, f"{mode.name} not confirmed yet: {exc}")

    def send_mode_now(self, mode: FlightMode) -> None:
        conn = self.vehicle.connection
        if conn.target_system is not None:
            conn.send(conn.mav.command_long_encode(conn.target_system, conn.target_component, C.MAV_CMD_DO_SET_MODE,
                                                   0, C.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, int(mode), 0, 0, 0, 0, 0))

    # ---- results ---------------------------------------------------------------------------------

    def distance_to_home_m(self) -> float | None:
        tel = self.vehicle.telemetry
        pos = tel.position or self.track.last
        if pos is None:
            return None
        if tel.home is not None:
            return haversine_m(pos.longitude_deg, pos.latitude_deg, tel.home.longitude_deg, tel.home.latitude_deg)
        if self.plan.home_lon or self.plan.home_lat:
            return haversine_m(pos.longitude_deg, pos.latitude_deg, self.plan.home_lon, self.plan.home_lat)
        return None

    def outcome(self) -> tuple[FlyResult, str]:
        if not self.airborne:
            return FlyResult.TAKEOFF_FAILED, "disarmed before leaving the ground"
        if self.ends_on_ground and self.current_seq == self.last_nav_seq and self.mode == FlightMode.AUTO:
            self.mission_done = True
            self.pass_items(len(self.wire) - 1)
        distance = self.distance_to_home_m()
        if self.aborted:
            return FlyResult.ABORTED, f"abort requested ({self.opts.abort_action.value})"
        if self.failsafe_reason and not self.mission_done:
            return FlyResult.FAILSAFE, self.failsafe_reason
        if self.budget_exceeded:
            return FlyResult.TIMEOUT, "mission ran past its time budget; returned"
        if distance is not None and distance > self.opts.dock_radius_m:
            return FlyResult.LANDED_AWAY, f"landed {distance:.0f} m from the dock"
        if self.mission_done:
            return FlyResult.COMPLETED, ""
        return FlyResult.INCOMPLETE, f"landed at item {self.current_seq} of {len(self.wire) - 1}"

    def missing_captures(self) -> tuple[int, ...]:
        if not self.captures:
            return ()
        top = max(self.captures)
        return tuple(i for i in range(1, top + 1) if i not in self.captures)

    def write_track(self, result: FlyResult) -> None:
        if self.track_path is None:
            return
        home = self.vehicle.telemetry.home
        collection = track_geojson(
            self.track, sorted(self.captures.values(), key=lambda c: c.index),
            properties={"dock_id": self.plan.dock_id, "result": result.value},
            home_lonlat=(home.longitude_deg, home.latitude_deg) if home else None)
        write_geojson(self.track_path, collection)

    def report(self, result: FlyResult, detail: str) -> FlightReport:
        tel = self.vehicle.telemetry
        start = self.start_vehicle_s
        duration = (tel.vehicle_time_s - start) if start is not None and tel.vehicle_time_s is not None else 0.0
        used = None
        if self.start_battery is not None and tel.battery is not None and tel.battery.remaining_percent is not None:
            used = self.start_battery - tel.battery.remaining_percent
        return FlightReport(
            result=result, dock_id=self.plan.dock_id, detail=detail, events=tuple(self.events),
            captures=tuple(sorted(self.captures.values(), key=lambda c: c.index)),
            missing_capture_indices=self.missing_captures(), reached_seqs=tuple(self.reached),
            items_total=len(self.wire) - 1, vehicle_duration_s=duration, track_length_m=self.track.length_m,
            max_relative_altitude_m=self.track.max_relative_altitude_m, max_distance_from_home_m=self.max_distance_m,
            landed_distance_to_home_m=self.distance_to_home_m(), battery_used_percent=used,
            failsafe_reason=self.failsafe_reason, upload=self.upload_stats, track_path=self.track_path,
            tlog_path=self.tlog_path, warnings=tuple(self.warnings()))

    def warnings(self) -> list[str]:
        """Things an operator should look at even when the flight completed."""
        out = []
        expects_photos = self.has_camera_items or self.plan.trigger_distance_m > 0
        if expects_photos and self.airborne and not self.captures:
            out.append("the plan triggers the camera but the vehicle reported no photos "
                       "(is a camera configured on the autopilot?)")
        missing = self.missing_captures()
        if missing:
            out.append(f"{len(missing)} photos were taken but not reported (link loss): indices {missing[:10]}")
        return out


async def fly(plan: MissionPlan, vehicle: Vehicle, *, options: FlyOptions | None = None, log_dir: Path | None = None,
              abort: asyncio.Event | None = None,
              on_event: Callable[[FlightEvent], None] | None = None) -> FlightReport:
    """Fly ``plan`` on ``vehicle`` and return once it has landed and disarmed (or the link is gone for good).

    Raises InvalidInput for a plan that must not be flown and FlightError(FlyResult.…) when the flight
    cannot start (pre-flight, upload or takeoff); once airborne the outcome is in the report.
    Setting ``abort`` returns the vehicle (RTL, or LAND per options) and ends with ABORTED.
    """
    opts = options or FlyOptions()
    validate_plan(plan, max_altitude_m=opts.max_altitude_m)
    return await _Flight(plan, vehicle, options=opts, log_dir=log_dir, abort=abort, on_event=on_event).run()


__all__ = ["AbortAction", "EventKind", "FlightEvent", "FlightReport", "FlyOptions", "FlyResult", "Position", "fly",
           "validate_plan"]
