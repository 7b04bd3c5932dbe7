"""The simulated dock drone: an ArduCopter-like vehicle served over MAVLink 2 on UDP and TCP.

``SimVehicle`` runs inside an asyncio loop: a simulated clock (wall time × speed-up) drives the
CopterModel, telemetry streams at ArduPilot's message rates, the mission protocol answers uploads
and downloads, and tests can inject packet loss, latency and link cuts. One TCP client at a time,
as ArduPilot SITL serves port 5760.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sim.vehicle_mission import MissionProtocol, UploadRecord
from sim.vehicle_model import (
    FIRMWARE_PARAMS,
    FORCE_MAGIC,
    SITL_DEFAULTS,
    SITL_PARAMS,
    CaptureRecord,
    CopterMode,
    CopterModel,
    CurrentChanged,
    HomeChanged,
    ItemReached,
    LandedState,
    SimVehicleConfig,
    StatusText,
)

__all__ = ["FIRMWARE_PARAMS", "SITL_DEFAULTS", "SITL_PARAMS", "CaptureRecord", "CopterMode", "LandedState",
           "SimVehicle", "SimVehicleConfig", "UploadRecord", "serve"]

log = logging.getLogger(__name__)
C = mavlink
CaptureHook = Callable[[CaptureRecord], None]

#: Rates (simulated Hz) a client gets when it asks for a message's default rate (interval 0). Until a client
#: asks, ArduPilot streams nothing but HEARTBEAT (and STATUSTEXT as it happens): its SRx_ defaults are 0.
DEFAULT_STREAM_HZ: dict[int, float] = {
    C.MAVLINK_MSG_ID_HEARTBEAT: 1.0,
    C.MAVLINK_MSG_ID_SYS_STATUS: 1.0,
    C.MAVLINK_MSG_ID_SYSTEM_TIME: 1.0,
    C.MAVLINK_MSG_ID_GPS_RAW_INT: 2.0,
    C.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 4.0,
    C.MAVLINK_MSG_ID_ATTITUDE: 4.0,
    C.MAVLINK_MSG_ID_VFR_HUD: 2.0,
    C.MAVLINK_MSG_ID_MISSION_CURRENT: 1.0,
    C.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 1.0,
    C.MAVLINK_MSG_ID_HOME_POSITION: 0.2,
}
_SENSORS = (C.MAV_SYS_STATUS_SENSOR_3D_GYRO | C.MAV_SYS_STATUS_SENSOR_3D_ACCEL | C.MAV_SYS_STATUS_SENSOR_3D_MAG
            | C.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE | C.MAV_SYS_STATUS_SENSOR_GPS
            | C.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS | C.MAV_SYS_STATUS_AHRS | C.MAV_SYS_STATUS_SENSOR_BATTERY
            | C.MAV_SYS_STATUS_PREARM_CHECK)
_TICK_WALL_S = 0.01
#: REQUEST_DATA_STREAM groups (MAV_DATA_STREAM_*) and the messages ArduPilot streams in each.
_DATA_STREAMS: dict[int, tuple[int, ...]] = {
    C.MAV_DATA_STREAM_EXTENDED_STATUS: (C.MAVLINK_MSG_ID_SYS_STATUS, C.MAVLINK_MSG_ID_GPS_RAW_INT,
                                        C.MAVLINK_MSG_ID_MISSION_CURRENT),
    C.MAV_DATA_STREAM_POSITION: (C.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,),
    C.MAV_DATA_STREAM_EXTRA1: (C.MAVLINK_MSG_ID_ATTITUDE,),
    C.MAV_DATA_STREAM_EXTRA2: (C.MAVLINK_MSG_ID_VFR_HUD,),
    C.MAV_DATA_STREAM_EXTRA3: (C.MAVLINK_MSG_ID_SYSTEM_TIME, C.MAVLINK_MSG_ID_EXTENDED_SYS_STATE),
}


@dataclass
class _LinkConditions:
    loss_up: float = 0.0
    loss_down: float = 0.0
    latency_s: float = 0.0
    cut: bool = False


class _Peer:
    """One MAVLink channel: a UDP remote address or the TCP client, with its own sequence numbers."""

    def __init__(self, *, key: Any, write: Callable[[bytes], None], system_id: int) -> None:
        self.key = key
        self.write = write
        self.mav = C.MAVLink(None, srcSystem=system_id, srcComponent=C.MAV_COMP_ID_AUTOPILOT1)
        self.parser = C.MAVLink(None)
        self.parser.robust_parsing = True
        self.closed = False


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, sim: SimVehicle, fixed_remote: tuple[str, int] | None = None) -> None:
        self.sim = sim
        self.fixed_remote = fixed_remote
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.fixed_remote is not None:
            self.sim._udp_peer(self, self.fixed_remote)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sim._receive(self.sim._udp_peer(self, addr), data)

    def error_received(self, exc: Exception) -> None:
        # ICMP "port unreachable" from a GCS that went away: the link simply goes quiet
        log.debug("simulated vehicle UDP error: %s", exc)


class SimVehicle:
    """A simulated ArduCopter reachable over MAVLink; use ``async with SimVehicle(cfg) as sim:``."""

    def __init__(self, config: SimVehicleConfig, *, on_capture: CaptureHook | None = None, seed: int = 0) -> None:
        self.config = config
        self.model = CopterModel(config)
        self.on_capture = on_capture
        self.captures: list[CaptureRecord] = []
        self.status_log: list[tuple[float, str]] = []
        self.link = _LinkConditions()
        self._rng = random.Random(seed)
        self._enc = C.MAVLink(None, srcSystem=config.system_id, srcComponent=C.MAV_COMP_ID_AUTOPILOT1)
        self.mission = MissionProtocol(model=self.model, config=config, reply=self._send_after_turnaround,
                                       statustext=self._statustext, on_upload_done=lambda rec: None)
        self._peers: dict[Any, _Peer] = {}
        self._tcp_peer: _Peer | None = None
        self._tcp_writer: asyncio.StreamWriter | None = None
        self._udp_server: _UdpProtocol | None = None
        self._udp_outputs: list[_UdpProtocol] = []
        self._tcp_server: asyncio.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._t0_wall: float | None = None
        self._last_gcs_wall: float | None = None
        self._stream_hz: dict[int, float] = {C.MAVLINK_MSG_ID_HEARTBEAT: DEFAULT_STREAM_HZ[C.MAVLINK_MSG_ID_HEARTBEAT]}
        self._stream_next_sim: dict[int, float] = {}
        self._stream_last_wall: dict[int, float] = {}
        self._waiters: list[tuple[Callable[[SimVehicle], bool], asyncio.Future[None]]] = []
        self.received: Counter[str] = Counter()
        self.udp_port: int | None = None
        self.tcp_port: int | None = None
        self.host = "127.0.0.1"

    # ---- lifecycle ---------------------------------------------------------------------------------

    async def start(self, *, host: str = "127.0.0.1", udp_port: int | None = 0, tcp_port: int | None = None) -> None:
        """Bind the UDP port and/or TCP port (0 = ephemeral) and start the clock."""
        loop = asyncio.get_running_loop()
        self.host = host
        if udp_port is not None:
            transport, proto = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self),
                                                                   local_addr=(host, udp_port))
            self._udp_server = proto
            self.udp_port = transport.get_extra_info("sockname")[1]
        if tcp_port is not None:
            self._tcp_server = await asyncio.start_server(self._tcp_client, host, tcp_port)
            self.tcp_port = self._tcp_server.sockets[0].getsockname()[1]
        if not self.config.boot_on_first_client or self._peers:
            self._t0_wall = time.monotonic()
        self._task = asyncio.create_task(self._run(), name=f"sim-vehicle-{self.config.system_id}")

    async def add_udp_output(self, host: str, port: int) -> None:
        """Also stream to a GCS listening on host:port (as SITL's ``--out udp:…``); it may reply."""
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self, (host, port)),
                                                       local_addr=(self.host, 0))
        self._udp_outputs.append(proto)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for proto in [self._udp_server, *self._udp_outputs]:
            if proto is not None and proto.transport is not None:
                proto.transport.close()
        if self._tcp_peer is not None:
            self._tcp_peer.closed = True
        if self._tcp_server is not None:
            self._tcp_server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp_server.wait_closed(), 1.0)
        for _, fut in self._waiters:
            if not fut.done():
                fut.cancel()

    async def __aenter__(self) -> SimVehicle:
        if self._task is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def udp_url(self) -> str:
        """The URL an executor on this host uses to reach the UDP port."""
        return f"udpout:{self.host}:{self.udp_port}"

    @property
    def tcp_url(self) -> str:
        return f"tcp:{self.host}:{self.tcp_port}"

    @property
    def sim_time_s(self) -> float:
        return self.model.time_s

    # ---- test controls -----------------------------------------------------------------------------

    def set_link(self, *, loss: float | None = None, loss_up: float | None = None,
                 loss_down: float | None = None, latency_s: float | None = None) -> None:
        """Independent whole-packet loss per direction (up = GCS→vehicle) and one-way latency (wall s)."""
        if loss is not None:
            self.link.loss_up = self.link.loss_down = loss
        if loss_up is not None:
            self.link.loss_up = loss_up
        if loss_down is not None:
            self.link.loss_down = loss_down
        if latency_s is not None:
            self.link.latency_s = latency_s

    def cut_link(self) -> None:
        """Drop every packet both ways (radio out of range) until restore_link()."""
        self.link.cut = True

    def restore_link(self) -> None:
        self.link.cut = False

    def drop_tcp_client(self) -> None:
        """Close the TCP client's connection (a telemetry bridge restarting); the port takes a new client."""
        if self._tcp_peer is not None and self._tcp_writer is not None:
            self._tcp_peer.closed = True
            self._peers.pop(self._tcp_peer.key, None)
            self._tcp_writer.close()

    def set_battery_remaining(self, percent: float) -> None:
        self.model.set_battery_remaining(percent)

    def set_wind(self, *, north_m_s: float, east_m_s: float) -> None:
        self.model.wind_ne_m_s = (north_m_s, east_m_s)

    @property
    def uploads(self) -> list[UploadRecord]:
        return self.mission.uploads

    async def wait_until(self, predicate: Callable[[SimVehicle], bool], *, timeout_s: float) -> None:
        """Wait (checked every tick) until predicate(self) holds; TimeoutError after timeout_s wall seconds."""
        if predicate(self):
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (predicate, fut)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(fut, timeout_s)
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    # ---- clock and streams -------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                self._tick()
            except Exception:
                log.exception("simulated vehicle %d: tick failed", self.config.system_id)
            await asyncio.sleep(_TICK_WALL_S)

    def _tick(self) -> None:
        now = time.monotonic()
        if self._t0_wall is None:
            return  # powered off until the first client connects (SITL boots on its first TCP client)
        target_s = (now - self._t0_wall) * self.config.speedup
        model = self.model
        while model.time_s < target_s - 1e-9:
            model.step(min(self.config.max_step_s, target_s - model.time_s))
        for event in model.drain_events():
            self._emit(event)
        self.mission.update(now)
        self._gcs_failsafe(now)
        self._streams(now)
        for predicate, fut in list(self._waiters):
            if not fut.done() and predicate(self):
                fut.set_result(None)

    def _gcs_failsafe(self, now: float) -> None:
        if not self.config.gcs_failsafe or self._last_gcs_wall is None:
            return
        if now - self._last_gcs_wall > self.config.gcs_timeout_wall_s:
            self.model.gcs_lost()
        else:
            self.model.gcs_regained()
        for event in self.model.drain_events():
            self._emit(event)

    def _streams(self, now: float) -> None:
        t = self.model.time_s
        min_gap = 1.0 / self.config.stream_max_wall_hz
        for msg_id, hz in self._stream_hz.items():
            if hz <= 0 or t < self._stream_next_sim.get(msg_id, 0.0):
                continue
            if now - self._stream_last_wall.get(msg_id, -math.inf) < min_gap:
                continue
            msg = self._build(msg_id)
            self._stream_next_sim[msg_id] = t + 1.0 / hz
            self._stream_last_wall[msg_id] = now
            if msg is not None:
                self._broadcast(msg)

    def _emit(self, event: object) -> None:
        if isinstance(event, StatusText):
            self._statustext(event.severity, event.text)
        elif isinstance(event, ItemReached):
            self._broadcast(self._enc.mission_item_reached_encode(event.seq))
        elif isinstance(event, CurrentChanged):
            msg = self._build(C.MAVLINK_MSG_ID_MISSION_CURRENT)
            if msg is not None:
                self._broadcast(msg)
        elif isinstance(event, HomeChanged):
            msg = self._build(C.MAVLINK_MSG_ID_HOME_POSITION)
            if msg is not None:
                self._broadcast(msg)
        elif isinstance(event, CaptureRecord):
            self._capture(event)

    def _statustext(self, severity: int, text: str) -> None:
        self.status_log.append((self.model.time_s, text))
        self._broadcast(self._enc.statustext_encode(severity, text.encode()[:50]))

    def _capture(self, rec: CaptureRecord) -> None:
        self.captures.append(rec)
        usec = int(rec.captured_at.timestamp() * 1e6)
        lat_e7, lon_e7 = round(rec.pose.lat * 1e7), round(rec.pose.lon * 1e7)
        # the vehicle's own attitude (a fixed camera tilts with it); completed_captures stays 0 on ArduPilot
        self._broadcast(self._enc.camera_feedback_encode(
            usec, 0, 0, rec.index, lat_e7, lon_e7, rec.altitude_amsl_m, rec.pose.altitude_m,
            rec.vehicle_roll_deg, rec.vehicle_pitch_deg, rec.pose.yaw_deg, 0.0,
            C.CAMERA_FEEDBACK_PHOTO, 0))
        if self.config.send_image_captured:
            q = _quaternion(rec.pose.roll_deg, rec.pose.pitch_deg, rec.pose.yaw_deg)
            self._broadcast(self._enc.camera_image_captured_encode(
                int(rec.time_boot_s * 1000), usec, 1, lat_e7, lon_e7, round(rec.altitude_amsl_m * 1000),
                round(rec.pose.altitude_m * 1000), q, rec.index - 1, 1, b""))
        if self.on_capture is not None:
            try:
                self.on_capture(rec)
            except Exception:
                log.exception("capture hook failed for photo %d", rec.index)

    # ---- message builders ---------------------------------------------------------------------------

    def _build(self, msg_id: int) -> Any:
        m, e = self.model, self._enc
        boot_ms = int(m.time_s * 1000)
        lon, lat = m.lonlat
        positioned = m.origin_set
        if msg_id == C.MAVLINK_MSG_ID_HEARTBEAT:
            base = C.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | C.MAV_MODE_FLAG_STABILIZE_ENABLED
            if m.mode in (CopterMode.AUTO, CopterMode.GUIDED, CopterMode.RTL):
                base |= C.MAV_MODE_FLAG_GUIDED_ENABLED
            if m.armed:
                base |= C.MAV_MODE_FLAG_SAFETY_ARMED
            if not m.booted:
                state = C.MAV_STATE_BOOT
            elif m.armed and (m.failsafe_gcs or m.failsafe_battery):
                state = C.MAV_STATE_CRITICAL
            else:
                state = C.MAV_STATE_ACTIVE if m.armed else C.MAV_STATE_STANDBY
            return e.heartbeat_encode(C.MAV_TYPE_QUADROTOR, C.MAV_AUTOPILOT_ARDUPILOTMEGA, base, int(m.mode), state)
        if msg_id == C.MAVLINK_MSG_ID_SYS_STATUS:
            health = _SENSORS & ~(C.MAV_SYS_STATUS_SENSOR_GPS | C.MAV_SYS_STATUS_AHRS | C.MAV_SYS_STATUS_PREARM_CHECK)
            if m.gps_fixed:
                health |= C.MAV_SYS_STATUS_SENSOR_GPS
            if m.ekf_ready:
                health |= C.MAV_SYS_STATUS_AHRS
            if m.armed or m.prearm_failure() is None:
                health |= C.MAV_SYS_STATUS_PREARM_CHECK
            present = _SENSORS | (C.MAV_SYS_STATUS_GEOFENCE if m.fence_items else 0)
            enabled = _SENSORS | (C.MAV_SYS_STATUS_GEOFENCE if m.fence_enabled else 0)
            if m.fence_items and not m.fence_breached:
                health |= C.MAV_SYS_STATUS_GEOFENCE
            return e.sys_status_encode(present, enabled, health, 200, round(m.battery_voltage_v * 1000),
                                       round(m.current_a * 100), round(m.battery_remaining_percent), 0, 0, 0, 0, 0, 0)
        if msg_id == C.MAVLINK_MSG_ID_SYSTEM_TIME:
            return e.system_time_encode(int(m.utc_now.timestamp() * 1e6), boot_ms)
        if msg_id == C.MAVLINK_MSG_ID_GPS_RAW_INT:
            speed = m.ground_speed_m_s
            cog = (math.degrees(math.atan2(m.ve_m_s, m.vn_m_s)) % 360.0) if speed > 0.2 else 0.0
            if not m.gps_fixed:
                return e.gps_raw_int_encode(int(m.time_s * 1e6), C.GPS_FIX_TYPE_NO_FIX, 0, 0, 0, 9999, 9999, 0, 0, 3)
            return e.gps_raw_int_encode(int(m.time_s * 1e6), C.GPS_FIX_TYPE_3D_FIX, round(lat * 1e7), round(lon * 1e7),
                                        round(m.altitude_amsl_m * 1000), 70, 110, round(speed * 100),
                                        round(cog * 100), 12)
        if msg_id == C.MAVLINK_MSG_ID_GLOBAL_POSITION_INT:
            if not positioned:
                return e.global_position_int_encode(boot_ms, 0, 0, 0, 0, 0, 0, 0, 65535)
            return e.global_position_int_encode(
                boot_ms, round(lat * 1e7), round(lon * 1e7), round(m.altitude_amsl_m * 1000), round(m.altitude_above_home_m * 1000),
                round(m.vn_m_s * 100), round(m.ve_m_s * 100), round(-m.vu_m_s * 100), round(m.yaw_deg * 100) % 36000)
        if msg_id == C.MAVLINK_MSG_ID_ATTITUDE:
            yaw = math.radians(m.yaw_deg)
            yaw = yaw - 2 * math.pi if yaw > math.pi else yaw
            return e.attitude_encode(boot_ms, math.radians(m.roll_deg), math.radians(m.pitch_deg), yaw, 0.0, 0.0, 0.0)
        if msg_id == C.MAVLINK_MSG_ID_VFR_HUD:
            throttle = 0 if not m.armed else (10 if m.landed else 45)
            return e.vfr_hud_encode(m.airspeed_m_s, m.ground_speed_m_s, round(m.yaw_deg) % 360, throttle,
                                    m.altitude_amsl_m, m.vu_m_s)
        if msg_id == C.MAVLINK_MSG_ID_MISSION_CURRENT:
            total = max(len(m.mission) - 1, 0)
            return e.mission_current_encode(m.current_seq, total, int(m.mission_state),
                                            1 if m.mode == CopterMode.AUTO else 0)
        if msg_id == C.MAVLINK_MSG_ID_EXTENDED_SYS_STATE:
            return e.extended_sys_state_encode(C.MAV_VTOL_STATE_UNDEFINED, int(m.landed_state))
        if msg_id == C.MAVLINK_MSG_ID_HOME_POSITION:
            if not m.home_set:
                return None
            hlon, hlat = m.home_lonlat
            return e.home_position_encode(round(hlat * 1e7), round(hlon * 1e7), round(m.home_alt_amsl_m * 1000),
                                          0.0, 0.0, 0.0, [1.0, 0.0, 0.0, 0.0], 0.0, 0.0, 0.0, int(m.time_s * 1e6))
        if msg_id == C.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
            caps = (C.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT | C.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
                    | C.MAV_PROTOCOL_CAPABILITY_MISSION_INT | C.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
                    | C.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
                    | C.MAV_PROTOCOL_CAPABILITY_MAVLINK2 | C.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
                    | C.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY)
            return e.autopilot_version_encode(caps, (4 << 24) | (7 << 16) | 255, 0, 0, 0, [0] * 8, [0] * 8,
                                              [0] * 8, 0, 0, self.config.system_id)
        return None

    # ---- transport ------------------------------------------------------------------------------------

    def _power_on(self) -> None:
        if self._t0_wall is None:
            self._t0_wall = time.monotonic()

    def _udp_peer(self, proto: _UdpProtocol, addr: tuple[str, int]) -> _Peer:
        key = (id(proto), addr)
        peer = self._peers.get(key)
        if peer is None:
            self._power_on()
            def write(data: bytes, proto: _UdpProtocol = proto, addr: tuple[str, int] = addr) -> None:
                if proto.transport is not None and not proto.transport.is_closing():
                    proto.transport.sendto(data, addr)

            peer = _Peer(key=key, write=write, system_id=self.config.system_id)
            self._peers[key] = peer
        return peer

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._tcp_peer is not None and not self._tcp_peer.closed:
            # one client per TCP port, as ArduPilot SITL serves its serial ports
            writer.close()
            return

        def write(data: bytes) -> None:
            if not writer.is_closing():
                writer.write(data)

        peer = _Peer(key=("tcp", writer.get_extra_info("peername")), write=write, system_id=self.config.system_id)
        self._tcp_peer = peer
        self._tcp_writer = writer
        self._peers[peer.key] = peer
        self._power_on()
        try:
            while not peer.closed:
                data = await reader.read(4096)
                if not data:
                    break
                self._receive(peer, data)
        except (ConnectionError, OSError):
            pass
        finally:
            peer.closed = True
            self._peers.pop(peer.key, None)
            writer.close()

    def _receive(self, peer: _Peer, data: bytes) -> None:
        if self.link.cut:
            return
        try:
            msgs = peer.parser.parse_buffer(data) or []
        except Exception:
            return
        for msg in msgs:
            if msg.get_type() == "BAD_DATA":
                continue
            if self.link.loss_up > 0 and self._rng.random() < self.link.loss_up:
                continue
            if self.link.latency_s > 0:
                asyncio.get_running_loop().call_later(self.link.latency_s, self._dispatch, msg, peer)
            else:
                self._dispatch(msg, peer)

    def _send_after_turnaround(self, peer: _Peer, msg: Any) -> None:
        """A mission-protocol reply, sent after the vehicle's per-item turnaround (wall clock)."""
        delay_s = self.config.mission_item_rtt_wall_s
        if delay_s > 0 and msg.get_type() in ("MISSION_REQUEST", "MISSION_ITEM_INT", "MISSION_ITEM"):
            asyncio.get_running_loop().call_later(delay_s, self._send, peer, msg)
        else:
            self._send(peer, msg)

    def _send(self, peer: _Peer, msg: Any) -> None:
        if peer.closed:
            return
        data = msg.pack(peer.mav)
        if self.link.cut or (self.link.loss_down > 0 and self._rng.random() < self.link.loss_down):
            return
        if self.link.latency_s > 0:
            asyncio.get_running_loop().call_later(self.link.latency_s, peer.write, data)
        else:
            peer.write(data)

    def _broadcast(self, msg: Any) -> None:
        for peer in list(self._peers.values()):
            self._send(peer, msg)

    # ---- incoming messages ----------------------------------------------------------------------------

    def _dispatch(self, msg: Any, peer: _Peer) -> None:
        if self.link.cut or peer.closed:
            return
        now = time.monotonic()
        self.received[msg.get_type()] += 1
        if msg.get_srcSystem() == self.config.gcs_system_id:
            self._last_gcs_wall = now
        target = getattr(msg, "target_system", 0)
        if target not in (0, self.config.system_id):
            return
        kind = msg.get_type()
        if self.mission.handle(msg, peer, now):
            pass
        elif kind in ("COMMAND_LONG", "COMMAND_INT"):
            self._command(msg, peer)
        elif kind == "SET_MODE":
            ok = self.model.set_mode(msg.custom_mode)
            self._send(peer, self._enc.command_ack_encode(C.MAVLINK_MSG_ID_SET_MODE, _result(ok), 0, 0,
                                                          msg.get_srcSystem(), msg.get_srcComponent()))
        elif kind in ("PARAM_REQUEST_LIST", "PARAM_REQUEST_READ", "PARAM_SET"):
            self._param(msg, peer)
        elif kind == "REQUEST_DATA_STREAM":
            self._data_stream(msg)
        self.model.flush_reached()
        for event in self.model.drain_events():
            self._emit(event)

    def _command(self, msg: Any, peer: _Peer) -> None:
        p = [msg.param1, msg.param2, msg.param3, msg.param4]
        if msg.get_type() == "COMMAND_INT":
            scale = 1e7 if msg.frame in (C.MAV_FRAME_GLOBAL, C.MAV_FRAME_GLOBAL_INT, C.MAV_FRAME_GLOBAL_RELATIVE_ALT,
                                         C.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT) else 1.0
            p += [msg.x / scale, msg.y / scale, msg.z]
        else:
            p += [msg.param5, msg.param6, msg.param7]
        p = [0.0 if isinstance(v, float) and math.isnan(v) else float(v) for v in p]
        result = self._run_command(int(msg.command), p, peer)
        self._send(peer, self._enc.command_ack_encode(msg.command, result, 0, 0, msg.get_srcSystem(),
                                                      msg.get_srcComponent()))

    def _run_command(self, cmd: int, p: list[float], peer: _Peer) -> int:
        m = self.model
        if cmd == C.MAV_CMD_COMPONENT_ARM_DISARM:
            force = p[1] == FORCE_MAGIC
            if p[0] >= 0.5:
                ok, reason = m.arm(force=force)
                if reason:
                    self._statustext(C.MAV_SEVERITY_CRITICAL, reason)
                return _result(ok)
            return _result(m.disarm(force=force))
        if cmd == C.MAV_CMD_DO_SET_MODE:
            return _result(m.set_mode(int(p[1])))
        if cmd == C.MAV_CMD_NAV_TAKEOFF:
            return _result(m.takeoff(p[6]))
        if cmd == C.MAV_CMD_MISSION_START:
            return _result(m.mission_start(int(p[0])))
        if cmd == C.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            return _result(m.set_mode(CopterMode.RTL))
        if cmd == C.MAV_CMD_NAV_LAND:
            return _result(m.set_mode(CopterMode.LAND))
        if cmd == C.MAV_CMD_DO_SET_CAM_TRIGG_DIST:
            m.set_trigger_distance(p[0], trigger_now=p[2] >= 1.0)
            return C.MAV_RESULT_ACCEPTED
        if cmd == C.MAV_CMD_DO_DIGICAM_CONTROL:
            if p[4] == 1.0:
                m.take_picture()
            return C.MAV_RESULT_ACCEPTED
        if cmd == C.MAV_CMD_IMAGE_START_CAPTURE:
            m.start_interval_capture(p[1], int(p[2]))
            return C.MAV_RESULT_ACCEPTED
        if cmd == C.MAV_CMD_IMAGE_STOP_CAPTURE:
            m.stop_interval_capture()
            return C.MAV_RESULT_ACCEPTED
        if cmd == C.MAV_CMD_DO_FENCE_ENABLE:
            m.enable_fence(p[0] == 1.0, int(p[1]))
            return C.MAV_RESULT_ACCEPTED
        if cmd == C.MAV_CMD_DO_CHANGE_SPEED:
            m.set_speed(p[1])
            return C.MAV_RESULT_ACCEPTED
        if cmd == C.MAV_CMD_DO_SET_HOME:
            if p[0] >= 1.0:
                m.set_home()
            else:
                m.set_home(p[5], p[4], alt_amsl_m=p[6])
            return C.MAV_RESULT_ACCEPTED
        if cmd == C.MAV_CMD_DO_SET_MISSION_CURRENT:
            return _result(m.set_current(int(p[0])))
        if cmd == C.MAV_CMD_DO_REPOSITION:
            if m.mode != CopterMode.GUIDED and int(p[1]) & 1 and not m.set_mode(CopterMode.GUIDED):
                return C.MAV_RESULT_FAILED
            return _result(m.guided_goto(p[5], p[4], altitude_m=p[6]))
        if cmd in (C.MAV_CMD_REQUEST_MESSAGE, C.MAV_CMD_GET_HOME_POSITION,
                   C.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES):
            msg_id = {C.MAV_CMD_GET_HOME_POSITION: C.MAVLINK_MSG_ID_HOME_POSITION,
                      C.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES: C.MAVLINK_MSG_ID_AUTOPILOT_VERSION}.get(cmd, int(p[0]))
            msg = self._build(msg_id)
            if msg is None:
                return C.MAV_RESULT_FAILED if msg_id == C.MAVLINK_MSG_ID_HOME_POSITION else C.MAV_RESULT_UNSUPPORTED
            self._send(peer, msg)
            return C.MAV_RESULT_ACCEPTED
        if cmd == C.MAV_CMD_SET_MESSAGE_INTERVAL:
            msg_id, interval_us = int(p[0]), p[1]
            if msg_id not in DEFAULT_STREAM_HZ:
                return C.MAV_RESULT_UNSUPPORTED
            if not m.booted:
                return C.MAV_RESULT_ACCEPTED  # accepted during boot, before the streams exist: no effect
            if interval_us < 0:
                self._stream_hz[msg_id] = 0.0
            elif interval_us == 0:
                self._stream_hz[msg_id] = DEFAULT_STREAM_HZ[msg_id]
            else:
                self._stream_hz[msg_id] = 1e6 / interval_us
            self._stream_next_sim[msg_id] = 0.0
            return C.MAV_RESULT_ACCEPTED
        return C.MAV_RESULT_UNSUPPORTED

    def _data_stream(self, msg: Any) -> None:
        """REQUEST_DATA_STREAM (the older way, as MAVProxy asks): a rate for a group of messages."""
        if not self.model.booted:
            return
        groups = list(_DATA_STREAMS) if msg.req_stream_id == C.MAV_DATA_STREAM_ALL else [msg.req_stream_id]
        for group in groups:
            for msg_id in _DATA_STREAMS.get(group, ()):
                self._stream_hz[msg_id] = float(msg.req_message_rate) if msg.start_stop else 0.0
                self._stream_next_sim[msg_id] = 0.0

    def _param(self, msg: Any, peer: _Peer) -> None:
        params = self.model.params
        names = list(params)
        kind = msg.get_type()
        indices: Iterable[int]
        if kind == "PARAM_SET":
            name = _param_name(msg.param_id)
            indices = [names.index(name)] if self.model.set_param(name, float(msg.param_value)) else []
        elif kind == "PARAM_REQUEST_READ":
            name = _param_name(msg.param_id)
            if msg.param_index >= 0:
                indices = [msg.param_index] if msg.param_index < len(names) else []
            else:
                indices = [names.index(name)] if name in params else []
        else:
            indices = range(len(names))
        for i in indices:
            self._send(peer, self._enc.param_value_encode(names[i].encode(), params[names[i]],
                                                          C.MAV_PARAM_TYPE_REAL32, len(names), i))


def _result(ok: bool) -> int:
    return C.MAV_RESULT_ACCEPTED if ok else C.MAV_RESULT_FAILED


def _param_name(raw: Any) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes | bytearray) else str(raw)
    return text.rstrip("\x00")


def _quaternion(roll_deg: float, pitch_deg: float, yaw_deg: float) -> list[float]:
    """w, x, y, z of a ZYX Euler rotation (MAVLink's convention for camera attitude)."""
    cr, sr = math.cos(math.radians(roll_deg) / 2), math.sin(math.radians(roll_deg) / 2)
    cp, sp = math.cos(math.radians(pitch_deg) / 2), math.sin(math.radians(pitch_deg) / 2)
    cy, sy = math.cos(math.radians(yaw_deg) / 2), math.sin(math.radians(yaw_deg) / 2)
    return [cr * cp * cy + sr * sp * sy, sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy]


async def serve(config: SimVehicleConfig, *, tcp_port: int | None, udp_port: int | None = None,
                host: str = "127.0.0.1", outputs: Iterable[tuple[str, int]] = (),
                on_capture: CaptureHook | None = None, on_ready: Callable[[SimVehicle], None] | None = None,
                stop: asyncio.Event | None = None) -> SimVehicle:
    """Run one simulated vehicle until ``stop`` is set (or the task is cancelled); returns it stopped."""
    sim = SimVehicle(config, on_capture=on_capture)
    await sim.start(host=host, udp_port=udp_port, tcp_port=tcp_port)
    try:
        for out_host, out_port in outputs:
            await sim.add_udp_output(out_host, out_port)
        if on_ready is not None:
            on_ready(sim)
        await (stop or asyncio.Event()).wait()
    finally:
        await sim.stop()
    return sim
