"""`dockpatrol fly` (fly a plan on a vehicle) and `dockpatrol sim vehicle` (serve a simulated ArduCopter).

``fly`` exits 0 only when the mission completed and the vehicle landed and disarmed at the dock.
Heavy imports (the twin's renderer) happen inside commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from api.cli_groups import sim_app
from dockpatrol.errors import FlightError, InvalidInput

log = logging.getLogger(__name__)
_QUIET_EVENTS = frozenset({"current_item", "capture"})


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
    from flight.executor import FlightEvent, FlyOptions, fly
    from flight.vehicle import Vehicle

    sim = None
    if url.strip().lower().startswith("sim"):
        from sim.vehicle import SimVehicle, SimVehicleConfig

        sim = SimVehicle(SimVehicleConfig(home_lon=plan.home_lon, home_lat=plan.home_lat, speedup=sim_speedup))
        await sim.start(udp_port=0)
        url = sim.udp_url
        typer.echo(f"started a simulated vehicle at the dock ({plan.home_lon:.6f}, {plan.home_lat:.6f}), "
                   f"speed-up {sim_speedup:g}, {url}")
    abort = asyncio.Event()

    def on_interrupt() -> None:
        typer.echo("interrupt: aborting, the vehicle returns to the dock (Ctrl-C again to quit at once)", err=True)
        abort.set()

    def on_event(ev: FlightEvent) -> None:
        if ev.kind.value in _QUIET_EVENTS and not (ev.kind.value == "capture" and ev.detail.endswith("0")):
            return
        t = f"{ev.vehicle_time_s:8.1f}s" if ev.vehicle_time_s is not None else "       -"
        typer.echo(f"[{t}] {ev.kind.value}{': ' + ev.detail if ev.detail else ''}")

    try:
        vehicle = await Vehicle.connect(url, timeout_s=connect_timeout_s, link_timeout_s=link_timeout_s)
        typer.echo(f"connected to system {vehicle.system_id} at {url}")
        _install_interrupts(on_interrupt)
        try:
            options = FlyOptions(min_battery_percent=min_battery_percent, fence_policy=fence_policy)
            return await fly(plan, vehicle, options=options, log_dir=log_dir, abort=abort, on_event=on_event)
        finally:
            await vehicle.close()
    finally:
        if sim is not None:
            await sim.stop()


# ---- dockpatrol sim vehicle ---------------------------------------------------------------------------------


@sim_app.command("vehicle")
def sim_vehicle_cmd(
    port: int = typer.Option(5760, help="TCP port to serve (one client at a time, as ArduPilot SITL)"),
    home: str = typer.Option(..., help="dock position LON,LAT"),
    speedup: float = typer.Option(1.0, help="simulated seconds per wall second"),
    udp_port: int | None = typer.Option(None, help="also listen for MAVLink on this UDP port"),
    out: list[str] = typer.Option([], help="also stream to a GCS listening at HOST:PORT (repeatable)"),
    host: str = typer.Option("127.0.0.1", help="address to bind"),
    sysid: int = typer.Option(1, help="MAVLink system id"),
    alt_amsl: float = typer.Option(10.0, help="dock altitude above mean sea level (m)"),
    media_dir: Path | None = typer.Option(None, help="where rendered photos go (default: <data dir>/media/sim-<sysid>)"),
    render: bool = typer.Option(True, help="render each photo through the twin's camera"),
    render_width: int = typer.Option(1000, help="rendered photo width in pixels"),
    camera_mount: str = typer.Option("fixed", help="fixed (to the airframe: photos tilt as the copter banks, "
                                     "as on SITL without a gimbal) or gimbal (always nadir)"),
    world_seed: int = typer.Option(0, help="seed of the twin world around the dock"),
    world_size_m: float = typer.Option(2000.0, help="side of the twin world around the dock (m)"),
    image_captured: bool = typer.Option(False, help="also send CAMERA_IMAGE_CAPTURED (PX4-like)"),
    loss: float = typer.Option(0.0, help="packet loss in each direction, 0..1"),
    latency_ms: float = typer.Option(0.0, help="one-way latency in milliseconds"),
    profile: str = typer.Option("sitl", help="sitl: ArduPilot SITL's measured defaults (boots on the first client, "
                                "EKF origin at ~19 s, arming from ~40 s, FENCE_RADIUS 150 m); fast: firmware "
                                "parameters (FENCE_RADIUS 300 m) and a few seconds to readiness"),
) -> None:
    """Serve a simulated ArduCopter over MAVLink 2 until interrupted."""
    from sim.vehicle import SimVehicleConfig, serve
    from sim.world import DEFAULT_EPOCH

    lon, lat = _parse_home(home)
    from dockpatrol.camera import CameraMount

    if camera_mount not in {m.value for m in CameraMount}:
        raise InvalidInput(f"--camera-mount must be fixed or gimbal, got {camera_mount!r}")
    if profile not in ("sitl", "fast"):
        raise InvalidInput(f"--profile must be sitl or fast, got {profile!r}")
    if not 0.0 <= loss < 1.0:
        raise InvalidInput(f"--loss must be within 0..1, got {loss}")
    outputs = [_parse_host_port(o, "--out") for o in out]
    # local mid-morning on the twin's epoch day (UTC+8), so rendered photos have daylight
    fields: dict[str, Any] = {"home_alt_amsl_m": alt_amsl, "speedup": speedup, "system_id": sysid,
                              "epoch_utc": DEFAULT_EPOCH + timedelta(hours=2), "send_image_captured": image_captured}
    config = (SimVehicleConfig.sitl(home_lon=lon, home_lat=lat, **fields) if profile == "sitl"
              else SimVehicleConfig(home_lon=lon, home_lat=lat, **fields))
    writer = None
    if render:
        if media_dir is None:
            from dockpatrol.settings import get_settings

            media_dir = get_settings().data_dir / "media" / f"sim-{sysid}"
        from dockpatrol.camera import CameraModel
        from sim.media import TwinCameraCard
        from sim.world import World

        typer.echo(f"building the twin world around the dock (seed {world_seed}, {world_size_m:.0f} m)…")
        world = World.generate(seed=world_seed, center_lon=lon, center_lat=lat, size_m=world_size_m)
        camera = dataclasses.replace(CameraModel().scaled(render_width), mount=CameraMount(camera_mount))
        writer = TwinCameraCard(world=world, camera=camera, media_dir=media_dir,
                                seed=world_seed)

    async def main() -> None:
        stop = asyncio.Event()
        _install_interrupts(stop.set)

        def ready(sim: Any) -> None:
            sim.set_link(loss=loss, latency_s=latency_ms / 1000.0)
            where = [f"tcp:{host}:{sim.tcp_port}"] + ([f"udpout:{host}:{sim.udp_port}"] if sim.udp_port else [])
            where += [f"streaming to {h}:{p}" for h, p in outputs]
            typer.echo(f"simulated ArduCopter (system {sysid}) at {lon:.6f},{lat:.6f}, {profile} profile, "
                       f"speed-up {speedup:g}: "
                       + ", ".join(where) + (f"; photos to {media_dir}" if writer else ""))

        await serve(config, tcp_port=port, udp_port=udp_port, host=host, outputs=outputs,
                    on_capture=writer, on_ready=ready, stop=stop)

    try:
        asyncio.run(main())
    finally:
        if writer is not None:
            typer.echo(f"{len(writer.close())} photos written")


def register(app: typer.Typer) -> None:
    """``dockpatrol fly`` on the main app; ``dockpatrol sim vehicle`` hangs off sim_app (above)."""
    app.command("fly")(fly_cmd)
