"""Vehicle URLs (allow-list), unreachable vehicles, and each transport against the simulator."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

import pytest

from dockpatrol.errors import InvalidInput
from flight.connection import ConnectionResult, LinkError, MavConnection, VehicleAddress, parse_vehicle_url
from flight.vehicle import Vehicle
from sim.vehicle import SimVehicle
from tests.unit.flight.helpers import run, sim_config


@pytest.mark.parametrize(("url", "expected"), [
    ("udp:0.0.0.0:14550", VehicleAddress(scheme="udpin", host="0.0.0.0", port=14550, url="udp:0.0.0.0:14550")),
    ("udpin::14550", VehicleAddress(scheme="udpin", host="0.0.0.0", port=14550, url="udpin::14550")),
    ("udp://:14540", VehicleAddress(scheme="udpin", host="0.0.0.0", port=14540, url="udp://:14540")),
    ("udpout:10.0.0.5:14550", VehicleAddress(scheme="udpout", host="10.0.0.5", port=14550,
                                             url="udpout:10.0.0.5:14550")),
    ("tcp:127.0.0.1:5760", VehicleAddress(scheme="tcp", host="127.0.0.1", port=5760, url="tcp:127.0.0.1:5760")),
    ("TCP:sitl.local:5762", VehicleAddress(scheme="tcp", host="sitl.local", port=5762, url="TCP:sitl.local:5762")),
    ("tcpin:0.0.0.0:5760", VehicleAddress(scheme="tcpin", host="0.0.0.0", port=5760, url="tcpin:0.0.0.0:5760")),
    ("/dev/ttyUSB0", VehicleAddress(scheme="serial", device="/dev/ttyUSB0", baud=57600, url="/dev/ttyUSB0")),
    ("/dev/ttyACM0,115200", VehicleAddress(scheme="serial", device="/dev/ttyACM0", baud=115200,
                                           url="/dev/ttyACM0,115200")),
    ("serial:/dev/serial/by-id/usb-Hex:921600", VehicleAddress(
        scheme="serial", device="/dev/serial/by-id/usb-Hex", baud=921600,
        url="serial:/dev/serial/by-id/usb-Hex:921600")),
])
def test_parse_vehicle_url_accepts_the_allowed_schemes(url: str, expected: VehicleAddress) -> None:
    assert parse_vehicle_url(url) == expected


@pytest.mark.parametrize(("url", "message"), [
    ("", "empty"),
    ("http://example.com:80", "scheme 'http' is not one of"),
    ("sim:", "dockpatrol sim vehicle"),
    ("file:/etc/passwd:1", "scheme 'file'"),
    ("tcp:127.0.0.1", "expected tcp:HOST:PORT"),
    ("tcp::5760", "is not a host name"),
    ("udpout:127.0.0.1:70000", "outside 1..65535"),
    ("udpout:bad host!:14550", "is not a host name"),
    ("/dev/ttyUSB0,12345", "baud 12345"),
    ("/dev/ttyUSB0,fast", "is not a number"),
    ("serial:/etc/passwd", "must be a /dev/"),
    ("/dev/../etc/passwd", "must be a /dev/"),
])
def test_parse_vehicle_url_refuses_anything_else_with_a_clear_reason(url: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_vehicle_url(url)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("scheme", ["udpout", "tcp"])
def test_unreachable_vehicle_fails_within_the_timeout_naming_the_url(scheme: str) -> None:
    url = f"{scheme}:127.0.0.1:{_free_udp_port()}"

    async def scenario() -> tuple[LinkError, float]:
        started = time.monotonic()
        with pytest.raises(LinkError) as info:
            await Vehicle.connect(url, timeout_s=0.6)
        return info.value, time.monotonic() - started

    error, elapsed = run(scenario(), timeout_s=10.0)
    assert error.result == ConnectionResult.TIMEOUT
    assert url in str(error) and "no heartbeat" in str(error)
    assert elapsed < 5.0
    if scheme == "tcp":
        assert "refused" in str(error).lower()


def test_tcp_link_and_one_client_per_port() -> None:
    async def scenario() -> Any:
        sim = SimVehicle(sim_config())
        await sim.start(udp_port=None, tcp_port=0)
        try:
            first = await Vehicle.connect(sim.tcp_url, timeout_s=3.0)
            with pytest.raises(LinkError):
                await Vehicle.connect(sim.tcp_url, timeout_s=0.5)  # the port already has its client
            sysid = first.system_id
            await first.close()
            return sysid
        finally:
            await sim.stop()

    assert run(scenario()) == 1


def test_udpin_listens_for_a_vehicle_that_streams_to_us() -> None:
    async def scenario() -> Any:
        async with SimVehicle(sim_config(system_id=7)) as sim:
            conn = await MavConnection.open("udpin:127.0.0.1:0")
            try:
                await sim.add_udp_output("127.0.0.1", conn.local_port)
                hb = await conn.wait_heartbeat(3.0)
                return hb.get_srcSystem(), conn.target_system
            finally:
                await conn.close()

    assert run(scenario()) == (7, 7)


def test_serial_device_through_a_pseudo_terminal() -> None:
    """A pty stands in for the radio: bytes cross it to the simulator's UDP port and back."""
    master, slave = os.openpty()
    device = os.ttyname(slave)

    async def scenario() -> Any:
        loop = asyncio.get_running_loop()
        async with SimVehicle(sim_config(system_id=3)) as sim:
            bridge = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            bridge.setblocking(False)
            bridge.connect(("127.0.0.1", sim.udp_port))
            loop.add_reader(master, lambda: bridge.send(os.read(master, 4096)))
            loop.add_reader(bridge.fileno(), lambda: os.write(master, bridge.recv(4096)))
            try:
                vehicle = await Vehicle.connect(f"{device},115200", timeout_s=3.0)
                await vehicle.telemetry.wait_for(lambda: vehicle.telemetry.home is not None, what="home",
                                                 vehicle_timeout_s=30.0)
                count = await vehicle.mission.count()
                await vehicle.close()
                return vehicle.system_id, count
            finally:
                loop.remove_reader(master)
                loop.remove_reader(bridge.fileno())
                bridge.close()

    try:
        assert run(scenario()) == (3, 1)
    finally:
        os.close(master)
        os.close(slave)


def test_link_loss_and_recovery_are_reported_without_reconnecting_by_hand() -> None:
    async def scenario() -> list[bool]:
        async with SimVehicle(sim_config()) as sim:
            vehicle = await Vehicle.connect(sim.udp_url, timeout_s=3.0, link_timeout_s=0.3)
            changes: list[bool] = []
            down, up = asyncio.Event(), asyncio.Event()

            def on_link(is_up: bool) -> None:
                changes.append(is_up)
                (up if is_up else down).set()

            vehicle.connection.add_link_listener(on_link)
            sim.cut_link()
            await asyncio.wait_for(down.wait(), 3.0)
            sim.restore_link()
            await asyncio.wait_for(up.wait(), 3.0)
            assert vehicle.link_up
            await vehicle.close()
            return changes

    assert run(scenario()) == [False, True]


def test_a_dropped_tcp_connection_is_reopened_by_itself() -> None:
    async def scenario() -> Any:
        sim = SimVehicle(sim_config())
        await sim.start(udp_port=None, tcp_port=0)
        try:
            vehicle = await Vehicle.connect(sim.tcp_url, timeout_s=3.0, heartbeat_interval_s=0.1)
            first_peer = sim._tcp_peer
            sim.drop_tcp_client()
            # our heartbeats arrive again, over a new connection
            await sim.wait_until(lambda s: s._tcp_peer is not first_peer and s.received["HEARTBEAT"] > 0,
                                 timeout_s=5.0)
            count = await vehicle.mission.count()
            await vehicle.close()
            return count, first_peer.closed
        finally:
            await sim.stop()

    assert run(scenario()) == (1, True)
