"""The Vehicle façade: one MAVLink connection with its plugins (mission, action, telemetry, camera, params).

    async with await Vehicle.connect("tcp:127.0.0.1:5760") as vehicle:
        async for position in vehicle.telemetry.positions(): ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flight.action import Action
from flight.camera import Camera
from flight.connection import GCS_COMPONENT_ID, GCS_SYSTEM_ID, LinkError, MavConnection, parse_vehicle_url
from flight.mission import Mission, UploadTuning
from flight.params import Params
from flight.telemetry import DEFAULT_RATES_HZ, Telemetry


class Vehicle:
    """A connected vehicle; construct with ``await Vehicle.connect(url)``."""

    def __init__(self, connection: MavConnection, *, tuning: UploadTuning | None = None) -> None:
        self.connection = connection
        self.telemetry = Telemetry(connection)
        self.action = Action(connection, self.telemetry)
        self.mission = Mission(connection, tuning=tuning)
        self.camera = Camera(connection, self.action)
        self.params = Params(connection)

    @classmethod
    async def connect(cls, url: str, *, timeout_s: float = 10.0, link_timeout_s: float = 3.0,
                      heartbeat_interval_s: float = 1.0, source_system: int = GCS_SYSTEM_ID,
                      source_component: int = GCS_COMPONENT_ID, tlog_path: Path | None = None,
                      tuning: UploadTuning | None = None,
                      stream_rates_hz: dict[int, float] | None = None) -> Vehicle:
        """Open ``url``, wait (at most timeout_s) for the vehicle's heartbeat and ask for telemetry.

        ArduPilot streams only HEARTBEAT until a client asks, so the rates (default: DEFAULT_RATES_HZ)
        are requested now and again whenever a wanted message stops arriving.

        Raises InvalidInput for a URL outside the allow-list and LinkError(TIMEOUT) naming the URL
        when no vehicle answers.
        """
        conn = MavConnection(parse_vehicle_url(url), source_system=source_system, source_component=source_component,
                             heartbeat_interval_s=heartbeat_interval_s, link_timeout_s=link_timeout_s)
        vehicle = cls(conn, tuning=tuning)
        if tlog_path is not None:
            conn.start_tlog(tlog_path)
        try:
            await conn.start()
            await conn.wait_heartbeat(timeout_s)
        except (LinkError, OSError):
            await conn.close()
            raise
        vehicle.telemetry.request_rates(DEFAULT_RATES_HZ if stream_rates_hz is None else stream_rates_hz)
        return vehicle

    @property
    def url(self) -> str:
        return self.connection.address.url

    @property
    def system_id(self) -> int | None:
        return self.connection.target_system

    @property
    def link_up(self) -> bool:
        return self.connection.link_up

    async def close(self) -> None:
        await self.connection.close()

    async def __aenter__(self) -> Vehicle:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
