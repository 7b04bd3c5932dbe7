"""Camera plugin: trigger distance, single photos and intervals, and the capture events a vehicle
reports — CAMERA_FEEDBACK (ArduPilot) or CAMERA_IMAGE_CAPTURED (PX4, MAVLink cameras) — merged
into one stream of CaptureInfo with a 1-based index, each photo once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from dockpatrol.errors import FlightError
from flight.action import Action, ActionError, ActionResult
from flight.connection import MavConnection, MessageStream

C = mavlink


class CameraResult(Enum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"
    UNSUPPORTED = "unsupported"
    TIMEOUT = "timeout"
    NO_SYSTEM = "no_system"


class CameraError(FlightError):
    """A camera command failed; ``result`` is a CameraResult."""


_FROM_ACTION = {ActionResult.DENIED: CameraResult.DENIED, ActionResult.UNSUPPORTED: CameraResult.UNSUPPORTED,
                ActionResult.TIMEOUT: CameraResult.TIMEOUT, ActionResult.NO_SYSTEM: CameraResult.NO_SYSTEM}


@dataclass(frozen=True)
class CaptureInfo:
    """One photo as the vehicle reported it (index counts from 1, like CAMERA_FEEDBACK.img_idx)."""

    index: int
    time_utc_us: int
    latitude_deg: float
    longitude_deg: float
    absolute_altitude_m: float
    relative_altitude_m: float
    roll_deg: float
    pitch_deg: float
    yaw_deg: float
    source: str


def capture_from_message(msg: Any) -> CaptureInfo | None:
    """CaptureInfo from CAMERA_FEEDBACK or CAMERA_IMAGE_CAPTURED; None for anything else or a failed capture."""
    kind = msg.get_type()
    if kind == "CAMERA_FEEDBACK":
        return CaptureInfo(index=int(msg.img_idx), time_utc_us=int(msg.time_usec), latitude_deg=msg.lat / 1e7,
                           longitude_deg=msg.lng / 1e7, absolute_altitude_m=float(msg.alt_msl),
                           relative_altitude_m=float(msg.alt_rel), roll_deg=float(msg.roll),
                           pitch_deg=float(msg.pitch), yaw_deg=float(msg.yaw) % 360.0, source="camera_feedback")
    if kind == "CAMERA_IMAGE_CAPTURED":
        if msg.capture_result != 1:
            return None
        w, x, y, z = msg.q
        roll = math.degrees(math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y)))
        pitch = math.degrees(math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x)))))
        yaw = math.degrees(math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))) % 360.0
        # image_index is zero-based in CAMERA_IMAGE_CAPTURED
        return CaptureInfo(index=int(msg.image_index) + 1, time_utc_us=int(msg.time_utc), latitude_deg=msg.lat / 1e7,
                           longitude_deg=msg.lon / 1e7, absolute_altitude_m=msg.alt / 1000.0,
                           relative_altitude_m=msg.relative_alt / 1000.0, roll_deg=roll, pitch_deg=pitch,
                           yaw_deg=yaw, source="image_captured")
    return None


class Camera:
    """Camera control and capture events for one vehicle."""

    def __init__(self, conn: MavConnection, action: Action) -> None:
        self._conn = conn
        self._action = action

    async def _command(self, command: int, params: tuple[float, ...], call: str) -> None:
        try:
            result = await self._action.command(command, params, call=call)
        except ActionError as exc:
            raise CameraError(_FROM_ACTION.get(exc.result, CameraResult.FAILED), call, exc.detail) from exc  # type: ignore[arg-type]
        if result != ActionResult.SUCCESS:
            raise CameraError(_FROM_ACTION.get(result, CameraResult.FAILED), call)

    async def set_trigger_distance(self, distance_m: float, *, trigger_now: bool = False) -> None:
        """DO_SET_CAM_TRIGG_DIST; 0 stops. ArduPilot ACCEPTS this even before its camera is ready."""
        await self._command(C.MAV_CMD_DO_SET_CAM_TRIGG_DIST, (distance_m, 0, 1 if trigger_now else 0),
                            "set_trigger_distance")

    async def take_photo(self) -> None:
        """DO_DIGICAM_CONTROL shoot; triggers less than 0.1 s apart are dropped by ArduPilot."""
        await self._command(C.MAV_CMD_DO_DIGICAM_CONTROL, (0, 0, 0, 0, 1), "take_photo")

    async def start_photo_interval(self, interval_s: float, count: int = 0) -> None:
        await self._command(C.MAV_CMD_IMAGE_START_CAPTURE, (0, interval_s, count, 0), "start_photo_interval")

    async def stop_photo_interval(self) -> None:
        await self._command(C.MAV_CMD_IMAGE_STOP_CAPTURE, (0,), "stop_photo_interval")

    def captures(self) -> MessageStream[CaptureInfo]:
        """Each reported photo once, whichever message (or both) the vehicle uses; subscribed on call."""
        seen: set[int] = set()

        def step(msg: Any) -> CaptureInfo | None:
            info = capture_from_message(msg)
            if info is None or info.index in seen:
                return None
            seen.add(info.index)
            return info

        return MessageStream(self._conn.subscribe(("CAMERA_FEEDBACK", "CAMERA_IMAGE_CAPTURED")), step)
