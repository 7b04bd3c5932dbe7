"""Twin camera render time per frame at 1280×960 and 4000×3000, single-threaded OpenCV.

Peer, measured in the same run: one cv2.warpPerspective of a same-size RGB image (the cost
of the simplest possible texture-mapping renderer), and JPEG encoding of the rendered frame.
Usage: .venv/bin/python bench/bench_render.py [--frames N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from dockpatrol.camera import CameraModel, GeoPose
from sim.camera import render_frame
from sim.world import DEMO_OFFSET, World


def _median_ms(fn, n: int) -> tuple[float, float]:
    wall, cpu = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=9, help="frames per size (median reported)")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    world = World.generate(seed=0)
    at = world.epoch + DEMO_OFFSET
    spots = world.hotspots(limit=args.frames)
    print(f"world: {len(world.objects)} objects; poses: {len(spots)} hotspots at 80 m AGL, nadir; 1 OpenCV thread")
    for width, height in ((1280, 960), (4000, 3000)):
        camera = CameraModel(width, height, 73.7)
        poses = [GeoPose(lon=lon, lat=lat, altitude_m=80.0, yaw_deg=37.0 * i) for i, (lon, lat) in enumerate(spots)]
        render_frame(world, camera, poses[0], at)  # warm caches (textures, object layouts)
        it = iter(poses * 4)
        frames: list = []

        def one(camera: CameraModel = camera, it=it, frames: list = frames) -> None:
            frames.append(render_frame(world, camera, next(it), at, seed=len(frames)))

        wall, cpu = _median_ms(one, args.frames)
        img = np.ascontiguousarray(frames[-1].rgb)
        h = np.array([[0.9, 0.1, 5.0], [-0.1, 0.9, 3.0], [1e-6, 2e-6, 1.0]])
        warp_wall, _ = _median_ms(lambda img=img, h=h, w=width, hh=height: cv2.warpPerspective(img, h, (w, hh)), args.frames)
        jpeg_wall, _ = _median_ms(lambda img=img: cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90]), args.frames)
        print(f"{width}x{height}: render {wall:7.1f} ms/frame wall ({cpu:7.1f} ms CPU), median of {args.frames}; "
              f"peer warpPerspective {warp_wall:6.1f} ms (render/warp = {wall / warp_wall:4.1f}x); "
              f"JPEG q90 encode {jpeg_wall:6.1f} ms")


if __name__ == "__main__":
    main()
