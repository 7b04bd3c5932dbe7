"""Twin training data beyond `sim.dataset`'s object-centred crops: uniformly placed background tiles."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np

from dockpatrol.camera import GeoPose
from dockpatrol.errors import InvalidInput
from sim.camera import render_frame
from sim.dataset import crop_camera, yolo_lines
from sim.world import DEMO_OFFSET, World


def render_background_tiles(*, out: Path, images: int, seed: int, imgsz: int = 640,
                            altitude_range_m: tuple[float, float] = (40.0, 100.0)) -> dict[str, int]:
    """Twin crops placed uniformly over a world, labelled like `dockpatrol sim dataset` labels its own.

    Object-centred datasets under-represent what sliced inference mostly sees: roofs, ponds, roads.
    These tiles (mostly background, some violations) teach the detector what is not a finding.
    """
    if images < 1:
        raise InvalidInput(f"images must be at least 1, got {images}")
    world = World.generate(seed=seed)
    cam = crop_camera(imgsz)
    rng = np.random.default_rng([seed, 4242])
    img_dir, lbl_dir = out / "images" / "train", out / "labels" / "train"
    img_dir.mkdir(parents=True, exist_ok=True)
    lbl_dir.mkdir(parents=True, exist_ok=True)
    cx, cy = world.center_m
    counts = {"images": 0, "with_labels": 0, "skipped": 0}
    while counts["images"] < images:
        x = cx + rng.uniform(-0.45, 0.45) * world.size_m
        y = cy + rng.uniform(-0.45, 0.45) * world.size_m
        lon, lat = world.projection.to_lonlat(x, y)
        altitude = float(rng.uniform(*altitude_range_m))
        pose = GeoPose(lon=float(lon), lat=float(lat), altitude_m=altitude, yaw_deg=float(rng.uniform(0, 360)),
                       pitch_deg=-90.0 + float(rng.uniform(0, 4)))
        at = world.epoch + DEMO_OFFSET + timedelta(days=int(rng.integers(-150, 150)),
                                                   hours=float(rng.uniform(-4.0, 4.0)))
        try:
            frame = render_frame(world, cam, pose, at, seed=int(rng.integers(0, 2**31 - 1)), pose_noise=False)
        except (cv2.error, InvalidInput):  # a view the renderer cannot draw: take another
            counts["skipped"] += 1
            continue
        lines = yolo_lines(frame.objects, width=imgsz, height=imgsz)
        name = f"bg_{seed}_{counts['images']:06d}"
        ok, buf = cv2.imencode(".jpg", frame.rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(82, 96))])
        if not ok:
            raise InvalidInput(f"could not encode tile {name}")
        (img_dir / f"{name}.jpg").write_bytes(buf.tobytes())
        (lbl_dir / f"{name}.txt").write_text("".join(line + "\n" for line in lines))
        counts["images"] += 1
        counts["with_labels"] += int(bool(lines))
    return counts
