"""Telemetry plugin: the vehicle's latest state (position, attitude, battery, GPS, home, mode,
armed, landed state, status texts) kept current from every message, async iterators over it, and
waiting on conditions measured in the vehicle's own clock (``time_boot_ms``), never in wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from dockpatrol.errors import FlightError
from flight.connection import MavConnection, MessageStream

C = mavlink


class FlightMode(IntEnum):
    """ArduCopter flight modes (HEARTBEAT.custom_mode)."""

    STABILIZE = 0
    ACRO = 1
    ALT_HOLD = 2
    AUTO = 3
    GUIDED = 4
    LOITER = 5
    RTL = 6
    CIRCLE = 7
    LAND = 9
    BRAKE = 17
    SMART_RTL = 21
    AUTO_RTL = 27


class LandedState(IntEnum):
    UNKNOWN = 0
    ON_GROUND = 1
    IN_AIR = 2
    TAKING_OFF = 3
    LANDING = 4


class TelemetryResult(Enum):
    SUCCESS = "success"
    TIMEOUT = "timeout"
    NO_LINK = "no_link"


class TelemetryError(FlightError):
    """Waiting for a vehicle state failed; ``result`` is a TelemetryResult."""


@dataclass(frozen=True)
class Position:
    latitude_deg: float
    longitude_deg: float
    absolute_altitude_m: float
    relative_altitude_m: float
    vehicle_time_s: float


@dataclass(frozen=True)
class VelocityNed:
    north_m_s: float
    east_m_s: float
    down_m_s: float


@dataclass(frozen=True)
class EulerAngle:
    roll_deg: float
    pitch_deg: float
    yaw_deg: float


@dataclass(frozen=True)
class Battery:
    voltage_v: float
    current_a: float
    remaining_percent: float | None


@dataclass(frozen=True)
class GpsInfo:
    fix_type: int
    satellites_visible: int


@dataclass(frozen=True)
class Home:
    latitude_deg: float
    longitude_deg: float
    absolute_altitude_m: float


@dataclass(frozen=True)
class StatusText:
    severity: int
    text: str
    vehicle_time_s: float | None


@dataclass(frozen=True)
class MissionCurrent:
    seq: int
    total: int
    mission_state: int


#: What a flight needs streamed (Hz of vehicle time); ArduPilot sends none of it until asked.
DEFAULT_RATES_HZ: dict[int, float] = {
    C.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 4.0, C.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 2.0,
    C.MAVLINK_MSG_ID_SYS_STATUS: 1.0, C.MAVLINK_MSG_ID_GPS_RAW_INT: 1.0, C.MAVLINK_MSG_ID_MISSION_CURRENT: 1.0,
    C.MAVLINK_MSG_ID_SYSTEM_TIME: 1.0, C.MAVLINK_MSG_ID_ATTITUDE: 2.0}

_TIMED = frozenset({"GLOBAL_POSITION_INT", "ATTITUDE", "SYSTEM_TIME", "CAMERA_IMAGE_CAPTURED"})


class Telemetry:
    """Latest vehicle state, updated synchronously from every received message."""

    def __init__(self, conn: MavConnection) -> None:
        self._conn = conn
        self.position: Position | None = None
        self.velocity: VelocityNed | None = None
        self.attitude: EulerAngle | None = None
        self.battery: Battery | None = None
        self.gps: GpsInfo | None = None
        self.home: Home | None = None
        self.flight_mode: FlightMode | int | None = None
        self.armed: bool | None = None
        self.system_status: int | None = None
        self.landed_state: LandedState | None = None
        self.prearm_ok: bool | None = None
        self.mission_current: MissionCurrent | None = None
        self.vehicle_time_s: float | None = None
        self.autopilot_ready_seen = False
        self.status_texts: deque[StatusText] = deque(maxlen=100)
        self.received: Counter[str] = Counter()
        self._waiters: list[asyncio.Future[None]] = []
        self._wanted_hz: dict[int, float] = {}
        self._seen_at_last_check: dict[int, int] = {}
        self._heartbeats_since_check = 0
        conn.add_listener(self._on_message)
        conn.add_link_listener(lambda up: self._wake())

    # ---- state updates ---------------------------------------------------------------------------

    def _on_message(self, msg: Any) -> None:
        kind = msg.get_type()
        self.received[kind] += 1
        if kind in _TIMED:
            self.vehicle_time_s = msg.time_boot_ms / 1000.0
        if kind == "HEARTBEAT":
            if msg.get_srcComponent() == self._conn.target_component:
                self._check_rates()
                self.armed = bool(msg.base_mode & C.MAV_MODE_FLAG_SAFETY_ARMED)
                try:
                    self.flight_mode = FlightMode(msg.custom_mode)
                except ValueError:
                    self.flight_mode = msg.custom_mode
                self.system_status = msg.system_status
        elif kind == "GLOBAL_POSITION_INT":
            if msg.lat != 0 or msg.lon != 0:
                self.position = Position(msg.lat / 1e7, msg.lon / 1e7, msg.alt / 1000.0, msg.relative_alt / 1000.0,
                                         msg.time_boot_ms / 1000.0)
                self.velocity = VelocityNed(msg.vx / 100.0, msg.vy / 100.0, msg.vz / 100.0)
        elif kind == "ATTITUDE":
            self.attitude = EulerAngle(math.degrees(msg.roll), math.degrees(msg.pitch),
                                       math.degrees(msg.yaw) % 360.0)
        elif kind == "SYS_STATUS":
            remaining = None if msg.battery_remaining < 0 else float(msg.battery_remaining)
            self.battery = Battery(msg.voltage_battery / 1000.0, msg.current_battery / 100.0, remaining)
            if msg.onboard_control_sensors_present & C.MAV_SYS_STATUS_PREARM_CHECK:
                self.prearm_ok = bool(msg.onboard_control_sensors_health & C.MAV_SYS_STATUS_PREARM_CHECK)
        elif kind == "GPS_RAW_INT":
            self.gps = GpsInfo(msg.fix_type, msg.satellites_visible)
        elif kind == "HOME_POSITION":
            self.home = Home(msg.latitude / 1e7, msg.longitude / 1e7, msg.altitude / 1000.0)
        elif kind == "EXTENDED_SYS_STATE":
            try:
                self.landed_state = LandedState(msg.landed_state)
            except ValueError:
                self.landed_state = LandedState.UNKNOWN
        elif kind == "MISSION_CURRENT":
            self.mission_current = MissionCurrent(msg.seq, getattr(msg, "total", 0), getattr(msg, "mission_state", 0))
        elif kind == "STATUSTEXT":
            text = msg.text if isinstance(msg.text, str) else msg.text.decode(errors="replace")
            text = text.rstrip("\x00")
            self.status_texts.append(StatusText(msg.severity, text, self.vehicle_time_s))
            if "Ready" in text and ("ArduPilot" in text or "PX4" in text):
                self.autopilot_ready_seen = True
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    # ---- derived state ---------------------------------------------------------------------------

    @property
    def on_ground(self) -> bool | None:
        if self.landed_state is None or self.landed_state == LandedState.UNKNOWN:
            return None
        return self.landed_state == LandedState.ON_GROUND

    @property
    def autopilot_ready(self) -> bool:
        """Booted: "ArduPilot Ready" seen or the heartbeat says STANDBY/ACTIVE (we may have joined late)."""
        return self.autopilot_ready_seen or self.system_status in (C.MAV_STATE_STANDBY, C.MAV_STATE_ACTIVE,
                                                                   C.MAV_STATE_CRITICAL)

    def recent_texts(self, *, since_vehicle_s: float | None = None, prefix: str = "") -> list[str]:
        return [t.text for t in self.status_texts
                if t.text.startswith(prefix)
                and (since_vehicle_s is None or t.vehicle_time_s is None or t.vehicle_time_s >= since_vehicle_s)]

    # ---- waiting ---------------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool], *, what: str, vehicle_timeout_s: float | None = None,
                       link_timeout_s: float | None = None) -> None:
        """Return once predicate() holds.

        Fails with TIMEOUT when the vehicle's clock advanced vehicle_timeout_s without it, or with
        NO_LINK when nothing arrived for link_timeout_s wall seconds (default: the connection's).
        """
        link_s = link_timeout_s if link_timeout_s is not None else self._conn.link_timeout_s
        start_vehicle_s = self.vehicle_time_s
        last_rx = self._conn.messages_received
        last_rx_wall = time.monotonic()
        while not predicate():
            now = time.monotonic()
            if self._conn.messages_received != last_rx:
                last_rx, last_rx_wall = self._conn.messages_received, now
            elif now - last_rx_wall > link_s:
                raise TelemetryError(TelemetryResult.NO_LINK, what,
                                     f"nothing heard from the vehicle for {link_s:g} s")
            if vehicle_timeout_s is not None and self.vehicle_time_s is not None:
                if start_vehicle_s is None or self.vehicle_time_s < start_vehicle_s:
                    start_vehicle_s = self.vehicle_time_s  # first timestamp, or the vehicle rebooted
                elif self.vehicle_time_s - start_vehicle_s > vehicle_timeout_s:
                    raise TelemetryError(TelemetryResult.TIMEOUT, what,
                                         f"not within {vehicle_timeout_s:g} s of vehicle time")
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, max(0.05, link_s - (now - last_rx_wall)))

    async def sleep_vehicle(self, seconds: float, *, what: str = "wait") -> None:
        """Wait until the vehicle's clock has advanced by ``seconds`` (however fast it runs)."""
        if self.vehicle_time_s is None:
            await self.wait_for(lambda: self.vehicle_time_s is not None, what=what)
        start = self.vehicle_time_s or 0.0

        def elapsed() -> bool:
            now = self.vehicle_time_s or 0.0
            return now - start >= seconds or now < start

        await self.wait_for(elapsed, what=what)

    # ---- async iterators ----------------------------------------------------------------------------

    def _stream(self, types: tuple[str, ...], convert: Callable[[Any], Any], *,
                changes_only: bool = False) -> MessageStream[Any]:
        last: list[Any] = [object()]

        def step(msg: Any) -> Any:
            value = convert(msg)
            if value is None or (changes_only and value == last[0]):
                return None
            last[0] = value
            return value

        return MessageStream(self._conn.subscribe(types, maxlen=64), step)

    def positions(self) -> MessageStream[Position]:
        """Every GLOBAL_POSITION_INT with a valid fix."""
        def convert(msg: Any) -> Position | None:
            if msg.lat == 0 and msg.lon == 0:
                return None
            return Position(msg.lat / 1e7, msg.lon / 1e7, msg.alt / 1000.0, msg.relative_alt / 1000.0,
                            msg.time_boot_ms / 1000.0)
        return self._stream(("GLOBAL_POSITION_INT",), convert)

    def attitudes(self) -> MessageStream[EulerAngle]:
        return self._stream(("ATTITUDE",), lambda m: EulerAngle(math.degrees(m.roll), math.degrees(m.pitch),
                                                                 math.degrees(m.yaw) % 360.0))

    def batteries(self) -> MessageStream[Battery]:
        return self._stream(("SYS_STATUS",), lambda m: Battery(
            m.voltage_battery / 1000.0, m.current_battery / 100.0,
            None if m.battery_remaining < 0 else float(m.battery_remaining)))

    def flight_modes(self) -> MessageStream[FlightMode | int]:
        """The flight mode whenever it changes."""
        def convert(m: Any) -> FlightMode | int | None:
            if m.get_srcComponent() != self._conn.target_component:
                return None
            try:
                return FlightMode(m.custom_mode)
            except ValueError:
                return int(m.custom_mode)
        return self._stream(("HEARTBEAT",), convert, changes_only=True)

    def armed_states(self) -> MessageStream[bool]:
        """Armed (True) / disarmed (False) whenever it changes."""
        return self._stream(("HEARTBEAT",), lambda m: None if m.get_srcComponent() != self._conn.target_component
                            else bool(m.base_mode & C.MAV_MODE_FLAG_SAFETY_ARMED), changes_only=True)

    def landed_states(self) -> MessageStream[LandedState]:
        return self._stream(("EXTENDED_SYS_STATE",), lambda m: LandedState(m.landed_state)
                            if m.landed_state in LandedState._value2member_map_ else LandedState.UNKNOWN,
                            changes_only=True)

    def status_text_stream(self) -> MessageStream[StatusText]:
        def convert(m: Any) -> StatusText:
            text = m.text if isinstance(m.text, str) else m.text.decode(errors="replace")
            return StatusText(m.severity, text.rstrip("\x00"), self.vehicle_time_s)
        return self._stream(("STATUSTEXT",), convert)

    # ---- stream rates --------------------------------------------------------------------------------

    def request_rates(self, rates_hz: dict[int, float]) -> None:
        """Ask for message rates (Hz of vehicle time) with SET_MESSAGE_INTERVAL, and keep asking.

        ArduPilot streams nothing but HEARTBEAT until asked, and a request that arrives while it boots
        is ACCEPTED without effect; so every few heartbeats a wanted message that has not arrived since
        the last check is asked for again (this also restores rates after a reboot).
        """
        self._wanted_hz.update({k: v for k, v in rates_hz.items() if v > 0})
        self._seen_at_last_check = {k: self.received[_msg_name(k)] for k in self._wanted_hz}
        self._heartbeats_since_check = 0
        self._send_rates(rates_hz)

    def _check_rates(self) -> None:
        self._heartbeats_since_check += 1
        if not self._wanted_hz or self._heartbeats_since_check < 3:
            return
        silent = {k: hz for k, hz in self._wanted_hz.items()
                  if self.received[_msg_name(k)] == self._seen_at_last_check.get(k, 0)}
        self._seen_at_last_check = {k: self.received[_msg_name(k)] for k in self._wanted_hz}
        self._heartbeats_since_check = 0
        if silent:
            self._send_rates(silent)
        if self.home is None:
            self.request_message(C.MAVLINK_MSG_ID_HOME_POSITION)  # sent once the EKF origin is set, if asked

    def _send_rates(self, rates_hz: dict[int, float]) -> None:
        conn = self._conn
        if conn.target_system is None:
            return
        for msg_id, hz in rates_hz.items():
            conn.send(conn.mav.command_long_encode(conn.target_system, conn.target_component,
                                                   C.MAV_CMD_SET_MESSAGE_INTERVAL, 0, msg_id,
                                                   1e6 / hz if hz > 0 else -1, 0, 0, 0, 0, 0))

    def request_message(self, msg_id: int) -> None:
        conn = self._conn
        if conn.target_system is None:
            return
        conn.send(conn.mav.command_long_encode(conn.target_system, conn.target_component,
                                               C.MAV_CMD_REQUEST_MESSAGE, 0, msg_id, 0, 0, 0, 0, 0, 0))


def _msg_name(msg_id: int) -> str:
    """The MAVLink message name of an id (as ``get_type()`` gives it)."""
    entry = C.mavlink_map.get(msg_id)
    return entry.msgname if entry is not None else str(msg_id)
