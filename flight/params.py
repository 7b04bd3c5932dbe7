"""Param plugin: read and set autopilot parameters by name (PARAM_REQUEST_READ / PARAM_SET, answered by
PARAM_VALUE), with wall-clock retries; a name the vehicle does not have is never answered (ArduPilot)."""

from __future__ import annotations

import asyncio
import math
from enum import Enum
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from dockpatrol.errors import FlightError
from flight.connection import MavConnection

C = mavlink


class ParamResult(Enum):
    SUCCESS = "success"
    NO_SYSTEM = "no_system"
    TIMEOUT = "timeout"
    NOT_SET = "not_set"


class ParamError(FlightError):
    """A parameter could not be read or set; ``result`` is a ParamResult."""


def _name(raw: Any) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes | bytearray) else str(raw)
    return text.rstrip("\x00")


class Params:
    """Named parameters of one vehicle."""

    def __init__(self, conn: MavConnection, *, timeout_s: float = 0.5, retries: int = 4) -> None:
        self._conn = conn
        self.timeout_s = timeout_s
        self.retries = retries

    def _target(self, call: str) -> tuple[int, int]:
        if self._conn.target_system is None:
            raise ParamError(ParamResult.NO_SYSTEM, call, "no vehicle heartbeat yet")
        return self._conn.target_system, self._conn.target_component

    async def _exchange(self, name: str, send: Any) -> float | None:
        with self._conn.subscribe(("PARAM_VALUE",)) as sub:
            for _ in range(self.retries + 1):
                send()
                loop = asyncio.get_running_loop()
                deadline = loop.time() + self.timeout_s
                while (remaining := deadline - loop.time()) > 0:
                    msg = await sub.get(remaining)
                    if msg is not None and _name(msg.param_id) == name:
                        return float(msg.param_value)
        return None

    async def get(self, name: str) -> float | None:
        """The parameter's value, or None when the vehicle has no such parameter (or never answers)."""
        ts, tc = self._target("get_param")
        conn = self._conn
        return await self._exchange(
            name, lambda: conn.send(conn.mav.param_request_read_encode(ts, tc, name.encode(), -1)))

    async def get_many(self, names: tuple[str, ...]) -> dict[str, float | None]:
        """Several parameters, read one after another (vehicles answer reads in order)."""
        return {name: await self.get(name) for name in names}

    async def set(self, name: str, value: float) -> None:
        """Set and confirm from the PARAM_VALUE echo; ParamError when it is not taken."""
        ts, tc = self._target("set_param")
        conn = self._conn
        got = await self._exchange(name, lambda: conn.send(conn.mav.param_set_encode(
            ts, tc, name.encode(), float(value), C.MAV_PARAM_TYPE_REAL32)))
        if got is None:
            raise ParamError(ParamResult.TIMEOUT, "set_param", f"{name}: no PARAM_VALUE (no such parameter?)")
        if not math.isclose(got, value, rel_tol=1e-6, abs_tol=1e-6):
            raise ParamError(ParamResult.NOT_SET, "set_param", f"{name} is {got:g} after setting {value:g}")
