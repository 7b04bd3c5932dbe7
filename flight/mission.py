"""Mission plugin: upload, download, verify, clear and follow missions, fences and rally points
over the MAVLink mission protocol, written to ArduPilot's observed behaviour (ARDUPILOT.md).

Uploads answer MISSION_REQUEST and MISSION_REQUEST_INT alike, and do not only react: when no new
request arrives within a few round trips, the expected item is re-sent together with the next
few (ArduPilot accepts any item whose seq is the one it expects), which keeps an upload alive
at 30 % packet loss where a purely reactive client exhausts the vehicle's eight 1-s re-requests.
Uploads are not atomic on ArduPilot, so ``upload_and_verify`` always downloads and compares.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from dockpatrol.errors import FlightError
from flight.connection import MavConnection, MessageStream, Subscription
from missions.types import FenceVertex, MissionItem, MissionPlan

C = mavlink
MISSION_TYPE_MISSION = C.MAV_MISSION_TYPE_MISSION
MISSION_TYPE_FENCE = C.MAV_MISSION_TYPE_FENCE
MISSION_TYPE_RALLY = C.MAV_MISSION_TYPE_RALLY
_TYPE_NAMES = {MISSION_TYPE_MISSION: "mission", MISSION_TYPE_FENCE: "fence", MISSION_TYPE_RALLY: "rally points"}


class MissionResult(Enum):
    """Outcome of a mission-protocol transfer; the vehicle's MISSION_ACK codes map onto it."""

    SUCCESS = "success"
    ERROR = "error"
    UNSUPPORTED_FRAME = "unsupported_frame"
    UNSUPPORTED = "unsupported"
    TOO_MANY_ITEMS = "too_many_items"
    INVALID = "invalid"
    INVALID_PARAM = "invalid_param"
    INVALID_SEQUENCE = "invalid_sequence"
    DENIED = "denied"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    MISMATCH = "mismatch"
    NO_SYSTEM = "no_system"
    INVALID_ARGUMENT = "invalid_argument"


ACK_RESULTS: dict[int, MissionResult] = {
    C.MAV_MISSION_ACCEPTED: MissionResult.SUCCESS,
    C.MAV_MISSION_ERROR: MissionResult.ERROR,
    C.MAV_MISSION_UNSUPPORTED_FRAME: MissionResult.UNSUPPORTED_FRAME,
    C.MAV_MISSION_UNSUPPORTED: MissionResult.UNSUPPORTED,
    C.MAV_MISSION_NO_SPACE: MissionResult.TOO_MANY_ITEMS,
    C.MAV_MISSION_INVALID: MissionResult.INVALID,
    C.MAV_MISSION_INVALID_PARAM1: MissionResult.INVALID_PARAM,
    C.MAV_MISSION_INVALID_PARAM2: MissionResult.INVALID_PARAM,
    C.MAV_MISSION_INVALID_PARAM3: MissionResult.INVALID_PARAM,
    C.MAV_MISSION_INVALID_PARAM4: MissionResult.INVALID_PARAM,
    C.MAV_MISSION_INVALID_PARAM5_X: MissionResult.INVALID_PARAM,
    C.MAV_MISSION_INVALID_PARAM6_Y: MissionResult.INVALID_PARAM,
    C.MAV_MISSION_INVALID_PARAM7: MissionResult.INVALID_PARAM,
    C.MAV_MISSION_INVALID_SEQUENCE: MissionResult.INVALID_SEQUENCE,
    C.MAV_MISSION_DENIED: MissionResult.DENIED,
    C.MAV_MISSION_OPERATION_CANCELLED: MissionResult.CANCELLED,
}
_ACK_HINTS = {
    MissionResult.TOO_MANY_ITEMS: "the vehicle cannot store that many items; split the survey into sorties",
    MissionResult.DENIED: "another client is uploading to this vehicle",
    MissionResult.CANCELLED: "the vehicle gave up waiting for items (link too lossy?)",
}


#: ACKs that answer a count or item request; anything else seen while reading is left over from an upload.
_READ_REFUSALS = frozenset({MissionResult.DENIED, MissionResult.UNSUPPORTED})


class MissionError(FlightError):
    """A mission transfer failed; ``result`` is a MissionResult and ``call`` the operation."""


GLOBAL_FRAMES = frozenset({C.MAV_FRAME_GLOBAL, C.MAV_FRAME_GLOBAL_INT, C.MAV_FRAME_GLOBAL_RELATIVE_ALT,
                           C.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, C.MAV_FRAME_GLOBAL_TERRAIN_ALT,
                           C.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT})
_RELATIVE_FRAMES = frozenset({C.MAV_FRAME_GLOBAL_RELATIVE_ALT, C.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT})
_TERRAIN_FRAMES = frozenset({C.MAV_FRAME_GLOBAL_TERRAIN_ALT, C.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT})
#: Commands whose position ArduPilot stores and gives back; the others' frame and x/y are not compared.
_LOCATED = frozenset({C.MAV_CMD_NAV_WAYPOINT, C.MAV_CMD_NAV_LOITER_UNLIM, C.MAV_CMD_NAV_LOITER_TURNS,
                      C.MAV_CMD_NAV_LOITER_TIME, C.MAV_CMD_NAV_LAND, C.MAV_CMD_NAV_TAKEOFF, C.MAV_CMD_DO_SET_HOME,
                      C.MAV_CMD_DO_SET_ROI, C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                      C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION, C.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
                      C.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION, C.MAV_CMD_NAV_FENCE_RETURN_POINT,
                      C.MAV_CMD_NAV_RALLY_POINT})
#: Params ArduPilot keeps per command (0-based); others may come back as 0 and are not compared.
_KEPT_PARAMS: dict[int, tuple[int, ...]] = {
    C.MAV_CMD_NAV_WAYPOINT: (0,),
    C.MAV_CMD_NAV_LOITER_TURNS: (0,),
    C.MAV_CMD_NAV_LOITER_TIME: (0,),
    C.MAV_CMD_DO_CHANGE_SPEED: (1,),
    C.MAV_CMD_DO_SET_CAM_TRIGG_DIST: (0,),
    C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION: (0,),
    C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION: (0,),
    C.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION: (0,),
    C.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION: (0,),
}
_NO_ALTITUDE = frozenset({C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
                          C.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION, C.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION})


@dataclass(frozen=True)
class WireItem:
    """A mission item exactly as MISSION_ITEM_INT carries it (x/y: degE7 in global frames, else raw p5/p6)."""

    seq: int
    command: int
    frame: int = C.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
    params: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    x: int = 0
    y: int = 0
    z: float = 0.0
    autocontinue: bool = True
    mission_type: int = MISSION_TYPE_MISSION


@dataclass(frozen=True)
class UploadTuning:
    """Retry policy for transfers; the re-send timer adapts to the measured round trip within bounds."""

    window_items: int = 4
    resend_min_s: float = 0.05
    resend_max_s: float = 1.0
    first_resend_s: float = 0.25
    stall_timeout_s: float = 9.0
    count_retries: int = 12
    attempts: int = 3
    busy_wait_s: float = 2.0


@dataclass(frozen=True)
class TransferStats:
    """What one transfer cost: items, wall seconds, packets sent and how many of them were re-sends."""

    items: int
    wall_s: float
    packets_sent: int
    resends: int
    attempts: int = 1


@dataclass(frozen=True)
class MissionProgress:
    """Current navigation item, total items (without home) and the item just reached, if any."""

    current_seq: int
    total: int
    reached_seq: int | None = None


# ---- plan → wire items ----------------------------------------------------------------------------------


def item_to_wire(item: MissionItem, seq: int) -> WireItem:
    """MissionItem in MAVLink terms; lat/lon are params 5/6, scaled to degE7 only in global frames."""
    if item.frame in GLOBAL_FRAMES:
        x, y = round(item.lat * 1e7), round(item.lon * 1e7)
    else:
        x, y = round(item.lat), round(item.lon)
    return WireItem(seq=seq, command=int(item.command), frame=int(item.frame),
                    params=tuple(float(p) for p in item.params),  # type: ignore[arg-type]
                    x=x, y=y, z=float(item.altitude_m), autocontinue=item.autocontinue)


def mission_to_wire(plan: MissionPlan) -> list[WireItem]:
    """Home placeholder at seq 0 (ArduPilot ignores its content) followed by the plan's items."""
    home = WireItem(seq=0, command=C.MAV_CMD_NAV_WAYPOINT, frame=C.MAV_FRAME_GLOBAL,
                    x=round(plan.home_lat * 1e7), y=round(plan.home_lon * 1e7), z=0.0)
    return [home, *(item_to_wire(item, i + 1) for i, item in enumerate(plan.items))]


def fence_to_wire(fence: Sequence[FenceVertex]) -> list[WireItem]:
    out = []
    for i, v in enumerate(fence):
        cmd = C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION if v.inclusion else C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION
        out.append(WireItem(seq=i, command=cmd, frame=C.MAV_FRAME_GLOBAL, params=(float(v.vertex_count), 0.0, 0.0, 0.0),
                            x=round(v.lat * 1e7), y=round(v.lon * 1e7), mission_type=MISSION_TYPE_FENCE))
    return out


def rally_to_wire(points: Sequence[Any]) -> list[WireItem]:
    return [WireItem(seq=i, command=C.MAV_CMD_NAV_RALLY_POINT, frame=C.MAV_FRAME_GLOBAL_RELATIVE_ALT,
                     x=round(p.lat * 1e7), y=round(p.lon * 1e7), z=float(p.altitude_m), mission_type=MISSION_TYPE_RALLY)
            for i, p in enumerate(points)]


def verify_items(expected: Sequence[WireItem], actual: Sequence[WireItem], *, mission_type: int) -> list[str]:
    """Differences between what was uploaded and what the vehicle holds, as ArduPilot normalises it.

    Seq 0 of a mission is home (replaced by the vehicle); relative frames 3/6 are one class;
    only positions and the params ArduPilot keeps for a command are compared.
    """
    problems: list[str] = []
    if len(actual) != len(expected):
        problems.append(f"vehicle holds {len(actual)} items, expected {len(expected)}")
    first = 1 if mission_type == MISSION_TYPE_MISSION else 0
    for exp, got in zip(expected[first:], actual[first:], strict=False):
        where = f"item {exp.seq}"
        if got.command != exp.command:
            problems.append(f"{where}: command {got.command}, expected {exp.command}")
            continue
        if exp.command in _LOCATED and exp.frame in GLOBAL_FRAMES:
            if (got.x, got.y) != (exp.x, exp.y):
                off_m = math.hypot((got.x - exp.x) * _M_PER_E7_LAT, (got.y - exp.y) * _M_PER_E7_LAT *
                                   math.cos(math.radians(exp.x / 1e7)))
                problems.append(f"{where}: position ({got.x}, {got.y}), expected ({exp.x}, {exp.y}) in 1e-7°: "
                                f"{off_m:.2f} m off")
            if exp.command not in _NO_ALTITUDE and mission_type != MISSION_TYPE_FENCE:
                if _frame_class(got.frame) != _frame_class(exp.frame):
                    problems.append(f"{where}: frame {got.frame}, expected {exp.frame}")
                got_cm, want_cm = round(got.z * 100), storable_altitude_cm(exp.z)
                # ArduPilot truncates to whole cm; an autopilot that keeps floats gives the rounded value back
                if not want_cm <= got_cm <= max(want_cm, round(exp.z * 100)):
                    problems.append(f"{where}: altitude {got_cm / 100:.2f} m, expected {exp.z:g} m (stored as "
                                    f"{want_cm} cm): {(got_cm - want_cm):+d} cm")
        for i in _KEPT_PARAMS.get(exp.command, ()):
            if not math.isclose(got.params[i], exp.params[i], rel_tol=1e-5, abs_tol=1e-4):
                problems.append(f"{where}: param{i + 1} {got.params[i]:g}, expected {exp.params[i]:g}")
    return problems


#: Metres per 1e-7 degree of latitude (and of longitude at the equator), WGS84 mean.
_M_PER_E7_LAT = 0.0111319


def storable_altitude_cm(z_m: float) -> int:
    """What ArduPilot keeps of an altitude sent in MISSION_ITEM_INT: float32 × 100 in float32, truncated to cm."""
    return int(np.float32(z_m) * np.float32(100.0))


def _frame_class(frame: int) -> str:
    if frame in _RELATIVE_FRAMES:
        return "relative"
    if frame in _TERRAIN_FRAMES:
        return "terrain"
    return "absolute"


def _wire_from_msg(msg: Any) -> WireItem:
    if msg.get_type() == "MISSION_ITEM":
        scale = 1e7 if msg.frame in GLOBAL_FRAMES else 1.0
        x, y = round(msg.x * scale), round(msg.y * scale)
    else:
        x, y = int(msg.x), int(msg.y)
    params = tuple(0.0 if math.isnan(p) else float(p) for p in (msg.param1, msg.param2, msg.param3, msg.param4))
    return WireItem(seq=msg.seq, command=msg.command, frame=msg.frame, params=params,  # type: ignore[arg-type]
                    x=x, y=y, z=float(msg.z), autocontinue=bool(msg.autocontinue),
                    mission_type=getattr(msg, "mission_type", MISSION_TYPE_MISSION))


# ---- the plugin ---------------------------------------------------------------------------------------------


class Mission:
    """Mission transfers and progress for one vehicle."""

    def __init__(self, conn: MavConnection, *, tuning: UploadTuning | None = None) -> None:
        self._conn = conn
        self.tuning = tuning or UploadTuning()
        self._lock = asyncio.Lock()

    def _target(self, call: str) -> tuple[int, int]:
        if self._conn.target_system is None:
            raise MissionError(MissionResult.NO_SYSTEM, call, "no vehicle heartbeat yet")
        return self._conn.target_system, self._conn.target_component

    def _for_us(self, msg: Any, mission_type: int) -> bool:
        if getattr(msg, "mission_type", MISSION_TYPE_MISSION) != mission_type:
            return False
        target = getattr(msg, "target_system", 0)
        return target in (0, self._conn.source_system)

    # ---- upload -----------------------------------------------------------------------------------

    async def upload(self, items: Sequence[WireItem], *, mission_type: int = MISSION_TYPE_MISSION,
                     tuning: UploadTuning | None = None) -> TransferStats:
        """Upload items (seq 0..n-1; for a mission seq 0 is home) and wait for MISSION_ACK ACCEPTED."""
        call = f"upload_{_TYPE_NAMES[mission_type].replace(' ', '_')}"
        for i, item in enumerate(items):
            if item.seq != i or item.mission_type != mission_type:
                raise MissionError(MissionResult.INVALID_ARGUMENT, call, f"item {i} has seq {item.seq}, "
                                   f"mission_type {item.mission_type}")
        async with self._lock:
            return await self._upload(list(items), mission_type, tuning or self.tuning, call)

    async def _upload(self, items: list[WireItem], mission_type: int, t: UploadTuning, call: str) -> TransferStats:
        conn = self._conn
        ts, tc = self._target(call)
        loop = asyncio.get_running_loop()
        n = len(items)
        started = loop.time()
        sent_at: dict[int, float] = {}
        packets = resends = 0
        srtt: float | None = None
        want = -1
        sent_upto = -1

        def send_item(seq: int) -> None:
            nonlocal packets, resends
            it = items[seq]
            conn.send(conn.mav.mission_item_int_encode(ts, tc, it.seq, it.frame, it.command, 0, int(it.autocontinue),
                                                       *it.params, it.x, it.y, it.z, mission_type))
            packets += 1
            if seq in sent_at:
                resends += 1
            sent_at[seq] = loop.time()

        def send_count() -> None:
            nonlocal packets
            conn.send(conn.mav.mission_count_encode(ts, tc, n, mission_type))
            packets += 1
            sent_at[-1] = loop.time()

        with conn.subscribe(("MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK")) as sub:
            send_count()
            count_sends = 1
            last_send = last_progress = loop.time()
            while True:
                resend_s = t.first_resend_s if srtt is None else min(t.resend_max_s, max(t.resend_min_s, 4 * srtt))
                msg = await sub.get(max(0.0, resend_s - (loop.time() - last_send)))
                now = loop.time()
                if msg is None:
                    if now - last_progress > t.stall_timeout_s:
                        where = "MISSION_COUNT" if want < 0 else f"item {want}"
                        raise MissionError(MissionResult.TIMEOUT, call,
                                           f"no answer to {where} for {t.stall_timeout_s:g} s")
                    if want < 0:
                        if count_sends > t.count_retries:
                            raise MissionError(MissionResult.TIMEOUT, call, "the vehicle never requested an item")
                        send_count()
                        count_sends += 1
                    else:
                        for seq in range(want, min(n, want + t.window_items)):
                            send_item(seq)
                        sent_upto = max(sent_upto, min(n, want + t.window_items) - 1)
                    last_send = now
                    continue
                if not self._for_us(msg, mission_type):
                    continue
                if msg.get_type() == "MISSION_ACK":
                    result = ACK_RESULTS.get(msg.type, MissionResult.ERROR)
                    if result == MissionResult.INVALID_SEQUENCE:
                        continue  # a duplicate or out-of-order item: harmless, the upload goes on
                    if result == MissionResult.SUCCESS and (sent_upto >= n - 1 or n == 0):
                        return TransferStats(items=n, wall_s=loop.time() - started, packets_sent=packets,
                                             resends=resends)
                    if result == MissionResult.SUCCESS:
                        continue  # a late ACK of an earlier operation
                    # ArduPilot answers ERROR to an item sent after it finished: the final ACK was lost
                    if result == MissionResult.ERROR and n > 0 and sent_upto >= n - 1 \
                            and await self._count(mission_type, t) == n:
                        return TransferStats(items=n, wall_s=loop.time() - started, packets_sent=packets,
                                                 resends=resends)
                    raise MissionError(result, call, _ACK_HINTS.get(result, f"MISSION_ACK type {msg.type}"
                                                                    f" after item {max(want, 0)}"))
                seq = msg.seq
                if seq >= n or seq < want:
                    continue  # a stale re-request from before the vehicle accepted more
                if seq > want:
                    prev = sent_at.get(seq - 1)
                    if prev is not None:
                        sample = now - prev
                        srtt = sample if srtt is None else 0.875 * srtt + 0.125 * sample
                    want = seq
                    last_progress = now
                    start = seq if seq > sent_upto else sent_upto + 1
                else:
                    start = seq  # the vehicle re-requested: the item was lost
                for s in range(start, min(n, seq + t.window_items)):
                    send_item(s)
                sent_upto = max(sent_upto, min(n, seq + t.window_items) - 1)
                last_send = now

    # ---- download and count ----------------------------------------------------------------------------

    async def count(self, mission_type: int = MISSION_TYPE_MISSION) -> int:
        """Number of items the vehicle holds (a mission counts home at seq 0)."""
        async with self._lock:
            return await self._count(mission_type, self.tuning)

    async def _count(self, mission_type: int, t: UploadTuning) -> int:
        with self._conn.subscribe(("MISSION_COUNT", "MISSION_ACK")) as sub:
            return await self._request_count(sub, mission_type, t, "mission_count")

    async def _request_count(self, sub: Subscription, mission_type: int, t: UploadTuning, call: str) -> int:
        conn = self._conn
        ts, tc = self._target(call)
        loop = asyncio.get_running_loop()
        started = loop.time()
        while loop.time() - started <= t.stall_timeout_s:
            conn.send(conn.mav.mission_request_list_encode(ts, tc, mission_type))
            deadline = loop.time() + max(t.first_resend_s, t.resend_min_s)
            while (remaining := deadline - loop.time()) > 0:
                msg = await sub.get(remaining)
                if msg is None or not self._for_us(msg, mission_type):
                    continue
                if msg.get_type() == "MISSION_COUNT":
                    return int(msg.count)
                result = ACK_RESULTS.get(msg.type, MissionResult.ERROR)
                # other ACKs are late answers to re-sent upload items (ERROR, INVALID_SEQUENCE): not ours
                if result in _READ_REFUSALS:
                    raise MissionError(result, call, _ACK_HINTS.get(result, f"MISSION_ACK type {msg.type}"))
        raise MissionError(MissionResult.TIMEOUT, call, f"no MISSION_COUNT within {t.stall_timeout_s:g} s")

    async def download(self, mission_type: int = MISSION_TYPE_MISSION, *,
                       tuning: UploadTuning | None = None) -> list[WireItem]:
        """All items the vehicle holds, requested a few at a time with per-item re-requests."""
        async with self._lock:
            return await self._download(mission_type, tuning or self.tuning)

    async def _download(self, mission_type: int, t: UploadTuning) -> list[WireItem]:
        conn = self._conn
        call = f"download_{_TYPE_NAMES[mission_type].replace(' ', '_')}"
        ts, tc = self._target(call)
        loop = asyncio.get_running_loop()
        window = max(1, 2 * t.window_items)
        with conn.subscribe(("MISSION_COUNT", "MISSION_ITEM_INT", "MISSION_ITEM", "MISSION_ACK")) as sub:
            count = await self._request_count(sub, mission_type, t, call)
            got: dict[int, WireItem] = {}
            in_flight: dict[int, float] = {}
            next_seq = 0
            srtt: float | None = None
            last_progress = loop.time()
            while len(got) < count:
                now = loop.time()
                resend_s = t.first_resend_s if srtt is None else min(t.resend_max_s, max(t.resend_min_s, 4 * srtt))
                while len(in_flight) < window and next_seq < count:
                    in_flight[next_seq] = now
                    conn.send(conn.mav.mission_request_int_encode(ts, tc, next_seq, mission_type))
                    next_seq += 1
                for seq, sent in list(in_flight.items()):
                    if now - sent >= resend_s:
                        in_flight[seq] = now
                        conn.send(conn.mav.mission_request_int_encode(ts, tc, seq, mission_type))
                if now - last_progress > t.stall_timeout_s:
                    raise MissionError(MissionResult.TIMEOUT, call,
                                       f"{count - len(got)} of {count} items never arrived")
                oldest = min(in_flight.values()) if in_flight else now
                msg = await sub.get(max(0.005, resend_s - (loop.time() - oldest)))
                if msg is None or not self._for_us(msg, mission_type):
                    continue
                kind = msg.get_type()
                if kind == "MISSION_ACK":
                    result = ACK_RESULTS.get(msg.type, MissionResult.ERROR)
                    if result in _READ_REFUSALS:
                        raise MissionError(result, call, _ACK_HINTS.get(result, f"MISSION_ACK type {msg.type}"))
                    continue
                if kind in ("MISSION_ITEM_INT", "MISSION_ITEM") and msg.seq in in_flight:
                    sent = in_flight.pop(msg.seq)
                    sample = loop.time() - sent
                    srtt = sample if srtt is None else 0.875 * srtt + 0.125 * sample
                    got[msg.seq] = _wire_from_msg(msg)
                    last_progress = loop.time()
            conn.send(conn.mav.mission_ack_encode(ts, tc, C.MAV_MISSION_ACCEPTED, mission_type))
        return [got[i] for i in range(count)]

    async def read_home(self, *, tuning: UploadTuning | None = None) -> WireItem:
        """Mission seq 0 as the vehicle holds it: home (altitude AMSL), or all zeros before its EKF origin is set."""
        t = tuning or self.tuning
        conn = self._conn
        call = "read_home"
        ts, tc = self._target(call)
        loop = asyncio.get_running_loop()
        async with self._lock:
            with conn.subscribe(("MISSION_COUNT", "MISSION_ITEM_INT", "MISSION_ITEM", "MISSION_ACK")) as sub:
                await self._request_count(sub, MISSION_TYPE_MISSION, t, call)
                started = loop.time()
                while loop.time() - started <= t.stall_timeout_s:
                    conn.send(conn.mav.mission_request_int_encode(ts, tc, 0, MISSION_TYPE_MISSION))
                    deadline = loop.time() + max(t.first_resend_s, t.resend_min_s)
                    while (remaining := deadline - loop.time()) > 0:
                        msg = await sub.get(remaining)
                        if msg is None or not self._for_us(msg, MISSION_TYPE_MISSION):
                            continue
                        if msg.get_type() in ("MISSION_ITEM_INT", "MISSION_ITEM") and msg.seq == 0:
                            conn.send(conn.mav.mission_ack_encode(ts, tc, C.MAV_MISSION_ACCEPTED,
                                                                  MISSION_TYPE_MISSION))
                            return _wire_from_msg(msg)
        raise MissionError(MissionResult.TIMEOUT, call, f"no mission item 0 within {t.stall_timeout_s:g} s")

    # ---- composite operations ----------------------------------------------------------------------

    async def upload_and_verify(self, items: Sequence[WireItem], *, mission_type: int = MISSION_TYPE_MISSION,
                                tuning: UploadTuning | None = None) -> TransferStats:
        """Upload, then download and compare; retry the whole transfer (uploads are not atomic)."""
        t = tuning or self.tuning
        call = f"upload_{_TYPE_NAMES[mission_type].replace(' ', '_')}"
        last: MissionError | None = None
        for attempt in range(1, t.attempts + 1):
            try:
                stats = await self.upload(items, mission_type=mission_type, tuning=t)
                actual = await self.download(mission_type, tuning=t)
            except MissionError as exc:
                if exc.result not in (MissionResult.TIMEOUT, MissionResult.CANCELLED, MissionResult.DENIED,
                                      MissionResult.ERROR):
                    raise
                last = exc
                if exc.result == MissionResult.DENIED:
                    await asyncio.sleep(t.busy_wait_s)  # another client's upload: the vehicle frees it in ≤ 8 s
                continue
            problems = verify_items(items, actual, mission_type=mission_type)
            if not problems:
                return TransferStats(items=stats.items, wall_s=stats.wall_s, packets_sent=stats.packets_sent,
                                     resends=stats.resends, attempts=attempt)
            last = MissionError(MissionResult.MISMATCH, call, "; ".join(problems[:3]))
        assert last is not None
        raise last

    async def clear(self, mission_type: int = MISSION_TYPE_MISSION) -> None:
        conn = self._conn
        call = f"clear_{_TYPE_NAMES[mission_type].replace(' ', '_')}"
        ts, tc = self._target(call)
        async with self._lock:
            with conn.subscribe(("MISSION_ACK",)) as sub:
                for _ in range(self.tuning.attempts + 2):
                    conn.send(conn.mav.mission_clear_all_encode(ts, tc, mission_type))
                    msg = await sub.get(max(self.tuning.first_resend_s, 0.5))
                    while msg is not None and not self._for_us(msg, mission_type):
                        msg = await sub.get(0.1)
                    if msg is None:
                        continue
                    result = ACK_RESULTS.get(msg.type, MissionResult.ERROR)
                    if result != MissionResult.SUCCESS:
                        raise MissionError(result, call, _ACK_HINTS.get(result, ""))
                    return
        raise MissionError(MissionResult.TIMEOUT, call, "no MISSION_ACK")

    async def set_current(self, seq: int) -> None:
        """MISSION_SET_CURRENT, confirmed by MISSION_CURRENT."""
        conn = self._conn
        ts, tc = self._target("set_current")
        with conn.subscribe(("MISSION_CURRENT",)) as sub:
            for _ in range(self.tuning.attempts + 2):
                conn.send(conn.mav.mission_set_current_encode(ts, tc, seq))
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 1.0
                while (remaining := deadline - loop.time()) > 0:
                    msg = await sub.get(remaining)
                    if msg is not None and msg.seq == seq:
                        return
        raise MissionError(MissionResult.TIMEOUT, "set_current", f"vehicle did not confirm item {seq}")

    def progress(self) -> MessageStream[MissionProgress]:
        """Changes of the current item and every MISSION_ITEM_REACHED; subscribed on call."""
        state = {"current": -1, "total": 0}

        def step(msg: Any) -> MissionProgress | None:
            if msg.get_type() == "MISSION_ITEM_REACHED":
                return MissionProgress(current_seq=state["current"], total=state["total"], reached_seq=msg.seq)
            total = getattr(msg, "total", state["total"])
            if msg.seq == state["current"] and total == state["total"]:
                return None
            state["current"], state["total"] = msg.seq, total
            return MissionProgress(current_seq=msg.seq, total=total)

        return MessageStream(self._conn.subscribe(("MISSION_CURRENT", "MISSION_ITEM_REACHED")), step)
