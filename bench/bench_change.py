"""Patrol mosaic + change detection for a 0.25 km² area at 3 cm GSD: wall time and peak memory.

Two patrols of a 500 m square of the twin (4000×3000 frames at 80 m, laid out and overlapped as the
planner flies a patrol unless told other overlaps, another day and hour for the second) are rendered
once to JPEG files, as a dock would upload them. Then, each
in a fresh process so that peak memory (VmHWM) is the step's own:
- ours: the first patrol's mosaic (frames registered to each other), the second's (registered to
  the first), both written as COGs, and surface change between them;
- peer: one plain ``rasterio.warp.reproject`` per frame of the second patrol, from its four
  corner GCPs onto the same grid, written into one tiled GeoTIFF (no registration, no blending,
  no overviews): the least a georeferenced mosaic costs with rasterio.
Targets: second mosaic + change detection < 60 s on 2 cores; peak memory < 2 GB.
Usage: PYTHONPATH=. .venv/bin/python bench/bench_change.py [--size-m 500] [--gsd-m 0.03]
       [--front-overlap 0.75 --side-overlap 0.65] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
from peak_memory import peak_rss_mb

from dockpatrol.camera import CameraModel, GeoPose
from missions.planner import PlanOptions

CAMERA = CameraModel()


def _area(size_m: float) -> tuple[object, tuple[float, float, float, float]]:
    """The twin world and the square (UTM bounds) both patrols survey."""
    from sim.world import World

    world = World.generate(seed=4, size_m=max(800.0, size_m + 300.0))
    cx, cy = world.center_m
    return world, (cx - size_m / 2, cy - size_m / 2, cx + size_m / 2, cy + size_m / 2)


def generate(workdir: Path, size_m: float, gsd_m: float, overlaps: tuple[float, float]) -> None:
    """Render both patrols' frames to JPEG with their reported poses (a patrol already in ``workdir`` is kept)."""
    from sim.camera import render_frame
    from sim.change_eval import frozen_at, survey_poses, with_changes
    from sim.world import DEMO_OFFSET

    world, bounds = _area(size_m)
    poses = survey_poses(world, bounds_m=bounds, camera=CAMERA, altitude_m=CAMERA.altitude_for_gsd_m(gsd_m),
                         front_overlap=overlaps[0], side_overlap=overlaps[1])
    t0 = world.epoch + DEMO_OFFSET
    before = frozen_at(world, t0)
    after, _ = with_changes(before, source=world, at=t0 + timedelta(days=5), bounds_m=bounds, appear=6, vanish=6,
                            grow=4, seed=4)
    for name, w, at in (("before", before, t0), ("after", after, t0 + timedelta(days=12, hours=-2))):
        d = workdir / name
        if (d / "frames.json").exists():
            continue
        d.mkdir(parents=True, exist_ok=True)
        meta = []
        for i, pose in enumerate(poses):
            path = d / f"{i:04d}.jpg"
            shot = render_frame(w, CAMERA, pose, at + timedelta(seconds=3 * i), seed=i)
            cv2.imwrite(str(path), cv2.cvtColor(shot.rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
            p = shot.reported_pose
            meta.append({"path": str(path), "pose": [p.lon, p.lat, p.altitude_m, p.yaw_deg, p.pitch_deg, p.roll_deg]})
        (d / "frames.json").write_text(json.dumps(meta))


def _frames(d: Path) -> list:
    """The patrol's frames, decoded as the compare job decodes stored frames (they passed ingest)."""
    from vision.ingest.jpeg import decode_ingested
    from vision.mosaic import MosaicFrame

    def loader(path: Path):
        return lambda: decode_ingested(path.read_bytes())

    def reduced_loader(path: Path):
        return lambda n: decode_ingested(path.read_bytes(), n)

    return [MosaicFrame(frame_id=Path(m["path"]).stem, pose=GeoPose(*m["pose"]), camera=CAMERA,
                        load=loader(Path(m["path"])), load_reduced=reduced_loader(Path(m["path"])))
            for m in json.loads((d / "frames.json").read_text())]


def _grid(size_m: float, gsd_m: float):
    from vision.mosaic import MosaicGrid

    world, bounds = _area(size_m)
    return MosaicGrid.for_bounds(epsg=world.projection.epsg, bounds_m=bounds, gsd_m=gsd_m)


def measure_ours(workdir: Path, size_m: float, gsd_m: float) -> dict:
    import logging

    from vision.change import compare_mosaics

    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(message)s")
    logging.getLogger("rasterio").setLevel(logging.WARNING)
    from vision.mosaic import build_mosaic

    grid = _grid(size_m, gsd_m)
    t = time.perf_counter()
    before = build_mosaic(_frames(workdir / "before"), grid, path=workdir / "before.tif")
    t_before = time.perf_counter() - t
    t = time.perf_counter()
    after = build_mosaic(_frames(workdir / "after"), grid, path=workdir / "after.tif", reference=before.path)
    t_after = time.perf_counter() - t
    t = time.perf_counter()
    changes = compare_mosaics(before.path, after.path)
    t_change = time.perf_counter() - t
    return {"grid_px": [grid.width_px, grid.height_px], "frames": len(after.frames_used),
            "before_mosaic_s": t_before, "after_mosaic_s": t_after, "change_s": t_change,
            "changes": len(changes.events), "cog_mb": (workdir / "after.tif").stat().st_size / 1e6,
            "peak_mb": peak_rss_mb()}


def measure_peer(workdir: Path, size_m: float, gsd_m: float) -> dict:
    """One rasterio.warp.reproject per frame from corner GCPs into its window of one tiled GeoTIFF."""
    import rasterio
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.warp import reproject
    from rasterio.windows import Window

    from dockpatrol.camera import pixels_to_ground

    grid = _grid(size_m, gsd_m)
    out = workdir / "peer.tif"
    profile = {"driver": "GTiff", "width": grid.width_px, "height": grid.height_px, "count": 3, "dtype": "uint8",
               "crs": grid.crs, "transform": grid.transform, "tiled": True, "blockxsize": 512, "blockysize": 512,
               "BIGTIFF": "IF_SAFER"}
    t = time.perf_counter()
    with rasterio.open(out, "w", **profile) as dst:
        for frame in _frames(workdir / "after"):
            rgb = frame.load()
            pose = frame.pose.to_metric(grid.projection)
            w, h = CAMERA.width_px, CAMERA.height_px
            u = np.array([0, w, w, 0, w / 2], float)
            v = np.array([0, 0, h, h, h / 2], float)
            gx, gy = pixels_to_ground(CAMERA, pose, u, v)
            gcps = [GroundControlPoint(row=float(r), col=float(c), x=float(x), y=float(y))
                    for c, r, x, y in zip(u, v, gx, gy, strict=True)]
            c0 = max(0, math.floor((gx.min() - grid.west_m) / gsd_m))
            c1 = min(grid.width_px, math.ceil((gx.max() - grid.west_m) / gsd_m))
            r0 = max(0, math.floor((grid.north_m - gy.max()) / gsd_m))
            r1 = min(grid.height_px, math.ceil((grid.north_m - gy.min()) / gsd_m))
            if c0 >= c1 or r0 >= r1:
                continue
            window = Window(c0, r0, c1 - c0, r1 - r0)
            dest = np.zeros((3, r1 - r0, c1 - c0), np.uint8)
            reproject(np.transpose(rgb, (2, 0, 1)), dest, gcps=gcps, src_crs=CRS.from_epsg(grid.epsg),
                      dst_transform=dst.window_transform(window), dst_crs=grid.crs, resampling=Resampling.bilinear,
                      dst_nodata=0)
            dst.write(dest, window=window)
    return {"peer_s": time.perf_counter() - t, "peak_mb": peak_rss_mb()}


def _child(step: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--step", step, "--size-m", str(args.size_m), "--gsd-m", str(args.gsd_m),
           "--front-overlap", str(args.front_overlap), "--side-overlap", str(args.side_overlap),
           "--workdir", str(args.workdir)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    for line in done.stderr.splitlines():
        if line.startswith("mosaic "):
            print(f"  {line}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-m", type=float, default=500.0, help="side of the square area, metres")
    ap.add_argument("--gsd-m", type=float, default=0.03, help="frame and mosaic GSD, metres")
    ap.add_argument("--front-overlap", type=float, default=PlanOptions.front_overlap,
                    help="overlap of frames along a line (default: the planner's)")
    ap.add_argument("--side-overlap", type=float, default=PlanOptions.side_overlap,
                    help="overlap of neighbouring lines (default: the planner's)")
    ap.add_argument("--workdir", type=Path, default=None, help="where frames and mosaics go (default: a temp dir)")
    ap.add_argument("--step", choices=("generate", "ours", "peer"), default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step is not None:
        cv2.setNumThreads(2)
        if args.step == "generate":
            generate(args.workdir, args.size_m, args.gsd_m, (args.front_overlap, args.side_overlap))
            print("{}")
        else:
            fn = measure_ours if args.step == "ours" else measure_peer
            print(json.dumps(fn(args.workdir, args.size_m, args.gsd_m)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-change-") as tmp:
        args.workdir = args.workdir or Path(tmp)
        args.workdir.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        _child("generate", args)
        print(f"area {args.size_m:.0f} m × {args.size_m:.0f} m ({args.size_m ** 2 / 1e6:.2f} km²) at "
              f"{args.gsd_m * 100:.0f} cm; frames rendered in {time.perf_counter() - t:.0f} s (not timed below)")
        ours = _child("ours", args)
        peer = _child("peer", args)
    w, h = ours["grid_px"]
    per_patrol = ours["after_mosaic_s"] + ours["change_s"]
    print(f"grid {w}×{h} px, {ours['frames']} frames per patrol, COG {ours['cog_mb']:.0f} MB, "
          f"{ours['changes']} changes")
    print(f"first mosaic (frames registered to each other):  {ours['before_mosaic_s']:6.1f} s")
    print(f"second mosaic (registered to the first):        {ours['after_mosaic_s']:6.1f} s")
    print(f"change detection:                               {ours['change_s']:6.1f} s")
    print(f"per patrol (second mosaic + change):            {per_patrol:6.1f} s   target < 60 s")
    print(f"peak memory (VmHWM), all of the above:           {ours['peak_mb']:6.0f} MB  target < 2048 MB")
    print(f"peer rasterio.warp.reproject of the same frames: {peer['peer_s']:6.1f} s, peak {peer['peak_mb']:.0f} MB")
    print(f"ratio second mosaic / peer: {ours['after_mosaic_s'] / peer['peer_s']:.2f}×  "
          f"(ours also registers, blends and writes a COG with overviews)")


if __name__ == "__main__":
    main()
