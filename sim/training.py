"""Twin training data beyond `sim.dataset`'s object-centred crops: uniformly placed background tiles and
hard negatives mined from a detector's own false alarms."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from dockpatrol.camera import CameraModel, GeoPose
from dockpatrol.errors import InvalidInput
from sim.camera import RenderedFrame, render_frame
from sim.dataset import MISSION_CAMERA, crop_camera, yolo_lines
from sim.evaluate import twin_views, visible_truths
from sim.world import DEMO_OFFSET, World
from vision.analyse import analyse_frame
from vision.detector import Detector
from vision.evaluate import assign_findings
from vision.georef import FrameGeoref


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
        _render_sample(world, cam, pose, at, rng=rng, counts=counts, img_dir=img_dir, lbl_dir=lbl_dir,
                       name=f"bg_{seed}_{counts['images']:06d}", downscale=False)
    return counts


def _render_sample(world: World, cam: CameraModel, pose: GeoPose, at: datetime, *, rng: np.random.Generator,
                   counts: dict[str, int], img_dir: Path, lbl_dir: Path, name: str, downscale: bool) -> None:
    """Render one view and write it with its labels, counted in ``counts``; a view the renderer cannot draw
    is counted as skipped."""
    try:
        frame = render_frame(world, cam, pose, at, seed=int(rng.integers(0, 2**31 - 1)), pose_noise=False)
    except (cv2.error, InvalidInput):
        counts["skipped"] += 1
        return
    labelled = _write_sample(frame, img_dir=img_dir, lbl_dir=lbl_dir, name=name, quality=int(rng.integers(82, 96)),
                             downscale=downscale)
    counts["images"] += 1
    counts["with_labels"] += int(labelled)


def _write_sample(frame: RenderedFrame, *, img_dir: Path, lbl_dir: Path, name: str, quality: int,
                  downscale: bool) -> bool:
    """One JPEG and its YOLO label file; ``downscale`` halves a whole frame as `sim.dataset` does."""
    rgb, scale = frame.rgb, 1.0
    if downscale:
        h, w = rgb.shape[:2]
        rgb, scale = cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA), 0.5
    lines = yolo_lines(frame.objects, width=rgb.shape[1], height=rgb.shape[0], scale=scale)
    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise InvalidInput(f"could not encode image {name}")
    (img_dir / f"{name}.jpg").write_bytes(buf.tobytes())
    (lbl_dir / f"{name}.txt").write_text("".join(line + "\n" for line in lines))
    return bool(lines)


def render_hard_negatives(*, detector: Detector, out: Path, frames: int, images: int, seed: int, imgsz: int = 640,
                          altitude_m: float = 60.0, per_frame: int = 6, spacing_m: float = 10.0,
                          camera: CameraModel | None = None, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Up to ``images`` training samples centred on ``detector``'s false alarms in ``frames`` mission frames over
    twin world ``seed`` (hard negative mining).

    Whole mission frames are analysed as a patrol would; every finding that matches no object of its class
    is a false alarm, and the view around it is rendered again (a model-sized crop for a tile-sized box, a
    halved whole frame for a frame-sized one) at another moment and heading, labelled with what really is
    there. Use a training world: the samples teach the look-alikes of that world.
    """
    if images < 1 or frames < 1:
        raise InvalidInput(f"frames and images must be at least 1, got {frames} and {images}")
    world = World.generate(seed=seed)
    camera = camera or CameraModel()
    crop_cam, whole_cam = crop_camera(imgsz), MISSION_CAMERA.scaled(imgsz * 2)
    rng = np.random.default_rng([seed, 5150])
    img_dir, lbl_dir = out / "images" / "train", out / "labels" / "train"
    img_dir.mkdir(parents=True, exist_ok=True)
    lbl_dir.mkdir(parents=True, exist_ok=True)
    counts = {"images": 0, "with_labels": 0, "frames": 0, "false_alarms": 0, "skipped": 0}
    for i, view in enumerate(twin_views(world, frames=frames, seed=seed, altitude_m=altitude_m, camera=camera)):
        if counts["images"] >= images:
            break
        frame = render_frame(world, camera, view.pose, view.at, seed=seed * 1000 + i, pose_noise=False)
        georef = FrameGeoref.for_pose(camera, frame.true_pose, projection=world.projection)
        _, found = analyse_frame(frame.rgb, detector=detector, georef=georef, seen_at=view.at)
        truths = visible_truths(world, frame)
        counts["frames"] += 1
        alarms = [a.finding for a in assign_findings(found, truths, projection=world.projection)
                  if a.truth is None and not a.repeat]
        counts["false_alarms"] += len(alarms)
        taken: list[tuple[float, float]] = []
        for f in alarms:
            if counts["images"] >= images or len(taken) >= per_frame:
                break
            x, y = world.projection.to_metric(f.centroid_lon, f.centroid_lat)
            if any(np.hypot(x - tx, y - ty) < spacing_m for tx, ty in taken):
                continue
            taken.append((float(x), float(y)))
            box = f.box_xyxy_px or (0.0, 0.0, 0.0, 0.0)
            whole = max(box[2] - box[0], box[3] - box[1]) > imgsz
            cam = whole_cam if whole else crop_cam
            footprint_m = cam.width_px * MISSION_CAMERA.gsd_m(altitude_m) / (2.0 if whole else 1.0)
            dx, dy = rng.uniform(-0.25, 0.25, 2) * footprint_m
            lon, lat = world.projection.to_lonlat(float(x) + dx, float(y) + dy)
            pose = GeoPose(lon=float(lon), lat=float(lat), altitude_m=float(altitude_m * rng.uniform(0.8, 1.25)),
                           yaw_deg=float(rng.uniform(0, 360)), pitch_deg=-90.0 + float(rng.uniform(0, 4)))
            at = view.at + timedelta(days=int(rng.integers(-60, 60)), hours=float(rng.uniform(-2.0, 2.0)))
            _render_sample(world, cam, pose, at, rng=rng, counts=counts, img_dir=img_dir, lbl_dir=lbl_dir,
                           name=f"hn_{seed}_{counts['images']:06d}", downscale=whole)
        if progress is not None:
            progress(i + 1, frames)
    return counts
