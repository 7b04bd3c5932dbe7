"""Action plugin: arm/disarm, takeoff, flight modes, return/land/hold/kill and the fence switch,
sent as COMMAND_LONG with COMMAND_ACK handling, retries, and ArduCopter's readiness quirks."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from enum import Enum

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from dockpatrol.errors import FlightError
from flight.connection import MavConnection
from flight.telemetry import FlightMode, Telemetry, TelemetryError

C = mavlink
FORCE_MAGIC = 21196.0


class ActionResult(Enum):
    """Outcome of a vehicle command, from COMMAND_ACK or from waiting for it."""

    SUCCESS = "success"
    NO_SYSTEM = "no_system"
    TEMPORARILY_REJECTED = "temporarily_rejected"
    DENIED = "denied"
    UNSUPPORTED = "unsupported"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    NOT_CONFIRMED = "not_confirmed"
    INVALID_ARGUMENT = "invalid_argument"


_ACK_RESULTS = {
    C.MAV_RESULT_ACCEPTED: ActionResult.SUCCESS,
    C.MAV_RESULT_TEMPORARILY_REJECTED: ActionResult.TEMPORARILY_REJECTED,
    C.MAV_RESULT_DENIED: ActionResult.DENIED,
    C.MAV_RESULT_UNSUPPORTED: ActionResult.UNSUPPORTED,
    C.MAV_RESULT_FAILED: ActionResult.FAILED,
    6: ActionResult.CANCELLED,  # MAV_RESULT_CANCELLED, missing from some pymavlink dialects
}


class ActionError(FlightError):
    """A command was refused or unanswered; ``result`` is an ActionResult and ``call`` the action."""


class Action:
    """Commands for one vehicle."""

    def __init__(self, conn: MavConnection, telemetry: Telemetry, *, ack_timeout_s: float = 1.0,
                 retries: int = 3) -> None:
        self._conn = conn
        self._telemetry = telemetry
        self.ack_timeout_s = ack_timeout_s
        self.retries = retries

    async def command(self, command: int, params: Sequence[float] = (), *, call: str) -> ActionResult:
        """Send COMMAND_LONG and wait for its COMMAND_ACK (re-sent up to ``retries`` times, wall timeouts)."""
        conn = self._conn
        if conn.target_system is None:
            raise ActionError(ActionResult.NO_SYSTEM, call, "no vehicle heartbeat yet")
        p = [float(v) for v in params] + [0.0] * (7 - len(params))
        with conn.subscribe(("COMMAND_ACK",)) as acks:
            for confirmation in range(self.retries + 1):
                conn.send(conn.mav.command_long_encode(conn.target_system, conn.target_component, command,
                                                       min(confirmation, 255), *p))
                deadline = asyncio.get_running_loop().time() + self.ack_timeout_s
                while True:
                    remaining = deadline - asyncio.get_running_loop().time()
                    if remaining <= 0:
                        break
                    ack = await acks.get(remaining)
                    if ack is None:
                        break
                    if ack.command != command or ack.target_system not in (0, conn.source_system):
                        continue
                    if ack.result == C.MAV_RESULT_IN_PROGRESS:
                        deadline = asyncio.get_running_loop().time() + 10 * self.ack_timeout_s
                        continue
                    return _ACK_RESULTS.get(ack.result, ActionResult.FAILED)
        return ActionResult.TIMEOUT

    async def _require(self, command: int, params: Sequence[float], *, call: str, detail: str = "") -> None:
        result = await self.command(command, params, call=call)
        if result != ActionResult.SUCCESS:
            raise ActionError(result, call, detail)

    # ---- arming ----------------------------------------------------------------------------------

    async def arm(self, *, retry_vehicle_s: float = 60.0) -> None:
        """Arm, retrying while ArduPilot answers FAILED with "PreArm: …" (EKF still settling).

        Returns as soon as the vehicle ACCEPTS: an armed copter left on the ground disarms after
        about 10 s, so the caller must take off right away.
        """
        tel = self._telemetry
        start = tel.vehicle_time_s
        reasons: list[str] = []
        while True:
            since = tel.vehicle_time_s
            result = await self.command(C.MAV_CMD_COMPONENT_ARM_DISARM, (1,), call="arm")
            if result == ActionResult.SUCCESS:
                return
            if result not in (ActionResult.FAILED, ActionResult.TEMPORARILY_REJECTED, ActionResult.DENIED):
                raise ActionError(result, "arm")
            await tel.sleep_vehicle(1.0, what="arm")
            reasons = tel.recent_texts(since_vehicle_s=since, prefix="PreArm") or \
                tel.recent_texts(since_vehicle_s=since, prefix="Arm") or reasons
            if start is not None and tel.vehicle_time_s is not None and tel.vehicle_time_s - start > retry_vehicle_s:
                raise ActionError(result, "arm", "; ".join(dict.fromkeys(reasons)) or "vehicle refused to arm")

    async def disarm(self, *, force: bool = False) -> None:
        await self._require(C.MAV_CMD_COMPONENT_ARM_DISARM, (0, FORCE_MAGIC if force else 0), call="disarm")

    async def kill(self) -> None:
        """Stop the motors at once, even in the air (flight termination; the aircraft falls)."""
        await self.disarm(force=True)

    async def takeoff(self, altitude_m: float) -> None:
        """NAV_TAKEOFF to altitude_m above home (GUIDED, armed, on the ground)."""
        if not 0 < altitude_m <= 500:
            raise ActionError(ActionResult.INVALID_ARGUMENT, "takeoff", f"altitude {altitude_m} m")
        result = await self.command(C.MAV_CMD_NAV_TAKEOFF, (0, 0, 0, 0, 0, 0, altitude_m), call="takeoff")
        if result == ActionResult.SUCCESS:
            return
        # a lost ACK makes the re-sent command fail because the copter is already climbing
        if result == ActionResult.FAILED and self._telemetry.on_ground is False:
            return
        raise ActionError(result, "takeoff", f"to {altitude_m:g} m")

    # ---- modes --------------------------------------------------------------------------------------

    async def set_mode(self, mode: FlightMode, *, confirm_vehicle_s: float = 5.0) -> None:
        """MAV_CMD_DO_SET_MODE (p1 = custom, p2 = mode), confirmed by the next heartbeats."""
        call = f"set_mode({mode.name})"
        await self._require(C.MAV_CMD_DO_SET_MODE, (C.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, int(mode)), call=call)
        try:
            await self._telemetry.wait_for(lambda: self._telemetry.flight_mode == mode, what=call,
                                           vehicle_timeout_s=confirm_vehicle_s)
        except TelemetryError as exc:
            raise ActionError(ActionResult.NOT_CONFIRMED, call, exc.detail) from exc

    async def return_to_launch(self) -> None:
        await self.set_mode(FlightMode.RTL)

    async def land(self) -> None:
        await self.set_mode(FlightMode.LAND)

    async def hold(self) -> None:
        """Stop and hover where the vehicle is (LOITER)."""
        await self.set_mode(FlightMode.LOITER)

    async def abort(self, *, land: bool = False) -> None:
        """Stop the mission and bring the aircraft down safely: home (RTL) or, with land=True, right here."""
        await self.set_mode(FlightMode.LAND if land else FlightMode.RTL)

    async def start_mission(self) -> None:
        """MISSION_START: AUTO from the current item, taking off if on the ground."""
        await self._require(C.MAV_CMD_MISSION_START, (0, 0), call="start_mission")

    async def set_fence_enabled(self, enabled: bool, *, types: int) -> None:
        """DO_FENCE_ENABLE for the fence types in ``types`` (ArduPilot FENCE_TYPE bits).

        There is no default: p2 = 0 means *every* type in the vehicle's FENCE_TYPE on ArduPilot, which
        includes a circle around home that a survey can leave; say which types you mean.
        """
        if types <= 0:
            raise ActionError(ActionResult.INVALID_ARGUMENT, "set_fence_enabled", f"fence type mask {types}")
        await self._require(C.MAV_CMD_DO_FENCE_ENABLE, (1 if enabled else 0, types), call="set_fence_enabled")

    async def set_speed(self, speed_m_s: float) -> None:
        await self._require(C.MAV_CMD_DO_CHANGE_SPEED, (1, speed_m_s, -1, 0), call="set_speed")
