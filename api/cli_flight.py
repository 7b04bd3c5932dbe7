"""`dockpatrol fly`: fly a plan on a vehicle; exit 0 only when the mission completed and the vehicle
landed and disarmed at the dock.

Vehicle URLs that name no link but a vehicle to start for the flight (``sim:``, the twin's simulator)
come from :data:`VEHICLE_STARTERS`, which plugins fill (``sim.cli``): this module never imports the twin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from dockpatrol.errors import ConfigError, FlightError, InvalidInput

log = logging.getLogger(__name__)
_QUIET_EVENTS = frozenset({"current_item", "capture"})

#: URL scheme → starts a vehicle for one flight of ``plan`` and yields its MAVLink URL.
VEHICLE_STARTERS: dict[str, Callable[..., AbstractAsyncContextManager[str]]] = {}


def _parse_home(value: str) -> tuple[float, float]:
    parts = value.split(",")
    try:
        lon, lat = (float(p) for p in parts)
    except ValueError:
        raise InvalidInput(f"--home {value!r} must be LON,LAT (e.g. 113.15,23.03)") from None
    from dockpatrol.geo import check_lonlat

    check_lonlat(lon, lat, where="--home")
    return lon, lat


def _parse_host_port(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.removeprefix("udp:").rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"{option} {value!r} must be HOST:PORT, e.g. 127.0.0.1:14550")
    return host or "127.0.0.1", int(port)


def _install_interrupts(on_first: Any) -> None:
    """First Ctrl-C calls on_first (graceful); the second one stops the program."""
    loop = asyncio.get_running_loop()
    count = {"n": 0}

    def handler() -> None:
        count["n"] += 1
        if count["n"] == 1:
            on_first()
        else:
            for task in asyncio.all_tasks(loop):
                task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, handler)


# ---- dockpatrol fly ---------------------------------------------------------------------------------------


def fly_cmd(
    vehicle: str = typer.Option(..., "--vehicle", help="udp:|udpin:|udpout:|tcp:|tcpin:HOST:PORT, /dev/tty…[,baud], "
                                "or sim: for an in-process simulator at the plan's dock"),
    plan: Path = typer.Option(..., "--plan", help="plan.json from `dockpatrol plan` or a QGroundControl .plan"),
    log_dir: Path | None = typer.Option(None, help="where track.geojson and flight.tlog go "
                                        "(default: <data dir>/flights/<dock>/<time>)"),
    connect_timeout: float = typer.Option(10.0, help="seconds to wait for the vehicle's first heartbeat"),
    link_timeout: float = typer.Option(3.0, help="seconds of silence that count as link loss"),
    min_battery: float = typer.Option(40.0, help="minimum battery percentage to take off"),
    sim_speedup: float = typer.Option(10.0, help="speed-up of the in-process simulator (with --vehicle sim:)"),
    fence_policy: str = typer.Option("refuse", help="when the plan leaves the vehicle's own fence (FENCE_RADIUS, "
                                     "FENCE_ALT_MAX): refuse, or adapt (switch its circle off in favour of the "
                                     "plan's polygon, or raise FENCE_RADIUS / FENCE_ALT_MAX)"),
) -> None:
    """Fly a plan: check, upload and verify, arm, take off, follow the mission, land; exit 0 only on success."""
    from flight.fence import FencePolicy
    from flight.planfile import read_plan_file

    if fence_policy not in {p.value for p in FencePolicy}:
        raise InvalidInput(f"--fence-policy must be one of {', '.join(p.value for p in FencePolicy)}, "
                           f"got {fence_policy!r}")
    mission_plan = read_plan_file(plan)
    if log_dir is None:
        from dockpatrol.settings import get_settings

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        log_dir = get_settings().data_dir / "flights" / mission_plan.dock_id / stamp
    report = asyncio.run(_fly(vehicle, mission_plan, log_dir=log_dir, connect_timeout_s=connect_timeout,
                              link_timeout_s=link_timeout, min_battery_percent=min_battery, sim_speedup=sim_speedup,
                              fence_policy=FencePolicy(fence_policy)))
    typer.echo(report.summary())
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"flight log: {report.track_path}, {report.tlog_path}")
    if not report.ok:
        raise FlightError(report.result, "fly", report.summary())


async def _fly(url: str, plan: Any, *, log_dir: Path, connect_timeout_s: float, link_timeout_s: float,
               min_battery_percent: float, sim_speedup: float, fence_policy: Any) -> Any:
    async with contextlib.AsyncExitStack() as stack:
        scheme = url.strip().lower().partition(":")[0]
        starter = VEHICLE_STARTERS.get(scheme)
        if starter is None and scheme == "sim":
            raise ConfigError("--vehicle sim: needs the digital twin (the sim package), not installed here")
        if starter is not None:
            url = await stack.enter_async_context(starter(plan, speedup=sim_speedup))
        return await _fly_on(url, plan, log_dir=log_dir, connect_timeout_s=connect_timeout_s,
                             link_timeout_s=link_timeout_s, min_battery_percent=min_battery_percent,
                             fence_policy=fence_policy)


async def _fly_on(url: str, plan: Any, *, log_dir: Path, connect_timeout_s: float, link_timeout_s: float,
                  min_battery_percent: float, fence_policy: Any) -> Any:
    from flight.executor import FlightEvent, FlyOptions, fly
    from flight.vehicle import Vehicle

    abort = asyncio.Event()

    def on_interrupt() -> None:
        typer.echo("interrupt: aborting, the vehicle returns to the dock (Ctrl-C again to quit at once)", err=True)
        abort.set()

    def on_event(ev: FlightEvent) -> None:
        if ev.kind.value in _QUIET_EVENTS and not (ev.kind.value == "capture" and ev.detail.endswith("0")):
            return
        t = f"{ev.vehicle_time_s:8.1f}s" if ev.vehicle_time_s is not None else "       -"
        typer.echo(f"[{t}] {ev.kind.value}{': ' + ev.detail if ev.detail else ''}")

    vehicle = await Vehicle.connect(url, timeout_s=connect_timeout_s, link_timeout_s=link_timeout_s)
    typer.echo(f"connected to system {vehicle.system_id} at {url}")
    _install_interrupts(on_interrupt)
    try:
        options = FlyOptions(min_battery_percent=min_battery_percent, fence_policy=fence_policy)
        return await fly(plan, vehicle, options=options, log_dir=log_dir, abort=abort, on_event=on_event)
    finally:
        await vehicle.close()


def register(app: typer.Typer) -> None:
    """``dockpatrol fly`` on the main app."""
    app.command("fly")(fly_cmd)
