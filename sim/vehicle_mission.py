"""Vehicle side of the MAVLink mission protocol as ArduPilot implements it, for the simulator.

Missions, fences and rally points each have their own transfer state. Uploads are requested one
item at a time with MISSION_REQUEST (40), re-requested every second and cancelled (ACK 15) after
eight silent seconds; mission uploads write in place (not atomic), fence and rally commit at the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sim.vehicle_model import (
    GLOBAL_FRAMES,
    LOCATION_COMMANDS,
    MISSION_COMMANDS,
    CopterModel,
    SimVehicleConfig,
    StoredItem,
    stored_altitude_m,
)

C = mavlink
MISSION, FENCE, RALLY = C.MAV_MISSION_TYPE_MISSION, C.MAV_MISSION_TYPE_FENCE, C.MAV_MISSION_TYPE_RALLY
FENCE_COMMANDS = frozenset({C.MAV_CMD_NAV_FENCE_RETURN_POINT, C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                            C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION, C.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
                            C.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION})
RALLY_COMMANDS = frozenset({C.MAV_CMD_NAV_RALLY_POINT})

#: Sends one message back to the peer it is addressed to; the transport supplies it.
Reply = Callable[[Any, Any], None]


@dataclass
class UploadRecord:
    """What happened to one upload, as the vehicle saw it (wall-clock seconds; for tests and the bench)."""

    mission_type: int
    count: int
    sender: tuple[int, int]
    started_wall_s: float
    ended_wall_s: float | None = None
    result: int | None = None
    items_accepted: int = 0
    items_rejected: int = 0
    requests_sent: int = 0

    @property
    def duration_s(self) -> float | None:
        return None if self.ended_wall_s is None else self.ended_wall_s - self.started_wall_s


@dataclass
class _Transfer:
    mission_type: int
    count: int
    expected_seq: int
    sender: tuple[int, int]
    peer: Any
    last_receive_s: float
    last_request_s: float
    record: UploadRecord
    buffer: list[StoredItem]


class MissionProtocol:
    """Answers mission-protocol messages for one CopterModel and keeps the upload timers."""

    def __init__(self, *, model: CopterModel, config: SimVehicleConfig, reply: Reply,
                 statustext: Callable[[int, str], None], on_upload_done: Callable[[UploadRecord], None]) -> None:
        self._model = model
        self._config = config
        self._reply = reply
        self._statustext = statustext
        self._on_upload_done = on_upload_done
        self._transfers: dict[int, _Transfer] = {}
        self.uploads: list[UploadRecord] = []
        self._mav = C.MAVLink(None, srcSystem=config.system_id, srcComponent=C.MAV_COMP_ID_AUTOPILOT1)

    # ---- stores -----------------------------------------------------------------------------------

    def _capacity(self, mission_type: int) -> int:
        return {MISSION: self._config.mission_capacity, FENCE: self._config.fence_capacity,
                RALLY: self._config.rally_capacity}[mission_type]

    def _stored(self, mission_type: int) -> list[StoredItem]:
        if mission_type == MISSION:
            return self._model.mission
        if mission_type == FENCE:
            return self._model.fence_items
        return self._model.rally_items

    def receiving(self, mission_type: int = MISSION) -> bool:
        return mission_type in self._transfers

    # ---- dispatch ----------------------------------------------------------------------------------

    def handle(self, msg: Any, peer: Any, now_wall_s: float) -> bool:
        """Handle msg if it belongs to the mission protocol; True when it did."""
        kind = msg.get_type()
        handler = {
            "MISSION_COUNT": self._count,
            "MISSION_ITEM_INT": self._item,
            "MISSION_ITEM": self._item,
            "MISSION_REQUEST_LIST": self._request_list,
            "MISSION_REQUEST_INT": self._request,
            "MISSION_REQUEST": self._request,
            "MISSION_CLEAR_ALL": self._clear_all,
            "MISSION_SET_CURRENT": self._set_current,
            "MISSION_ACK": None,
        }.get(kind, False)
        if handler is False:
            return False
        if handler is None:
            return True
        mission_type = getattr(msg, "mission_type", MISSION)
        if mission_type not in (MISSION, FENCE, RALLY):
            self._ack(peer, msg, C.MAV_MISSION_UNSUPPORTED, mission_type)
            return True
        handler(msg, peer, now_wall_s)
        return True

    def _ack(self, peer: Any, msg: Any, result: int, mission_type: int) -> None:
        self._reply(peer, self._mav.mission_ack_encode(msg.get_srcSystem(), msg.get_srcComponent(), result,
                                                       mission_type))

    def _send_request(self, tr: _Transfer, now_wall_s: float) -> None:
        tr.last_request_s = now_wall_s
        tr.record.requests_sent += 1
        # ArduPilot always asks with MISSION_REQUEST (40), even from clients that send MISSION_ITEM_INT
        self._reply(tr.peer, self._mav.mission_request_encode(tr.sender[0], tr.sender[1], tr.expected_seq,
                                                              tr.mission_type))

    # ---- upload -----------------------------------------------------------------------------------

    def _count(self, msg: Any, peer: Any, now: float) -> None:
        mtype = msg.mission_type
        sender = (msg.get_srcSystem(), msg.get_srcComponent())
        tr = self._transfers.get(mtype)
        if tr is not None:
            if tr.sender != sender:
                self._ack(peer, msg, C.MAV_MISSION_DENIED, mtype)
                return
            # the same client may restart its upload from seq 0
            self._finish(tr, None, now)
        if msg.count > self._capacity(mtype):
            self._ack(peer, msg, C.MAV_MISSION_NO_SPACE, mtype)
            self._statustext(C.MAV_SEVERITY_WARNING, f"Only {self._capacity(mtype)} items are supported")
            return
        record = UploadRecord(mission_type=mtype, count=msg.count, sender=sender, started_wall_s=now)
        self.uploads.append(record)
        if mtype == MISSION and msg.count < len(self._model.mission):
            del self._model.mission[max(msg.count, 1):]
            self._model.mission_changed()
        tr = _Transfer(mission_type=mtype, count=msg.count, expected_seq=0, sender=sender, peer=peer,
                       last_receive_s=now, last_request_s=now, record=record, buffer=[])
        if msg.count == 0:
            self._complete(tr, msg, peer, now)
            return
        self._transfers[mtype] = tr
        self._send_request(tr, now)

    def _item(self, msg: Any, peer: Any, now: float) -> None:
        mtype = msg.mission_type
        tr = self._transfers.get(mtype)
        if tr is None:
            self._ack(peer, msg, C.MAV_MISSION_ERROR, mtype)
            return
        if msg.seq != tr.expected_seq:
            tr.record.items_rejected += 1
            self._ack(peer, msg, C.MAV_MISSION_INVALID_SEQUENCE, mtype)
            return
        if (msg.get_srcSystem(), msg.get_srcComponent()) != tr.sender:
            self._ack(peer, msg, C.MAV_MISSION_DENIED, mtype)
            return
        item, result = _convert(msg, mtype)
        if item is None:
            self._ack(peer, msg, result, mtype)
            self._finish(tr, result, now)
            return
        if mtype == MISSION:
            stored = self._model.mission
            # seq 0 is home: it must be sent, its content is ignored
            if msg.seq > 0:
                if msg.seq < len(stored):
                    stored[msg.seq] = item
                else:
                    stored.append(item)
        else:
            tr.buffer.append(item)
        tr.record.items_accepted += 1
        tr.expected_seq += 1
        tr.last_receive_s = now
        if tr.expected_seq >= tr.count:
            self._complete(tr, msg, peer, now)
            return
        self._send_request(tr, now)

    def _complete(self, tr: _Transfer, msg: Any, peer: Any, now: float) -> None:
        result = C.MAV_MISSION_ACCEPTED
        if tr.mission_type == MISSION:
            del self._model.mission[max(tr.count, 1):]
            self._model.mission_changed()
        elif tr.mission_type == FENCE:
            problem = _fence_problem(tr.buffer)
            if problem:
                self._statustext(C.MAV_SEVERITY_WARNING, f"Fence: {problem}")
                result = C.MAV_MISSION_INVALID
            else:
                self._model.set_fence(tr.buffer)
        else:
            self._model.rally_items = list(tr.buffer)
        self._ack(peer, msg, result, tr.mission_type)
        self._finish(tr, result, now)

    def _finish(self, tr: _Transfer, result: int | None, now: float) -> None:
        if self._transfers.get(tr.mission_type) is tr:
            del self._transfers[tr.mission_type]
        tr.record.ended_wall_s = now
        tr.record.result = result
        self._on_upload_done(tr.record)

    def update(self, now_wall_s: float) -> None:
        """Re-request unanswered items after 1 s; give up 8 s after the last accepted item (ACK 15)."""
        for tr in list(self._transfers.values()):
            if now_wall_s - tr.last_receive_s > self._config.mission_timeout_wall_s:
                self._reply(tr.peer, self._mav.mission_ack_encode(tr.sender[0], tr.sender[1],
                                                                  C.MAV_MISSION_OPERATION_CANCELLED,
                                                                  tr.mission_type))
                self._statustext(C.MAV_SEVERITY_WARNING, "Mission upload timeout")
                self._finish(tr, C.MAV_MISSION_OPERATION_CANCELLED, now_wall_s)
            elif now_wall_s - tr.last_request_s > self._config.mission_retry_wall_s:
                self._send_request(tr, now_wall_s)

    # ---- download and management -----------------------------------------------------------------

    def _request_list(self, msg: Any, peer: Any, now: float) -> None:
        mtype = msg.mission_type
        if mtype in self._transfers:
            self._ack(peer, msg, C.MAV_MISSION_DENIED, mtype)
            return
        self._reply(peer, self._mav.mission_count_encode(msg.get_srcSystem(), msg.get_srcComponent(),
                                                         len(self._stored(mtype)), mtype))

    def _request(self, msg: Any, peer: Any, now: float) -> None:
        mtype = msg.mission_type
        if mtype in self._transfers:
            self._ack(peer, msg, C.MAV_MISSION_DENIED, mtype)
            return
        stored = self._stored(mtype)
        if not 0 <= msg.seq < len(stored):
            self._ack(peer, msg, C.MAV_MISSION_INVALID_SEQUENCE, mtype)
            return
        item = stored[msg.seq]
        if mtype == MISSION and msg.seq == 0:
            # home; all zeros until the EKF origin is set
            lon, lat = self._model.home_lonlat if self._model.home_set else (0.0, 0.0)
            item = StoredItem(C.MAV_CMD_NAV_WAYPOINT, C.MAV_FRAME_GLOBAL, (0.0, 0.0, 0.0, 0.0),
                              round(lat * 1e7), round(lon * 1e7),
                              self._model.home_alt_amsl_m if self._model.home_set else 0.0)
        frame = _download_frame(item, mtype)
        z = _download_altitude_m(item.altitude_m) if mtype == MISSION else item.altitude_m
        p1, p2, p3, p4 = item.params
        current = 1 if mtype == MISSION and msg.seq == self._model.current_seq else 0
        src = (msg.get_srcSystem(), msg.get_srcComponent())
        if msg.get_type() == "MISSION_REQUEST_INT":
            out = self._mav.mission_item_int_encode(src[0], src[1], msg.seq, frame, item.command, current,
                                                    int(item.autocontinue), p1, p2, p3, p4, item.lat_e7,
                                                    item.lon_e7, z, mtype)
        else:
            out = self._mav.mission_item_encode(src[0], src[1], msg.seq, frame, item.command, current,
                                                int(item.autocontinue), p1, p2, p3, p4,
                                                _x_float(item, frame, lat=True), _x_float(item, frame, lat=False),
                                                z, mtype)
        self._reply(peer, out)

    def _clear_all(self, msg: Any, peer: Any, now: float) -> None:
        mtype = msg.mission_type
        if mtype in self._transfers:
            self._ack(peer, msg, C.MAV_MISSION_ERROR, mtype)
            return
        if mtype == MISSION:
            ok = self._model.clear_mission()
        elif mtype == FENCE:
            self._model.set_fence([])
            ok = True
        else:
            self._model.rally_items = []
            ok = True
        self._ack(peer, msg, C.MAV_MISSION_ACCEPTED if ok else C.MAV_MISSION_ERROR, mtype)

    def _set_current(self, msg: Any, peer: Any, now: float) -> None:
        self._model.set_current(msg.seq)


def _convert(msg: Any, mission_type: int) -> tuple[StoredItem | None, int]:
    """A received MISSION_ITEM(_INT) as a StoredItem, or (None, MAV_MISSION_RESULT) when ArduPilot rejects it."""
    allowed = {MISSION: MISSION_COMMANDS, FENCE: FENCE_COMMANDS, RALLY: RALLY_COMMANDS}[mission_type]
    if mission_type == MISSION and msg.seq == 0:
        allowed = allowed | {msg.command}
    if msg.command not in allowed:
        return None, C.MAV_MISSION_UNSUPPORTED
    is_int = msg.get_type() == "MISSION_ITEM_INT"
    located = msg.command in LOCATION_COMMANDS or mission_type != MISSION
    if located and msg.frame not in GLOBAL_FRAMES and msg.frame != C.MAV_FRAME_MISSION:
        return None, C.MAV_MISSION_UNSUPPORTED_FRAME
    if located or is_int:
        lat_e7, lon_e7 = (int(msg.x), int(msg.y)) if is_int else (round(msg.x * 1e7), round(msg.y * 1e7))
    else:
        lat_e7, lon_e7 = round(msg.x), round(msg.y)
    if located:
        if abs(lat_e7) > 900_000_000:
            return None, C.MAV_MISSION_INVALID_PARAM5_X
        if abs(lon_e7) > 1_800_000_000:
            return None, C.MAV_MISSION_INVALID_PARAM6_Y
    params = tuple(0.0 if math.isnan(p) else float(p) for p in (msg.param1, msg.param2, msg.param3, msg.param4))
    # a mission keeps altitudes in whole centimetres, truncated (66.7 m comes back as 66.69 m)
    altitude_m = stored_altitude_m(msg.z) if mission_type == MISSION else float(msg.z)
    return StoredItem(command=msg.command, frame=msg.frame, params=params,  # type: ignore[arg-type]
                      lat_e7=lat_e7, lon_e7=lon_e7, altitude_m=altitude_m,
                      autocontinue=bool(msg.autocontinue)), C.MAV_MISSION_ACCEPTED


def _download_altitude_m(altitude_m: float) -> float:
    """The stored centimetres sent back as ArduPilot computes it, cm × 0.01 in float32: 6669 cm → 66.689995 m."""
    return float(np.float32(round(altitude_m * 100)) * np.float32(0.01))


def _download_frame(item: StoredItem, mission_type: int) -> int:
    """ArduPilot reports relative items in frame 3 and absolute ones in frame 0, whatever was uploaded."""
    if mission_type != MISSION:
        return C.MAV_FRAME_GLOBAL
    if item.command in LOCATION_COMMANDS:
        return C.MAV_FRAME_GLOBAL_RELATIVE_ALT if item.relative else C.MAV_FRAME_GLOBAL
    return C.MAV_FRAME_MISSION


def _x_float(item: StoredItem, frame: int, *, lat: bool) -> float:
    value = item.lat_e7 if lat else item.lon_e7
    return value / 1e7 if frame in GLOBAL_FRAMES else float(value)


def _fence_problem(items: list[StoredItem]) -> str | None:
    """Why a fence upload cannot be committed (polygon vertex counts inconsistent), or None."""
    i = 0
    while i < len(items):
        item = items[i]
        if item.command in (C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
            count = int(item.params[0])
            if count < 3:
                return f"polygon at item {i} has {count} vertices"
            group = items[i:i + count]
            if len(group) < count or any(g.command != item.command or int(g.params[0]) != count for g in group):
                return f"polygon at item {i} does not have {count} consecutive vertices"
            i += count
            continue
        if item.command in (C.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION, C.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION) \
                and item.params[0] <= 0:
            return f"circle at item {i} has no radius"
        i += 1
    return None
