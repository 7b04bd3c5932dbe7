"""Twin camera render time per frame at 1280×960 and 4000×3000, single-threaded OpenCV.

Each pose is rendered once as a *first view* (the world's per-object layouts — roof items, site
plans, tyre tracks — are built on first sight) and then ``--repeats`` more times; a repeat view
is the steady state of a patrol that passes a place again. Medians over poses are reported, the
repeat time per pose being its fastest repeat (the box is shared: the minimum is the least
disturbed run).
Peer, measured in the same run: one cv2.warpPerspective of a same-size RGB image (the cost of the
simplest possible texture-mapping renderer), and JPEG encoding of the rendered frame.
Usage: .venv/bin/python bench/bench_render.py [--frames N] [--repeats R]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import datetime

import cv2
import numpy as np

from dockpatrol.camera import CameraModel, GeoPose
from sim.camera import render_frame
from sim.world import DEMO_OFFSET, World


def _ms(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=9, help="poses per size (medians reported)")
    ap.add_argument("--repeats", type=int, default=3, help="repeat renders per pose after its first view")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    world = World.generate(seed=0)
    at = world.epoch + DEMO_OFFSET
    spots = world.hotspots(limit=args.frames + 1)
    print(f"world: {len(world.objects)} objects; {args.frames} hotspot poses at 80 m AGL, nadir, yaw 37°·i; "
          f"1 OpenCV thread")
    for width, height in ((1280, 960), (4000, 3000)):
        _measure(world, at, spots, CameraModel(width, height, 73.7), args.repeats)


def _measure(world: World, at: datetime, spots: list[tuple[float, float]], camera: CameraModel, repeats: int) -> None:
    poses = [GeoPose(lon=lon, lat=lat, altitude_m=80.0, yaw_deg=37.0 * i) for i, (lon, lat) in enumerate(spots)]
    render_frame(world, camera, poses[-1], at)  # textures and code paths warm, on a pose not measured
    first, repeat = [], []
    for i, pose in enumerate(poses[:-1]):
        first.append(_ms(lambda pose=pose, i=i: render_frame(world, camera, pose, at, seed=i)))
        repeat.append(min(_ms(lambda pose=pose, s=i + r: render_frame(world, camera, pose, at, seed=s))
                          for r in range(1, repeats + 1)))
    img = np.ascontiguousarray(render_frame(world, camera, poses[0], at).rgb)
    h = np.array([[0.9, 0.1, 5.0], [-0.1, 0.9, 3.0], [1e-6, 2e-6, 1.0]])
    size = (camera.width_px, camera.height_px)
    warp = statistics.median(_ms(lambda: cv2.warpPerspective(img, h, size)) for _ in range(len(first)))
    jpeg = statistics.median(_ms(lambda: cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90]))
                             for _ in range(len(first)))
    rep = statistics.median(repeat)
    print(f"{size[0]}x{size[1]}: render first view {statistics.median(first):7.1f} ms, repeat view {rep:7.1f} ms "
          f"(medians of {len(first)} poses); peer warpPerspective {warp:6.1f} ms (repeat/warp = {rep / warp:4.1f}x); "
          f"JPEG q90 encode {jpeg:6.1f} ms")

if __name__ == "__main__":
    main()
