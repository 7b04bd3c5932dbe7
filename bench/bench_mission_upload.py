"""Bench: upload a 500-item mission at 0/10/30 % packet loss (each direction) to the simulated ArduCopter,
dockpatrol's uploader against MAVProxy's ``wp load`` and a reactive pymavlink/mavwp loop, same simulator.

The time is measured by the vehicle: from the first MISSION_COUNT it receives to the MISSION_ACK it sends
(ACCEPTED counts as success; a cancelled upload or the time cap counts as failure). Loss is switched on
only once each client is connected, so start-up is not measured. Each row also shows the time per item
(the round trip a client sees), next to the simulator's configured per-item turnaround, so the numbers
can be set beside a real autopilot's (ArduCopter SITL on loopback: ~1.5 ms per item).

    .venv/bin/python bench/bench_mission_upload.py [--items 500] [--loss 0,0.1,0.3] [--cap-s 180] [--repeats 1]
                                                   [--item-rtt-ms 1.5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from pymavlink import mavutil, mavwp
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from flight.mission import WireItem
from flight.vehicle import Vehicle
from sim.vehicle import SimVehicle, SimVehicleConfig

C = mavlink
HOME = (113.15, 23.03)


@dataclass
class Run:
    client: str
    loss: float
    ok: bool
    seconds: float
    note: str = ""


def mission(n: int) -> list[WireItem]:
    home = WireItem(seq=0, command=C.MAV_CMD_NAV_WAYPOINT, frame=C.MAV_FRAME_GLOBAL,
                    x=round(HOME[1] * 1e7), y=round(HOME[0] * 1e7))
    return [home] + [WireItem(seq=i, command=C.MAV_CMD_NAV_WAYPOINT, frame=C.MAV_FRAME_GLOBAL_RELATIVE_ALT,
                              x=round((HOME[1] + 1e-5 * i) * 1e7), y=round(HOME[0] * 1e7), z=40.0 + i % 7)
                     for i in range(1, n)]


def write_wpl(items: list[WireItem], path: Path) -> None:
    lines = ["QGC WPL 110"]
    for it in items:
        lines.append("\t".join(str(v) for v in (it.seq, int(it.seq == 0), it.frame, it.command, *it.params,
                                                it.x / 1e7, it.y / 1e7, it.z, 1)))
    path.write_text("\n".join(lines) + "\n")


DEFAULT_ITEM_RTT_S = SimVehicleConfig(home_lon=HOME[0], home_lat=HOME[1]).mission_item_rtt_wall_s


def config(n: int, item_rtt_s: float) -> SimVehicleConfig:
    return SimVehicleConfig(home_lon=HOME[0], home_lat=HOME[1], speedup=1.0, mission_capacity=max(650, n + 1),
                            gcs_failsafe=False, mission_item_rtt_wall_s=item_rtt_s)


def stored_ok(sim: SimVehicle, items: list[WireItem]) -> bool:
    stored = sim.model.mission
    # float MISSION_ITEMs (mavwp) round latitudes to float32: allow a few centimetres
    return len(stored) == len(items) and all(abs(s.altitude_m - it.z) < 1e-3 and abs(s.lat_e7 - it.x) <= 30
                                             for s, it in zip(stored[1:], items[1:], strict=True))


async def finished(sim: SimVehicle, cap_s: float) -> tuple[bool, float, str]:
    """Wait for the vehicle to end the upload; (accepted, seconds from COUNT to ACK, note)."""
    try:
        await sim.wait_until(lambda s: bool(s.uploads) and s.uploads[-1].ended_wall_s is not None
                             and s.uploads[-1].result is not None, timeout_s=cap_s)
    except TimeoutError:
        if not sim.uploads:
            return False, cap_s, "no MISSION_COUNT arrived (never re-sent)"
        return False, cap_s, f"capped at {cap_s:g} s"
    first = sim.uploads[0].started_wall_s
    last = sim.uploads[-1]
    accepted = last.result == C.MAV_MISSION_ACCEPTED
    return accepted, (last.ended_wall_s or first) - first, "" if accepted else f"vehicle ACK {last.result}"


async def run_dockpatrol(items: list[WireItem], loss: float, cap_s: float, rtt_s: float) -> Run:
    async with SimVehicle(config(len(items), rtt_s)) as sim:
        vehicle = await Vehicle.connect(sim.udp_url, timeout_s=10.0)
        try:
            await vehicle.telemetry.wait_for(lambda: vehicle.telemetry.home is not None, what="ready",
                                             vehicle_timeout_s=30.0)
            sim.set_link(loss=loss)
            upload = asyncio.create_task(vehicle.mission.upload(items))
            ok, seconds, note = await finished(sim, cap_s)
            try:
                await asyncio.wait_for(upload, 5.0)
            except Exception as exc:
                ok, note = False, str(exc)
            return Run("dockpatrol", loss, ok and stored_ok(sim, items), seconds, note)
        finally:
            await vehicle.close()


def _reactive_client(url: str, path: Path, stop: threading.Event) -> None:
    """The classic pymavlink loop: answer each MISSION_REQUEST with that item, nothing more."""
    master = mavutil.mavlink_connection(url, source_system=255, source_component=191)
    try:
        master.wait_heartbeat(timeout=10)
        loader = mavwp.MAVWPLoader(target_system=1, target_component=1)
        loader.load(str(path))
        master.waypoint_count_send(loader.count())
        while not stop.is_set():
            msg = master.recv_match(type=["MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"], blocking=True,
                                    timeout=0.5)
            if msg is None:
                continue
            if msg.get_type() == "MISSION_ACK":
                if msg.type != C.MAV_MISSION_INVALID_SEQUENCE:
                    return
                continue
            if msg.seq < loader.count():
                master.mav.send(loader.wp(msg.seq))
    finally:
        master.close()


async def run_reactive(items: list[WireItem], loss: float, cap_s: float, path: Path, rtt_s: float) -> Run:
    async with SimVehicle(config(len(items), rtt_s)) as sim:
        stop = threading.Event()
        await sim.wait_until(lambda s: s.model.home_set, timeout_s=30)
        sim.set_link(loss=loss)
        worker = asyncio.create_task(asyncio.to_thread(_reactive_client, sim.udp_url, path, stop))
        ok, seconds, note = await finished(sim, cap_s)
        stop.set()
        await worker
        return Run("pymavlink reactive", loss, ok and stored_ok(sim, items), seconds, note)


async def run_mavproxy(items: list[WireItem], loss: float, cap_s: float, path: Path, mavproxy: str,
                       rtt_s: float) -> Run:
    sim = SimVehicle(config(len(items), rtt_s))
    await sim.start(udp_port=None, tcp_port=0)
    state = Path(tempfile.mkdtemp(prefix="bench-mavproxy-"))
    proc = await asyncio.create_subprocess_exec(
        mavproxy, f"--master=tcp:127.0.0.1:{sim.tcp_port}", "--default-modules=wp", f"--state-basedir={state}",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await sim.wait_until(lambda s: s.model.home_set and s.received["REQUEST_DATA_STREAM"] > 0, timeout_s=30)
        sim.set_link(loss=loss)
        assert proc.stdin is not None
        proc.stdin.write(f"wp load {path}\n".encode())
        ok, seconds, note = await finished(sim, cap_s)
        return Run("MAVProxy", loss, ok and stored_ok(sim, items), seconds, note)
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 2.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        await sim.stop()
        shutil.rmtree(state, ignore_errors=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--loss", default="0,0.1,0.3")
    parser.add_argument("--cap-s", type=float, default=180.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--peers", default="mavproxy,reactive")
    parser.add_argument("--item-rtt-ms", type=float, default=DEFAULT_ITEM_RTT_S * 1000,
                        help="the simulated vehicle's per-item turnaround (ArduCopter SITL: ~1.5 ms)")
    args = parser.parse_args()
    rtt_s = args.item_rtt_ms / 1000.0
    items = mission(args.items)
    losses = [float(x) for x in args.loss.split(",")]
    peers = args.peers.split(",") if args.peers else []
    mavproxy = shutil.which("mavproxy.py", path=os.path.dirname(sys.executable)) or shutil.which("mavproxy.py")
    tmp = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    path = tmp / "mission.txt"
    write_wpl(items, path)
    print(f"{args.items}-item mission upload to the simulated ArduCopter (vehicle-side COUNT→ACK time), "
          f"cap {args.cap_s:g} s, {args.repeats} run(s) each; simulated per-item turnaround "
          f"{rtt_s * 1000:.2f} ms")
    results: list[Run] = []
    def show(r: Run) -> None:
        results.append(r)
        print(f"  loss {r.loss:4.0%}  {r.client:<19} {'ok  ' if r.ok else 'FAIL'} {r.seconds:8.2f} s"
              f"  {r.seconds / args.items * 1000:6.2f} ms/item{'  (' + r.note + ')' if r.note else ''}", flush=True)

    for loss in losses:
        for _ in range(args.repeats):
            show(await run_dockpatrol(items, loss, args.cap_s, rtt_s))
            if "mavproxy" in peers and mavproxy:
                show(await run_mavproxy(items, loss, args.cap_s, path, mavproxy, rtt_s))
            if "reactive" in peers:
                show(await run_reactive(items, loss, args.cap_s, path, rtt_s))
    print("summary (median of successful runs; successes/runs):")
    for loss in losses:
        row = {}
        for client in ("dockpatrol", "MAVProxy", "pymavlink reactive"):
            runs = [r for r in results if r.client == client and r.loss == loss]
            if not runs:
                continue
            good = [r.seconds for r in runs if r.ok]
            row[client] = statistics.median(good) if good else None
            shown = (f"{row[client]:.2f} s  {row[client] / args.items * 1000:6.2f} ms/item"
                     if row[client] is not None else "failed")
            print(f"  loss {loss:4.0%}  {client:<19} {shown:>24}  {len(good)}/{len(runs)}")
        ours = row.get("dockpatrol")
        for peer in ("MAVProxy", "pymavlink reactive"):
            if peer in row and ours:
                theirs = row[peer]
                ratio = f"{theirs / ours:.1f}x faster" if theirs else "peer failed"
                print(f"  loss {loss:4.0%}  dockpatrol vs {peer}: {ratio}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
