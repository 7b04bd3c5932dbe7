"""Plans, simulators and an event loop runner shared by the flight tests (real UDP on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from flight.vehicle import Vehicle
from missions.types import FenceVertex, MavCmd, MissionItem, MissionPlan
from sim.vehicle import SimVehicle, SimVehicleConfig

T = TypeVar("T")
HOME = (113.15, 23.03)


def run(coro: Coroutine[Any, Any, T], *, timeout_s: float = 60.0) -> T:
    """Run one test scenario in a fresh event loop with an overall wall-clock bound."""
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


def offset(north_m: float, east_m: float, home: tuple[float, float] = HOME) -> tuple[float, float]:
    """(lat, lon) of a point north/east of home (small distances)."""
    lat = home[1] + north_m / 110574.0
    lon = home[0] + east_m / (111320.0 * math.cos(math.radians(home[1])))
    return lat, lon


def survey_plan(*, lanes: int = 3, length_m: float = 200.0, spacing_m: float = 30.0, altitude_m: float = 40.0,
                trigger_m: float = 20.0, home: tuple[float, float] = HOME, end_with_rtl: bool = True,
                dock_id: str = "dock-1", fence: tuple[FenceVertex, ...] = ()) -> MissionPlan:
    """Takeoff, a lawnmower of ``lanes`` north-south lanes starting 20 m NE of home, camera on the lanes, RTL."""
    items = [MissionItem(command=MavCmd.NAV_TAKEOFF, altitude_m=altitude_m)]
    for k in range(lanes):
        east = 20.0 + k * spacing_m
        ends = (20.0, 20.0 + length_m) if k % 2 == 0 else (20.0 + length_m, 20.0)
        for j, north in enumerate(ends):
            lat, lon = offset(north, east, home)
            items.append(MissionItem(command=MavCmd.NAV_WAYPOINT, lat=lat, lon=lon, altitude_m=altitude_m))
            if k == 0 and j == 0 and trigger_m > 0:
                items.append(MissionItem(command=MavCmd.DO_SET_CAM_TRIGG_DIST, params=(trigger_m, 0.0, 0.0, 0.0)))
    if trigger_m > 0:
        items.append(MissionItem(command=MavCmd.DO_SET_CAM_TRIGG_DIST, params=(0.0, 0.0, 0.0, 0.0)))
    if end_with_rtl:
        items.append(MissionItem(command=MavCmd.NAV_RETURN_TO_LAUNCH))
    path = lanes * length_m + (lanes - 1) * spacing_m
    return MissionPlan(dock_id=dock_id, items=tuple(items), trigger_distance_m=trigger_m, length_m=path + 60,
                       duration_s=(path + 60) / 8.0 + 60, home_lon=home[0], home_lat=home[1], altitude_m=altitude_m,
                       fence=fence)


def square_fence(half_side_m: float, *, home: tuple[float, float] = HOME, center_ne_m: tuple[float, float] = (0, 0),
                 inclusion: bool = True, polygon_index: int = 0) -> tuple[FenceVertex, ...]:
    cn, ce = center_ne_m
    corners = [(cn - half_side_m, ce - half_side_m), (cn + half_side_m, ce - half_side_m),
               (cn + half_side_m, ce + half_side_m), (cn - half_side_m, ce + half_side_m)]
    return tuple(FenceVertex(lat=offset(n, e, home)[0], lon=offset(n, e, home)[1], polygon_index=polygon_index,
                             vertex_count=4, inclusion=inclusion) for n, e in corners)


def sim_config(**overrides: Any) -> SimVehicleConfig:
    base: dict[str, Any] = {"home_lon": HOME[0], "home_lat": HOME[1], "speedup": 40.0}
    base.update(overrides)
    return SimVehicleConfig(**base)


@asynccontextmanager
async def sim_and_vehicle(config: SimVehicleConfig | None = None, *, on_capture: Callable[[Any], None] | None = None,
                          link_timeout_s: float = 1.0, heartbeat_interval_s: float = 1.0,
                          ) -> AsyncIterator[tuple[SimVehicle, Vehicle]]:
    """A simulator on an ephemeral UDP port and a Vehicle connected to it with udpout:."""
    async with SimVehicle(config or sim_config(), on_capture=on_capture) as sim:
        vehicle = await Vehicle.connect(sim.udp_url, timeout_s=5.0, link_timeout_s=link_timeout_s,
                                        heartbeat_interval_s=heartbeat_interval_s)
        try:
            yield sim, vehicle
        finally:
            await vehicle.close()


async def when(event: asyncio.Event, action: Callable[[], Awaitable[None] | None], *, timeout_s: float = 30.0) -> None:
    """Wait for event, then run action (used to inject faults at a mission point)."""
    await asyncio.wait_for(event.wait(), timeout_s)
    result = action()
    if result is not None:
        await result
