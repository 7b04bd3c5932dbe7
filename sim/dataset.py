"""YOLO training data from the twin: class-balanced frames at mission GSD, negatives, a held-out split.

About 70 % of images are 640 px crops at the native GSD of the mission camera (a small camera
with the mission camera's focal length), 30 % are whole mission frames scaled down, so large
objects are learned at full-frame scale too. The validation split comes from another seed and
another region of the province, so no ground-truth object appears in both splits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from dockpatrol.camera import CameraModel, GeoPose
from dockpatrol.errors import InvalidInput
from dockpatrol.taxonomy import CLASS_NAMES
from sim.camera import RenderedFrame, VisibleObject, render_frame
from sim.world import DISTRACTOR_KINDS, World, WorldObject

#: The mission camera whose GSD the crops reproduce.
MISSION_CAMERA = CameraModel(4000, 3000, 73.7)
ALTITUDE_RANGE_M = (40.0, 100.0)
CROP_SHARE = 0.7
NEGATIVE_SHARE = 0.1
#: Keep a label when this much of the object is in the image, or when its visible part is big.
MIN_VISIBLE_FRACTION = 0.3
MIN_VISIBLE_AREA_SHARE = 0.12
MIN_BOX_PX = 6.0
#: The held-out world: another seed, ~6 km away from the training district.
VAL_SEED_OFFSET = 7919
VAL_OFFSET_DEG = (0.05, -0.03)


@dataclass
class SplitSummary:
    """What one split holds: images, empty images, instances per class, crops vs whole frames."""

    images: int = 0
    negatives: int = 0
    crops: int = 0
    whole_frames: int = 0
    instances: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASS_NAMES, 0))
    images_with: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASS_NAMES, 0))


@dataclass
class DatasetSummary:
    """Where the dataset is and what it holds, per split."""

    root: str
    data_yaml: str
    imgsz: int
    seed: int
    train: SplitSummary
    val: SplitSummary
    worlds: dict[str, dict]

    def to_dict(self) -> dict:
        return asdict(self)


def crop_camera(imgsz: int) -> CameraModel:
    """An imgsz × imgsz camera with the mission camera's focal length, so its GSD is the mission GSD."""
    hfov = 2 * math.degrees(math.atan((imgsz / 2) / MISSION_CAMERA.focal_px))
    return CameraModel(imgsz, imgsz, hfov, name=f"crop-{imgsz}")


def yolo_lines(objects: tuple[VisibleObject, ...], *, width: int, height: int, scale: float = 1.0) -> list[str]:
    """YOLO label lines (class cx cy w h, normalised) for the objects worth labelling in a frame."""
    lines = []
    for o in objects:
        x0, y0, x1, y1 = (v * scale for v in o.xyxy_px)
        x0, x1 = max(0.0, x0), min(float(width), x1)
        y0, y1 = max(0.0, y0), min(float(height), y1)
        bw, bh = x1 - x0, y1 - y0
        if bw < MIN_BOX_PX or bh < MIN_BOX_PX:
            continue
        if o.visible_fraction < MIN_VISIBLE_FRACTION and bw * bh < MIN_VISIBLE_AREA_SHARE * width * height:
            continue
        cls = CLASS_NAMES.index(o.class_name)
        lines.append(f"{cls} {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f} {bw / width:.6f} {bh / height:.6f}")
    return lines


def _time_in(obj: WorldObject, world: World, rng: np.random.Generator) -> datetime:
    """A daylight moment (08–17 h China time) while ``obj`` exists."""
    start = max(obj.appears_at, world.epoch - timedelta(days=200))
    end = obj.removed_at or world.epoch + timedelta(days=200)
    if end <= start:
        start = obj.appears_at
    if end - start < timedelta(hours=24):
        # Short events (fires): any moment inside, nudged into daylight where possible.
        t = start + (end - start) * float(rng.uniform(0.05, 0.95))
        return t
    day = start + (end - start) * float(rng.uniform(0.0, 1.0))
    day = day.replace(hour=0, minute=0, second=0, microsecond=0)
    t = day + timedelta(hours=float(rng.uniform(0.0, 9.0)))
    if t < start:
        t = start + timedelta(minutes=1)
    if t >= end:
        t = end - timedelta(minutes=1)
    return t


class _Sampler:
    """Chooses poses for one split: balanced over classes, with negatives near distractors."""

    def __init__(self, world: World, rng: np.random.Generator) -> None:
        self.world, self.rng = world, rng
        self.by_class: dict[str, list[WorldObject]] = {c: [] for c in CLASS_NAMES}
        for o in world.objects:
            if o.is_violation:
                self.by_class[o.kind].append(o)
        self.distractors = [o for o in world.objects if o.kind in DISTRACTOR_KINDS]
        self.counts = dict.fromkeys(CLASS_NAMES, 0)

    def target_class(self) -> str | None:
        present = [c for c in CLASS_NAMES if self.by_class[c]]
        if not present:
            return None
        # Rarest-so-far first, with some randomness so co-occurring classes mix.
        weights = np.array([1.0 / (1.0 + self.counts[c]) ** 2 for c in present])
        return present[int(self.rng.choice(len(present), p=weights / weights.sum()))]

    def pose_over(self, obj: WorldObject, *, footprint_m: float, altitude_m: float) -> GeoPose:
        c = obj.polygon.centroid
        # Keep the object's centre in the inner part of the frame.
        dx, dy = self.rng.uniform(-0.3, 0.3, 2) * footprint_m
        lon, lat = self.world.projection.to_lonlat(c.x + dx, c.y + dy)
        return GeoPose(lon=float(lon), lat=float(lat), altitude_m=altitude_m, yaw_deg=float(self.rng.uniform(0, 360)),
                       pitch_deg=-90.0 + float(self.rng.uniform(0, 4)), roll_deg=float(self.rng.normal(0, 1)))

    def negative_pose(self, *, altitude_m: float) -> tuple[GeoPose, datetime]:
        w = self.world
        if self.distractors and self.rng.uniform() < 0.7:
            d = self.distractors[int(self.rng.integers(len(self.distractors)))]
            c = d.polygon.centroid
            x, y = c.x, c.y
        else:
            cx, cy = w.center_m
            x, y = cx + self.rng.uniform(-0.45, 0.45) * w.size_m, cy + self.rng.uniform(-0.45, 0.45) * w.size_m
        lon, lat = w.projection.to_lonlat(x, y)
        day = w.epoch + timedelta(days=int(self.rng.integers(-200, 200)), hours=float(self.rng.uniform(0.0, 9.0)))
        pose = GeoPose(lon=float(lon), lat=float(lat), altitude_m=altitude_m, yaw_deg=float(self.rng.uniform(0, 360)))
        return pose, day


def _write_split(world: World, *, out: Path, split: str, frames: int, imgsz: int, seed: int,
                 progress: Callable[[str, int, int], None] | None) -> SplitSummary:
    rng = np.random.default_rng([seed, 31337])
    sampler = _Sampler(world, rng)
    crop_cam = crop_camera(imgsz)
    # Whole frames are rendered at twice the output size and area-averaged, like downscaling a photo.
    whole_cam = MISSION_CAMERA.scaled(imgsz * 2)
    img_dir, lbl_dir = out / "images" / split, out / "labels" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    lbl_dir.mkdir(parents=True, exist_ok=True)
    summary = SplitSummary()
    for i in range(frames):
        crop = rng.uniform() < CROP_SHARE
        cam = crop_cam if crop else whole_cam
        altitude = float(rng.uniform(*ALTITUDE_RANGE_M))
        negative = rng.uniform() < NEGATIVE_SHARE
        frame: RenderedFrame | None = None
        for _attempt in range(4):
            if negative:
                pose, at = sampler.negative_pose(altitude_m=altitude)
            else:
                cls = sampler.target_class()
                if cls is None:
                    negative = True
                    continue
                obj = sampler.by_class[cls][int(rng.integers(len(sampler.by_class[cls])))]
                footprint = cam.width_px * MISSION_CAMERA.gsd_m(altitude)
                pose = sampler.pose_over(obj, footprint_m=footprint, altitude_m=altitude)
                at = _time_in(obj, world, rng)
            frame = render_frame(world, cam, pose, at, seed=int(rng.integers(0, 2**31 - 1)), pose_noise=False)
            if not negative or not frame.objects:
                break
        if frame is None:
            raise InvalidInput(f"world seed {world.seed} has no violation objects to frame")
        rgb = frame.rgb
        scale = 1.0
        if not crop:
            h, w = rgb.shape[:2]
            rgb = cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            scale = 0.5
        height, width = rgb.shape[:2]
        lines = yolo_lines(frame.objects, width=width, height=height, scale=scale)
        if negative and frame.objects:
            # Could not find an empty view: keep the frame as a positive one.
            negative = False
        name = f"{split}_{i:06d}"
        quality = int(rng.integers(82, 96))
        ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise InvalidInput(f"could not encode image {name}")
        (img_dir / f"{name}.jpg").write_bytes(buf.tobytes())
        (lbl_dir / f"{name}.txt").write_text("".join(line + "\n" for line in lines))
        summary.images += 1
        summary.crops += int(crop)
        summary.whole_frames += int(not crop)
        summary.negatives += int(not lines)
        seen = set()
        for line in lines:
            cls_name = CLASS_NAMES[int(line.split()[0])]
            summary.instances[cls_name] += 1
            sampler.counts[cls_name] += 1
            seen.add(cls_name)
        for cls_name in seen:
            summary.images_with[cls_name] += 1
        if progress is not None:
            progress(split, i + 1, frames)
    return summary


def build_dataset(*, out: Path, frames: int, imgsz: int = 640, seed: int = 0, val_frames: int | None = None,
                  world_size_m: float = 2000.0, progress: Callable[[str, int, int], None] | None = None) -> DatasetSummary:
    """Render a YOLO dataset (images/, labels/, data.yaml, summary.json) under ``out``."""
    if frames < 1:
        raise InvalidInput(f"frames must be at least 1, got {frames}")
    if not 64 <= imgsz <= 2048 or imgsz % 32:
        raise InvalidInput(f"imgsz must be a multiple of 32 within 64..2048, got {imgsz}")
    val_frames = max(1, frames // 5) if val_frames is None else val_frames
    if val_frames < 1:
        raise InvalidInput(f"val-frames must be at least 1, got {val_frames}")
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()) and not (out / "data.yaml").exists():
        raise InvalidInput(f"{out} exists and is not an earlier dataset; choose an empty or new directory")
    train_world = World.generate(seed=seed, size_m=world_size_m)
    val_world = World.generate(seed=seed + VAL_SEED_OFFSET, size_m=world_size_m,
                               center_lon=train_world.center_lon + VAL_OFFSET_DEG[0],
                               center_lat=train_world.center_lat + VAL_OFFSET_DEG[1])
    for split in ("train", "val"):
        for sub in ("images", "labels"):
            d = out / sub / split
            if d.exists():
                for f in d.iterdir():
                    f.unlink()
    train = _write_split(train_world, out=out, split="train", frames=frames, imgsz=imgsz, seed=seed, progress=progress)
    val = _write_split(val_world, out=out, split="val", frames=val_frames, imgsz=imgsz, seed=seed + VAL_SEED_OFFSET,
                       progress=progress)
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(CLASS_NAMES))
    data_yaml = out / "data.yaml"
    data_yaml.write_text(
        "# Synthetic dataset rendered by `dockpatrol sim dataset` (dockpatrol digital twin); not real imagery.\n"
        f"path: {out}\ntrain: images/train\nval: images/val\nnc: {len(CLASS_NAMES)}\nnames:\n{names}\n"
    )
    summary = DatasetSummary(
        root=str(out), data_yaml=str(data_yaml), imgsz=imgsz, seed=seed, train=train, val=val,
        worlds={
            "train": {"seed": train_world.seed, "center": [train_world.center_lon, train_world.center_lat],
                      "size_m": world_size_m},
            "val": {"seed": val_world.seed, "center": [val_world.center_lon, val_world.center_lat],
                    "size_m": world_size_m},
        },
    )
    (out / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2))
    return summary
