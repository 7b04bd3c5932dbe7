"""The twin's camera: renders the world through a drone pose, with ground truth and drone-like JPEGs.

Projection goes through dockpatrol.camera only (``GeoPose.to_metric``, ``ground_to_pixels``,
``pixels_to_ground``) on flat ground at z = 0, so renderer and georeferencing share one model.
The rendered image uses the true pose; the JPEG metadata carries a noisy reported pose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from shapely.geometry import Polygon, box

from dockpatrol.camera import CameraModel, GeoPose, ground_to_pixels, pixels_to_ground
from dockpatrol.errors import GeorefError, InvalidInput
from sim.paint import Sun, View, homography, paint, sun_position
from sim.world import RAISED_KINDS, World

#: Largest ground distance (m) from the camera a frame corner may look at; beyond it the view is too oblique.
MAX_VIEW_RANGE_M = 2500.0
#: Ortho rasters larger than this many pixels are refused (memory).
MAX_ORTHO_PIXELS = 64_000_000
#: 1-sigma noise of the reported pose: GNSS horizontal, barometric height, yaw and gimbal angles.
GPS_SIGMA_M = 1.2
ALT_SIGMA_M = 0.4
YAW_SIGMA_DEG = 1.5
TILT_SIGMA_DEG = 0.4


@dataclass(frozen=True)
class VisibleObject:
    """A violation seen in a frame: its pixel polygon, its box clipped to the frame, how much is inside."""

    object_id: str
    class_name: str
    xyxy_px: tuple[float, float, float, float]
    polygon_px: np.ndarray
    visible_fraction: float


@dataclass(frozen=True)
class RenderedFrame:
    """One rendered image with the pose it was taken from (truth) and the pose the drone reports."""

    rgb: np.ndarray
    true_pose: GeoPose
    reported_pose: GeoPose
    captured_at: datetime
    camera: CameraModel
    objects: tuple[VisibleObject, ...]
    ground_amsl_m: float = 0.0

    def to_jpeg(self, *, quality: int = 90) -> bytes:
        """JPEG with EXIF GPS/time and DJI-style XMP from the reported pose, like a real drone photo."""
        from sim.jpeg_meta import encode_jpeg

        return encode_jpeg(self.rgb, pose=self.reported_pose, captured_at=self.captured_at, camera=self.camera,
                           ground_amsl_m=self.ground_amsl_m, quality=quality)


@dataclass(frozen=True)
class _Look:
    """Per-flight photographic conditions: exposure, white balance, haze, blur and sensor noise."""

    exposure: float
    gains: tuple[float, float, float]
    haze: float
    blur_px: float
    noise: float


def _look(world: World, at: datetime, sun: Sun, seed: int) -> _Look:
    # Frames of one flight (same world, same hour) share light; the frame seed varies blur and noise.
    flight = np.random.default_rng([world.seed, at.year, at.timetuple().tm_yday, at.hour, 7])
    frame = np.random.default_rng([seed & 0xFFFFFFFF, 11])
    el = max(sun.elevation_deg, 3.0)
    light = 0.62 + 0.38 * min(1.0, math.sin(math.radians(el)) / math.sin(math.radians(50)))
    warm = max(0.0, (30.0 - el) / 30.0) * 0.08
    jitter = flight.uniform(-0.04, 0.04, 3)
    gains = (1.0 + warm + jitter[0], 1.0 + jitter[1] * 0.5, 1.0 - warm * 1.2 + jitter[2])
    return _Look(
        exposure=light * float(flight.uniform(0.9, 1.12)),
        gains=(float(gains[0]), float(gains[1]), float(gains[2])),
        haze=float(flight.uniform(0.0, 0.14)),
        blur_px=float(frame.uniform(0.45, 0.85)),
        noise=float(frame.uniform(0.006, 0.014)),
    )


@lru_cache(maxsize=8)
def _vignette(w: int, h: int) -> np.ndarray:
    """Lens fall-off as a uint8 3-channel factor image (255 = no loss)."""
    xs = (np.arange(w, dtype=np.float32) - w / 2) ** 2
    ys = (np.arange(h, dtype=np.float32)[:, None] - h / 2) ** 2
    f = np.round((1.0 - 0.18 * (xs + ys) / ((w / 2) ** 2 + (h / 2) ** 2)) * 255).astype(np.uint8)
    return cv2.merge([f, f, f])


_NOISE_PAD = 64


@lru_cache(maxsize=2)
def _sensor_noise(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Luminance sensor noise (σ ≈ 2.5 DN) as positive and negative uint8 parts, a margin larger than the frame."""
    g = np.random.default_rng(909).standard_normal((h + _NOISE_PAD, w + _NOISE_PAD)).astype(np.float32) * 2.5
    pos = np.clip(np.round(g), 0, 255).astype(np.uint8)
    neg = np.clip(np.round(-g), 0, 255).astype(np.uint8)
    return cv2.merge([pos, pos, pos]), cv2.merge([neg, neg, neg])


def _develop(canvas: np.ndarray, look: _Look, seed: int, *, vignette: bool = True) -> np.ndarray:
    """Turn the painted radiance into a camera image: exposure, white balance, haze, vignetting, noise, blur."""
    h, w = canvas.shape[:2]
    rgb = cv2.convertScaleAbs(canvas, alpha=255.0)
    # Exposure, channel gains, haze and a gentle tone curve in one lookup table per channel.
    x = np.arange(256, dtype=np.float32) / 255.0
    curves = []
    for c, haze_c in zip(look.gains, (0.78, 0.8, 0.84), strict=True):
        y = np.clip(x * look.exposure * c, 0, 1.2)
        y = y * (1.0 - look.haze) + haze_c * look.haze
        y = np.clip(1.04 * y - 0.04 * y * y, 0, 1)
        curves.append(np.round(y * 255))
    lut = np.stack(curves, axis=-1).astype(np.uint8).reshape(256, 1, 3)
    rgb = cv2.LUT(rgb, lut)
    if vignette:
        rgb = cv2.multiply(rgb, _vignette(w, h), scale=1.0 / 255.0)
    if look.noise > 0:
        pos, neg = _sensor_noise(w, h)
        rng = np.random.default_rng([seed & 0xFFFFFFFF, 13])
        oy, ox = (int(v) for v in rng.integers(0, _NOISE_PAD, 2))
        rgb = cv2.subtract(cv2.add(rgb, pos[oy:oy + h, ox:ox + w]), neg[oy:oy + h, ox:ox + w])
    if look.blur_px > 0:
        # A 3×3 kernel holds all but a few percent of a sub-pixel Gaussian and is a third cheaper than 5×5.
        rgb = cv2.GaussianBlur(rgb, (3, 3) if look.blur_px < 0.9 else (0, 0), look.blur_px)
    return rgb


def _camera_view(world: World, camera: CameraModel, pose: GeoPose) -> View:
    if not math.isfinite(pose.altitude_m) or pose.altitude_m <= 0:
        raise InvalidInput(f"camera altitude must be above the ground (> 0 m), got {pose.altitude_m}")
    if not -90.0 <= pose.pitch_deg <= 0.0:
        raise InvalidInput(f"gimbal pitch must be within -90..0 degrees (-90 = nadir), got {pose.pitch_deg}")
    cam = pose.to_metric(world.projection)
    w, h = camera.width_px, camera.height_px
    corners = np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])
    try:
        gx, gy = pixels_to_ground(camera, cam, corners[:, 0], corners[:, 1])
    except GeorefError as exc:
        raise InvalidInput(f"pose sees the horizon (pitch {pose.pitch_deg}°): {exc}; tilt the gimbal further down") from None
    reach = float(np.max(np.hypot(gx - cam.x_m, gy - cam.y_m)))
    if reach > MAX_VIEW_RANGE_M:
        raise InvalidInput(f"view reaches {reach:.0f} m from the camera (limit {MAX_VIEW_RANGE_M:.0f} m); "
                           "tilt the gimbal further down or fly lower")
    ox, oy = float(np.mean(gx)), float(np.mean(gy))

    # Ground → pixel homography fitted to four ground points projected by ground_to_pixels (exact:
    # a pinhole camera maps the plane by a homography); View.matrix lifts it to any height.
    pu, pv = ground_to_pixels(camera, cam, gx, gy, 0.0)
    hg = homography(np.column_stack([gx - ox, gy - oy]), np.column_stack([pu, pv]))
    to_px = hg @ np.array([[1.0, 0.0, -ox], [0.0, 1.0, -oy], [0.0, 0.0, 1.0]])
    h0 = homography(corners, np.column_stack([gx - ox, gy - oy]))

    # Tall things and shadows outside the footprint can reach into it: widen the window.
    margin = 40.0
    window = (float(gx.min()) - margin, float(gy.min()) - margin, float(gx.max()) + margin, float(gy.max()) + margin)
    return View(width=w, height=h, origin_m=(ox, oy), to_px=to_px, h0=h0,
                gsd_m=camera.gsd_m(pose.altitude_m) / max(0.2, math.sin(math.radians(-pose.pitch_deg))),
                window_m=window, camera_m=(cam.x_m, cam.y_m, cam.z_m))


def _noisy(world: World, pose: GeoPose, rng: np.random.Generator) -> GeoPose:
    x, y = world.projection.to_metric(pose.lon, pose.lat)
    dx, dy = rng.normal(0.0, GPS_SIGMA_M, 2)
    lon, lat = world.projection.to_lonlat(float(x) + dx, float(y) + dy)
    yaw = (pose.yaw_deg + rng.normal(0.0, YAW_SIGMA_DEG) + 180.0) % 360.0 - 180.0
    pitch = min(0.0, max(-90.0, pose.pitch_deg + rng.normal(0.0, TILT_SIGMA_DEG)))
    return GeoPose(lon=float(lon), lat=float(lat), altitude_m=pose.altitude_m + float(rng.normal(0.0, ALT_SIGMA_M)),
                   yaw_deg=float(yaw), pitch_deg=float(pitch), roll_deg=pose.roll_deg + float(rng.normal(0.0, TILT_SIGMA_DEG)))


def _visible(world: World, view: View, at: datetime) -> tuple[VisibleObject, ...]:
    frame = box(0, 0, view.width, view.height)
    out = []
    for o in world.objects_in(view.window_m):
        if not o.is_violation or not o.present_at(at):
            continue
        ring = np.asarray(o.polygon.exterior.coords)[:-1]
        top_z = o.base_z_m + (o.height_m if o.kind in RAISED_KINDS else 0.0)
        top = view.project(ring, top_z)
        bottom = view.project(ring, o.base_z_m)
        if not (np.all(np.isfinite(top)) and np.all(np.isfinite(bottom))):
            continue
        poly_px = Polygon(top).buffer(0)
        if poly_px.is_empty or poly_px.area <= 0:
            continue
        inside = poly_px.intersection(frame)
        if inside.is_empty:
            continue
        hull = Polygon(np.vstack([top, bottom])).convex_hull.intersection(frame)
        x0, y0, x1, y1 = (hull if not hull.is_empty else inside).bounds
        out.append(VisibleObject(object_id=o.id, class_name=o.kind, xyxy_px=(x0, y0, x1, y1),
                                 polygon_px=top, visible_fraction=float(min(1.0, inside.area / poly_px.area))))
    return tuple(out)


def _check_time(at: datetime) -> None:
    if at.tzinfo is None:
        raise InvalidInput(f"capture time {at.isoformat()} must be timezone-aware (UTC)")


def render_frame(world: World, camera: CameraModel, pose: GeoPose, at: datetime, *, seed: int = 0,
                 pose_noise: bool = True) -> RenderedFrame:
    """Render the world at ``at`` from ``pose`` (true); the reported pose carries GNSS/attitude noise."""
    _check_time(at)
    view = _camera_view(world, camera, pose)
    sun = sun_position(at, pose.lon, pose.lat)
    canvas = paint(world, view, at, sun)
    # One seed per frame: the caller's seed mixed with time and place, so a flight's frames differ.
    frame_seed = int(np.random.default_rng([seed & 0xFFFFFFFF, int(at.timestamp() * 1000) & 0xFFFFFFFF,
                                            round(pose.lon * 1e7) & 0xFFFFFFFF,
                                            round(pose.lat * 1e7) & 0xFFFFFFFF]).integers(0, 2**31 - 1))
    look = _look(world, at, sun, frame_seed)
    rgb = _develop(canvas, look, frame_seed)
    reported = _noisy(world, pose, np.random.default_rng([frame_seed, 17])) if pose_noise else pose
    return RenderedFrame(rgb=rgb, true_pose=pose, reported_pose=reported, captured_at=at, camera=camera,
                         objects=_visible(world, view, at), ground_amsl_m=world.ground_amsl_m)


def render_ortho(world: World, *, bbox_lonlat: tuple[float, float, float, float], gsd_m: float, at: datetime,
                 path: Path) -> Path:
    """Write a north-up GeoTIFF (world UTM CRS) of the world at ``at`` over a lon/lat bbox."""
    import rasterio
    from rasterio.transform import Affine

    _check_time(at)
    if len(bbox_lonlat) != 4:
        raise InvalidInput(f"bbox must be minlon,minlat,maxlon,maxlat; got {bbox_lonlat}")
    minlon, minlat, maxlon, maxlat = (float(v) for v in bbox_lonlat)
    if not (minlon < maxlon and minlat < maxlat):
        raise InvalidInput(f"bbox {bbox_lonlat} is empty: need minlon < maxlon and minlat < maxlat")
    if not (math.isfinite(gsd_m) and gsd_m > 0):
        raise InvalidInput(f"ortho GSD must be a positive number of metres, got {gsd_m}")
    xs, ys = world.projection.to_metric(np.array([minlon, maxlon, maxlon, minlon]), np.array([minlat, minlat, maxlat, maxlat]))
    x0, x1 = math.floor(float(xs.min()) / gsd_m) * gsd_m, math.ceil(float(xs.max()) / gsd_m) * gsd_m
    y0, y1 = math.floor(float(ys.min()) / gsd_m) * gsd_m, math.ceil(float(ys.max()) / gsd_m) * gsd_m
    w, h = round((x1 - x0) / gsd_m), round((y1 - y0) / gsd_m)
    if w * h > MAX_ORTHO_PIXELS:
        raise InvalidInput(f"ortho would be {w}×{h} px (limit {MAX_ORTHO_PIXELS:,}); use a coarser GSD or smaller bbox")
    ox, oy = (x0 + x1) / 2, (y0 + y1) / 2

    to_px = np.array([[1.0 / gsd_m, 0.0, -x0 / gsd_m], [0.0, -1.0 / gsd_m, y1 / gsd_m], [0.0, 0.0, 1.0]])
    h0 = np.array([[gsd_m, 0.0, x0 - ox], [0.0, -gsd_m, y1 - oy], [0.0, 0.0, 1.0]])
    view = View(width=w, height=h, origin_m=(ox, oy), to_px=to_px, h0=h0, gsd_m=gsd_m,
                window_m=(x0, y0, x1, y1), camera_m=None)
    clon, clat = (minlon + maxlon) / 2, (minlat + maxlat) / 2
    sun = sun_position(at, clon, clat)
    canvas = paint(world, view, at, sun)
    look = _Look(exposure=0.62 + 0.38 * min(1.0, math.sin(math.radians(max(sun.elevation_deg, 3))) / math.sin(math.radians(50))),
                 gains=(1.0, 1.0, 1.0), haze=0.0, blur_px=0.0, noise=0.0)
    rgb = _develop(canvas, look, 0, vignette=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8",
                       crs=f"EPSG:{world.projection.epsg}", transform=Affine(gsd_m, 0.0, x0, 0.0, -gsd_m, y1),
                       compress="deflate", photometric="RGB") as dst:
        dst.write(np.transpose(rgb, (2, 0, 1)))
        dst.update_tags(synthetic="true", generator="dockpatrol.sim", at=at.isoformat())
    return path
