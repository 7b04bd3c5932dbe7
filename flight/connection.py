"""MAVLink links to vehicles: URL parsing with a scheme allow-list, UDP/TCP/serial transports on
asyncio, fan-out of received messages to subscribers, GCS heartbeats, link-loss detection,
reconnects and a .tlog recorder.

Link timing (heartbeats, silence detection, reconnect back-off) is wall-clock because the radio
is; nothing here assumes how fast the vehicle's own clock runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import struct
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any, TypeVar

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from dockpatrol.errors import FlightError, InvalidInput

__all__ = ["ALLOWED_SCHEMES", "ConnectionResult", "LinkError", "MavConnection", "MessageStream", "Subscription",
           "VehicleAddress", "parse_vehicle_url"]

log = logging.getLogger(__name__)
C = mavlink
T = TypeVar("T")
ALLOWED_SCHEMES = ("udp", "udpin", "udpout", "tcp", "tcpin", "serial")
SERIAL_BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 921600, 1000000, 1500000, 2000000)
GCS_SYSTEM_ID = 255
GCS_COMPONENT_ID = C.MAV_COMP_ID_MISSIONPLANNER
_HOSTNAME = re.compile(r"^[A-Za-z0-9.\-]*$")


class ConnectionResult(Enum):
    """Why a link could not be used."""

    SUCCESS = "success"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    SOCKET_ERROR = "socket_error"
    CLOSED = "closed"


class LinkError(FlightError):
    """Connecting to or talking with a vehicle failed; ``result`` is a ConnectionResult."""


@dataclass(frozen=True)
class VehicleAddress:
    """A parsed vehicle URL: ``udpin``/``udpout``/``tcp``/``tcpin`` with host and port, or a serial device."""

    scheme: str
    host: str = ""
    port: int = 0
    device: str = ""
    baud: int = 57600
    url: str = ""

    @property
    def listens(self) -> bool:
        return self.scheme in ("udpin", "tcpin")


def parse_vehicle_url(url: str) -> VehicleAddress:
    """Parse ``udp:``/``udpin:``/``udpout:``/``tcp:``/``tcpin:HOST:PORT`` or ``/dev/tty…[,baud]``.

    ``udp:`` listens (as in pymavlink and MAVSDK); ``scheme://host:port`` is accepted too.
    """
    text = (url or "").strip()
    if not text:
        raise InvalidInput("vehicle URL is empty; expected e.g. udpin:0.0.0.0:14550 or tcp:127.0.0.1:5760")
    if text.startswith("/dev/") or text.startswith("serial:"):
        return _parse_serial(text)
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in ALLOWED_SCHEMES:
        hint = " (start `dockpatrol sim vehicle` and use its tcp: URL)" if scheme == "sim" else ""
        raise InvalidInput(f"vehicle URL {url!r}: scheme {scheme!r} is not one of "
                           f"{', '.join(ALLOWED_SCHEMES)} or a /dev/… serial device{hint}")
    rest = rest.removeprefix("//")
    host, sep, port_text = rest.rpartition(":")
    if not sep or not port_text.isdigit():
        raise InvalidInput(f"vehicle URL {url!r}: expected {scheme}:HOST:PORT, e.g. {scheme}:127.0.0.1:14550")
    port = int(port_text)
    canonical = {"udp": "udpin"}.get(scheme, scheme)
    listens = canonical in ("udpin", "tcpin")
    if not (0 if listens else 1) <= port <= 65535:
        raise InvalidInput(f"vehicle URL {url!r}: port {port} is outside 1..65535")
    if not _HOSTNAME.match(host) or (not host and not listens):
        raise InvalidInput(f"vehicle URL {url!r}: host {host!r} is not a host name or IP address")
    return VehicleAddress(scheme=canonical, host=host or "0.0.0.0", port=port, url=text)


def _parse_serial(text: str) -> VehicleAddress:
    spec = text.removeprefix("serial:")
    device, baud = spec, 57600
    for sep in (",", ":"):
        if sep in spec:
            device, _, baud_text = spec.rpartition(sep)
            if not baud_text.isdigit():
                raise InvalidInput(f"vehicle URL {text!r}: baud rate {baud_text!r} is not a number")
            baud = int(baud_text)
            break
    if not device.startswith("/dev/") or ".." in device or len(device) > 200:
        raise InvalidInput(f"vehicle URL {text!r}: serial device must be a /dev/… path")
    if baud not in SERIAL_BAUDS:
        raise InvalidInput(f"vehicle URL {text!r}: baud {baud} is not one of {', '.join(map(str, SERIAL_BAUDS))}")
    return VehicleAddress(scheme="serial", device=device, baud=baud, url=text)


# ---- transports ----------------------------------------------------------------------------------------


class _Transport:
    """Moves bytes; ``on_data`` gets what arrives. Subclasses reconnect on their own where that makes sense."""

    def __init__(self, on_data: Callable[[bytes], None]) -> None:
        self.on_data = on_data
        self.last_error = ""

    async def open(self) -> None:
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: _UdpTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.owner.remote = addr if self.owner.listen else self.owner.remote
        self.owner.on_data(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port-unreachable while the vehicle is down: keep trying, the link monitor reports silence
        self.owner.last_error = str(exc)


class _UdpTransport(_Transport):
    def __init__(self, address: VehicleAddress, on_data: Callable[[bytes], None]) -> None:
        super().__init__(on_data)
        self.listen = address.scheme == "udpin"
        self.address = address
        self.remote: tuple[str, int] | None = None if self.listen else (address.host, address.port)
        self.transport: asyncio.DatagramTransport | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            if self.listen:
                self.transport, _ = await loop.create_datagram_endpoint(
                    lambda: _UdpProtocol(self), local_addr=(self.address.host, self.address.port))
            else:
                self.transport, _ = await loop.create_datagram_endpoint(
                    lambda: _UdpProtocol(self), remote_addr=(self.address.host, self.address.port))
        except OSError as exc:
            raise LinkError(ConnectionResult.SOCKET_ERROR, "connect", f"{self.address.url}: {exc}") from exc

    @property
    def local_port(self) -> int:
        return self.transport.get_extra_info("sockname")[1] if self.transport else 0

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing() or self.remote is None:
            return
        if self.listen:
            self.transport.sendto(data, self.remote)
        else:
            self.transport.sendto(data)

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _StreamTransport(_Transport):
    """TCP client (reconnecting) or TCP server accepting the vehicle's connection."""

    def __init__(self, address: VehicleAddress, on_data: Callable[[bytes], None]) -> None:
        super().__init__(on_data)
        self.address = address
        self.writer: asyncio.StreamWriter | None = None
        self.server: asyncio.Server | None = None
        self.task: asyncio.Task[None] | None = None
        self.closing = False

    async def open(self) -> None:
        if self.address.scheme == "tcpin":
            try:
                self.server = await asyncio.start_server(self._serve, self.address.host, self.address.port)
            except OSError as exc:
                raise LinkError(ConnectionResult.SOCKET_ERROR, "connect", f"{self.address.url}: {exc}") from exc
            return
        self.task = asyncio.create_task(self._client_loop(), name=f"mavlink-tcp-{self.address.url}")

    async def _client_loop(self) -> None:
        backoff_s = 0.2
        while not self.closing:
            try:
                reader, writer = await asyncio.open_connection(self.address.host, self.address.port)
            except OSError as exc:
                self.last_error = os.strerror(exc.errno) if exc.errno else str(exc)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 2.0)
                continue
            backoff_s = 0.2
            await self._pump(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.close()
        await self._pump(reader, writer)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        try:
            while not self.closing:
                data = await reader.read(65536)
                if not data:
                    self.last_error = "connection closed by the vehicle"
                    break
                self.on_data(data)
        except (ConnectionError, OSError) as exc:
            self.last_error = str(exc)
        finally:
            if self.writer is writer:
                self.writer = None
            writer.close()

    def write(self, data: bytes) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(data)

    async def close(self) -> None:
        self.closing = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        if self.writer is not None:
            self.writer.close()
        if self.server is not None:
            self.server.close()


class _SerialTransport(_Transport):
    """A tty in raw mode read through the event loop (no threads); reopened when it disappears."""

    def __init__(self, address: VehicleAddress, on_data: Callable[[bytes], None]) -> None:
        super().__init__(on_data)
        self.address = address
        self.fd: int | None = None
        self.pending = bytearray()
        self.task: asyncio.Task[None] | None = None
        self.closing = False

    async def open(self) -> None:
        self._try_open()
        if self.fd is None and not os.path.exists(self.address.device):
            raise LinkError(ConnectionResult.CONNECTION_ERROR, "connect",
                            f"{self.address.device}: {self.last_error or 'no such device'}")
        self.task = asyncio.create_task(self._reopen_loop(), name=f"mavlink-serial-{self.address.device}")

    def _try_open(self) -> None:
        import termios
        import tty

        try:
            fd = os.open(self.address.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            self.last_error = str(exc)
            return
        try:
            tty.setraw(fd)
            attrs = termios.tcgetattr(fd)
            speed = getattr(termios, f"B{self.address.baud}", termios.B57600)
            attrs[4] = attrs[5] = speed
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except (termios.error, OSError):
            pass  # pseudo-terminals and some USB bridges ignore baud settings
        self.fd = fd
        asyncio.get_running_loop().add_reader(fd, self._readable)

    def _readable(self) -> None:
        if self.fd is None:
            return
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self.last_error = str(exc)
            self._drop()
            return
        if data:
            self.on_data(data)

    def _drop(self) -> None:
        if self.fd is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(self.fd)
            loop.remove_writer(self.fd)
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
            self.pending.clear()

    async def _reopen_loop(self) -> None:
        while not self.closing:
            if self.fd is None:
                self._try_open()
            await asyncio.sleep(0.5)

    def write(self, data: bytes) -> None:
        if self.fd is None:
            return
        self.pending += data
        self._flush()

    def _flush(self) -> None:
        if self.fd is None:
            return
        try:
            sent = os.write(self.fd, bytes(self.pending))
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self.last_error = str(exc)
            self._drop()
            return
        del self.pending[:sent]
        loop = asyncio.get_running_loop()
        if self.pending:
            loop.add_writer(self.fd, self._flush)
        else:
            loop.remove_writer(self.fd)

    async def close(self) -> None:
        self.closing = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self._drop()


# ---- subscriptions ---------------------------------------------------------------------------------------


class Subscription:
    """Messages of the given types from the vehicle, queued until read; close() (or ``with``) to stop."""

    def __init__(self, conn: MavConnection, types: Iterable[str] | None, maxlen: int | None) -> None:
        self._conn = conn
        self.types = frozenset(types) if types is not None else None
        self._queue: deque[Any] = deque(maxlen=maxlen)
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    def push(self, msg: Any) -> None:
        self._queue.append(msg)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self, timeout_s: float | None = None) -> Any | None:
        """The next message, or None when timeout_s (wall seconds) passes first or the subscription closes."""
        if not self._queue and not self.closed:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, timeout_s)
            except TimeoutError:
                return None
            finally:
                self._waiter = None
        return self._queue.popleft() if self._queue else None

    def drain(self) -> list[Any]:
        items = list(self._queue)
        self._queue.clear()
        return items

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._conn._unsubscribe(self)
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MessageStream(AsyncIterator[T]):
    """Async iterator over converted messages, subscribed from the moment it is created (no race with
    messages that arrive before the first ``__anext__``); ``aclose()`` or ``async with`` unsubscribes."""

    def __init__(self, sub: Subscription, convert: Callable[[Any], T | None]) -> None:
        self._sub = sub
        self._convert = convert

    def __aiter__(self) -> MessageStream[T]:
        return self

    async def __anext__(self) -> T:
        while not self._sub.closed:
            msg = await self._sub.get()
            if msg is None:
                continue
            value = self._convert(msg)
            if value is not None:
                return value
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._sub.close()

    async def __aenter__(self) -> MessageStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._sub.close()


# ---- the connection -----------------------------------------------------------------------------------------


class MavConnection:
    """One MAVLink 2 link to one vehicle (system id learned from its first autopilot HEARTBEAT)."""

    def __init__(self, address: VehicleAddress, *, source_system: int = GCS_SYSTEM_ID,
                 source_component: int = GCS_COMPONENT_ID, heartbeat_interval_s: float = 1.0,
                 link_timeout_s: float = 3.0) -> None:
        self.address = address
        self.source_system = source_system
        self.source_component = source_component
        self.heartbeat_interval_s = heartbeat_interval_s
        self.link_timeout_s = link_timeout_s
        self.mav = C.MAVLink(None, srcSystem=source_system, srcComponent=source_component)
        self._parser = C.MAVLink(None)
        self._parser.robust_parsing = True
        self.target_system: int | None = None
        self.target_component = C.MAV_COMP_ID_AUTOPILOT1
        self.last_rx_wall_s: float | None = None
        self.link_up = False
        self.link_changes = 0
        self.messages_received = 0
        self._listeners: list[Callable[[Any], None]] = []
        self._link_listeners: list[Callable[[bool], None]] = []
        self._subs: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._tlog: IO[bytes] | None = None
        self._early: deque[Any] = deque(maxlen=64)
        self._first_heartbeat: asyncio.Future[Any] | None = None
        self.transport: _Transport = self._make_transport()
        self.closed = False

    def _make_transport(self) -> _Transport:
        if self.address.scheme in ("udpin", "udpout"):
            return _UdpTransport(self.address, self._on_data)
        if self.address.scheme in ("tcp", "tcpin"):
            return _StreamTransport(self.address, self._on_data)
        return _SerialTransport(self.address, self._on_data)

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> MavConnection:
        """Open the transport and start heartbeats; the vehicle may not have answered yet."""
        conn = cls(parse_vehicle_url(url), **kwargs)
        await conn.start()
        return conn

    async def start(self) -> None:
        self._first_heartbeat = asyncio.get_running_loop().create_future()
        await self.transport.open()
        self.send_heartbeat()
        self._tasks = [asyncio.create_task(self._heartbeat_loop(), name=f"gcs-heartbeat-{self.address.url}"),
                       asyncio.create_task(self._link_monitor(), name=f"link-monitor-{self.address.url}")]

    @property
    def local_port(self) -> int:
        """The bound local UDP port (useful with ``udpin:…:0``)."""
        return getattr(self.transport, "local_port", 0)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.transport.close()
        self.stop_tlog()
        for sub in list(self._subs):
            sub.close()

    # ---- sending -------------------------------------------------------------------------------------

    def send(self, msg: Any) -> None:
        """Encode and send one message (built with ``self.mav.<name>_encode``)."""
        if self.closed:
            return
        data = msg.pack(self.mav)
        self.transport.write(data)
        if self._tlog is not None:
            self._tlog.write(struct.pack(">Q", int(time.time() * 1e6)) + data)

    def send_heartbeat(self) -> None:
        self.send(self.mav.heartbeat_encode(C.MAV_TYPE_GCS, C.MAV_AUTOPILOT_INVALID, 0, 0, C.MAV_STATE_ACTIVE))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            self.send_heartbeat()

    # ---- receiving -------------------------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        try:
            msgs = self._parser.parse_buffer(data) or []
        except Exception as exc:
            log.debug("unparseable MAVLink from %s: %s", self.address.url, exc)
            return
        for msg in msgs:
            if msg.get_type() == "BAD_DATA":
                continue
            self._on_message(msg)

    def _on_message(self, msg: Any) -> None:
        src = msg.get_srcSystem()
        if src == self.source_system:
            return
        if self.target_system is None:
            if msg.get_type() != "HEARTBEAT" or msg.type == C.MAV_TYPE_GCS or msg.autopilot == C.MAV_AUTOPILOT_INVALID:
                self._early.append(msg)  # e.g. boot STATUSTEXTs sent before the first heartbeat reached us
                return
            self.target_system = src
            self.target_component = msg.get_srcComponent()
            early, self._early = list(self._early), deque()
            for earlier in early:
                if earlier.get_srcSystem() == src:
                    self._on_message(earlier)
        if src != self.target_system:
            return
        self.messages_received += 1
        self.last_rx_wall_s = time.monotonic()
        if not self.link_up:
            self._set_link(True)
        if self._tlog is not None:
            self._tlog.write(struct.pack(">Q", int(time.time() * 1e6)) + bytes(msg.get_msgbuf()))
        if self._first_heartbeat is not None and not self._first_heartbeat.done() and msg.get_type() == "HEARTBEAT":
            self._first_heartbeat.set_result(msg)
        for listener in list(self._listeners):
            listener(msg)
        kind = msg.get_type()
        for sub in list(self._subs):
            if sub.types is None or kind in sub.types:
                sub.push(msg)

    async def _link_monitor(self) -> None:
        while True:
            await asyncio.sleep(min(0.1, self.link_timeout_s / 4))
            if self.link_up and self.last_rx_wall_s is not None \
                    and time.monotonic() - self.last_rx_wall_s > self.link_timeout_s:
                self._set_link(False)

    def _set_link(self, up: bool) -> None:
        self.link_up = up
        self.link_changes += 1
        for listener in list(self._link_listeners):
            listener(up)

    async def wait_heartbeat(self, timeout_s: float) -> Any:
        """The vehicle's first HEARTBEAT; LinkError(TIMEOUT) naming the URL when none comes in time."""
        assert self._first_heartbeat is not None, "start() the connection first"
        try:
            return await asyncio.wait_for(asyncio.shield(self._first_heartbeat), timeout_s)
        except TimeoutError:
            why = f"; last error: {self.transport.last_error}" if self.transport.last_error else ""
            raise LinkError(ConnectionResult.TIMEOUT, "connect",
                            f"no heartbeat from a vehicle at {self.address.url} within {timeout_s:g} s{why}") from None

    # ---- listeners and subscriptions ------------------------------------------------------------------

    def add_listener(self, listener: Callable[[Any], None]) -> None:
        """Call listener(msg) synchronously for every message from the vehicle."""
        self._listeners.append(listener)

    def add_link_listener(self, listener: Callable[[bool], None]) -> None:
        """Call listener(up) whenever the link goes silent (False) or comes back (True)."""
        self._link_listeners.append(listener)

    def remove_link_listener(self, listener: Callable[[bool], None]) -> None:
        if listener in self._link_listeners:
            self._link_listeners.remove(listener)

    def subscribe(self, types: Iterable[str] | None = None, *, maxlen: int | None = None) -> Subscription:
        """Queue messages of these types (all when None); ``maxlen`` keeps only the newest."""
        sub = Subscription(self, types, maxlen)
        self._subs.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    # ---- telemetry log ---------------------------------------------------------------------------------

    def start_tlog(self, path: Path) -> None:
        """Record every message both ways as a .tlog (8-byte big-endian µs timestamp + raw packet)."""
        self.stop_tlog()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tlog = path.open("wb")

    def stop_tlog(self) -> None:
        if self._tlog is not None:
            self._tlog.close()
            self._tlog = None
