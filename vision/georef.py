"""Pixels to the ground: frames from pose + `CameraModel` (flat ground or a DEM), orthos from their transform.

Frame projection goes through ``dockpatrol.camera`` (the twin renders with the same code), so
findings land where the renderer put the objects. Detections become `Finding` polygons in WGS84;
evidence crops are returned as JPEG bytes for the pipeline to store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Transformer

from dockpatrol.camera import (
    CameraModel,
    CameraMount,
    CameraPose,
    GeoPose,
    camera_attitude,
    off_nadir_deg,
    pixels_to_ground,
)
from dockpatrol.errors import GeorefError, InvalidInput
from dockpatrol.geo import LocalProjection
from dockpatrol.taxonomy import CATEGORY_OF, CLASS_NAMES, HEIGHT_PRIOR_M
from vision.detections import Detections
from vision.types import Finding

MAX_DEM_PIXELS = 200_000_000
#: Beyond this tilt from straight down a frame is kept but not analysed: flat-ground georeferencing and
#: a detector trained on nadir views both degrade quickly (20° at 66.7 m already shifts the centre 24 m).
MAX_OFF_NADIR_DEG = 20.0
_DEM_ITERATIONS = 8
_DEM_TOLERANCE_M = 0.01


class Georeferencer(Protocol):
    """Maps pixel coordinates of one image to WGS84 lon/lat."""

    def pixels_to_lonlat(self, u_px: np.ndarray, v_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    @property
    def points_per_edge(self) -> int:
        """How many points per box edge keep the ground outline faithful (1 = corners suffice)."""
        ...


@dataclass(frozen=True, eq=False)
class Dem:
    """A digital elevation model in memory: heights in metres above sea level on a georeferenced grid."""

    elevation_m: np.ndarray  # (rows, cols) float, NaN where unknown
    transform: Affine
    crs: CRS

    @classmethod
    def open(cls, path: Path, *, max_pixels: int = MAX_DEM_PIXELS) -> Dem:
        """Read band 1 of a DEM GeoTIFF; nodata becomes NaN."""
        import rasterio
        from rasterio.errors import RasterioError

        try:
            with rasterio.open(path) as src:
                if src.crs is None:
                    raise InvalidInput(f"DEM {Path(path).name} has no CRS; georeferencing needs one")
                if src.width * src.height > max_pixels:
                    raise InvalidInput(f"DEM {Path(path).name} has {src.width}x{src.height} pixels, "
                                       f"more than {max_pixels}")
                band = src.read(1, masked=True).astype(np.float64)
                return cls(band.filled(np.nan), src.transform, CRS.from_user_input(src.crs.to_wkt()))
        except RasterioError as exc:
            raise InvalidInput(f"cannot read DEM {Path(path).name}: {exc}") from None

    def sample(self, x: np.ndarray, y: np.ndarray, crs: CRS) -> np.ndarray:
        """Bilinear heights at points given in ``crs``; NaN outside the grid."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if not crs.equals(self.crs):
            x, y = _transformer(crs.to_wkt(), self.crs.to_wkt()).transform(x, y)
        col, row = _apply(~self.transform, x, y)
        # pixel centres sit at +0.5; interpolate between the four surrounding centres
        c, r = np.asarray(col) - 0.5, np.asarray(row) - 0.5
        rows, cols = self.elevation_m.shape
        c0, r0 = np.floor(c).astype(int), np.floor(r).astype(int)
        fc, fr = c - c0, r - r0
        inside = (c0 >= 0) & (r0 >= 0) & (c0 + 1 < cols) & (r0 + 1 < rows)
        c0, r0 = np.where(inside, c0, 0), np.where(inside, r0, 0)
        z = self.elevation_m
        top = z[r0, c0] * (1 - fc) + z[r0, c0 + 1] * fc
        bottom = z[r0 + 1, c0] * (1 - fc) + z[r0 + 1, c0 + 1] * fc
        return np.where(inside, top * (1 - fr) + bottom * fr, np.nan)


def _apply(t: Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An affine transform applied to coordinate arrays."""
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f


@lru_cache(maxsize=16)
def _transformer(src_wkt: str, dst_wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_wkt(src_wkt), CRS.from_wkt(dst_wkt), always_xy=True)


@dataclass(frozen=True)
class FramePlacement:
    """The pose a frame is georeferenced with, how far it looks from nadir, and whether to analyse it."""

    pose: GeoPose
    off_nadir_deg: float | None
    usable: bool
    reason: str = ""


def place_frame(pose: GeoPose, *, mount: CameraMount, vehicle_roll_deg: float | None,
                vehicle_pitch_deg: float | None, vehicle_yaw_deg: float | None = None,
                max_off_nadir_deg: float = MAX_OFF_NADIR_DEG) -> FramePlacement:
    """Give a frame its camera's real attitude and decide whether it can be analysed.

    ``pose`` is what the image says (position, altitude, gimbal angles when it has any); the vehicle's
    attitude is what the autopilot reported for the photo (CAMERA_FEEDBACK). A gimbal's own attitude
    wins; a camera fixed to the airframe takes the vehicle's, and without it the frame is not analysed
    rather than placed as if it looked straight down.
    """
    if mount == CameraMount.FIXED:
        if vehicle_roll_deg is None or vehicle_pitch_deg is None:
            return FramePlacement(pose, None, False, "fixed camera and no vehicle attitude reported for this photo")
        yaw, pitch, roll = camera_attitude(mount, vehicle_yaw_deg=pose.yaw_deg if vehicle_yaw_deg is None
                                           else vehicle_yaw_deg, vehicle_roll_deg=vehicle_roll_deg,
                                           vehicle_pitch_deg=vehicle_pitch_deg)
        pose = GeoPose(pose.lon, pose.lat, pose.altitude_m, yaw, pitch, roll)
    tilt = off_nadir_deg(pose.pitch_deg)
    if tilt > max_off_nadir_deg:
        return FramePlacement(pose, tilt, False, f"camera {tilt:.1f}° off nadir (more than {max_off_nadir_deg:g}°)"
                              + (f": vehicle roll {vehicle_roll_deg:+.1f}°, pitch {vehicle_pitch_deg:+.1f}°"
                                 if mount == CameraMount.FIXED else ""))
    return FramePlacement(pose, tilt, True)


@dataclass(frozen=True, eq=False)
class FrameGeoref:
    """Georeferencing for one camera frame.

    ``pose.altitude_m`` is above the dock; the ground is flat, ``ground_z_m`` above the dock
    (default: at the dock's elevation), unless a DEM is given, in which case ``dock_elevation_m``
    (above sea level, the DEM's datum) anchors the camera height and rays are intersected with
    the terrain by fixed-point iteration. ``above_ground_m`` lifts the intersection off the
    ground (flat or terrain) to where the tops of raised objects are.
    """

    camera: CameraModel
    pose: GeoPose
    projection: LocalProjection
    dem: Dem | None = None
    dock_elevation_m: float = 0.0
    ground_z_m: float = 0.0
    above_ground_m: float = 0.0

    @classmethod
    def for_pose(cls, camera: CameraModel, pose: GeoPose, *, projection: LocalProjection | None = None,
                 dem: Dem | None = None, dock_elevation_m: float = 0.0, ground_z_m: float = 0.0) -> FrameGeoref:
        return cls(camera, pose, projection or LocalProjection.around(pose.lon, pose.lat), dem, dock_elevation_m,
                   ground_z_m)

    @property
    def points_per_edge(self) -> int:
        # a straight image edge stays straight on a plane, not on terrain
        return 1 if self.dem is None else 4

    def metric_pose(self) -> CameraPose:
        base = self.dock_elevation_m if self.dem is not None else 0.0
        return self.pose.to_metric(self.projection, ground_z_m=base)

    def pixels_to_metric(self, u_px: np.ndarray, v_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ground points (easting, northing in ``projection``) seen at pixel coordinates."""
        pose = self.metric_pose()
        lift = self.above_ground_m
        if self.dem is None:
            return pixels_to_ground(self.camera, pose, u_px, v_px, ground_z_m=self.ground_z_m + lift)
        ground = np.full(np.shape(u_px), self.dock_elevation_m, dtype=float)
        x, y = pixels_to_ground(self.camera, pose, u_px, v_px, ground_z_m=ground + lift)
        for _ in range(_DEM_ITERATIONS):
            z = self.dem.sample(x, y, self.projection.crs)
            z = np.where(np.isnan(z), ground, z)
            if np.any(z + lift >= pose.z_m):
                raise GeorefError(f"terrain reaches the camera height {pose.z_m:.1f} m; check dock_elevation_m")
            x, y = pixels_to_ground(self.camera, pose, u_px, v_px, ground_z_m=z + lift)
            converged = np.max(np.abs(z - ground), initial=0.0) < _DEM_TOLERANCE_M
            ground = z
            if converged:
                break
        return x, y

    def pixels_to_lonlat(self, u_px: np.ndarray, v_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.pixels_to_metric(u_px, v_px)
        return self.projection.to_lonlat(x, y)

    def raised(self, above_ground_m: float) -> FrameGeoref:
        """The same frame, with rays stopped ``above_ground_m`` over the ground (the tops of raised objects)."""
        return replace(self, above_ground_m=above_ground_m)


@dataclass(frozen=True, eq=False)
class OrthoGeoref:
    """Georeferencing for an orthophoto: the raster's affine transform and CRS."""

    transform: Affine
    crs: CRS

    @property
    def points_per_edge(self) -> int:
        return 1

    def pixels_to_lonlat(self, u_px: np.ndarray, v_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = _apply(self.transform, np.asarray(u_px, dtype=float), np.asarray(v_px, dtype=float))
        if self.crs.equals(CRS.from_epsg(4326)):
            return np.asarray(x), np.asarray(y)
        lon, lat = _transformer(self.crs.to_wkt(), CRS.from_epsg(4326).to_wkt()).transform(x, y)
        return np.asarray(lon), np.asarray(lat)


def box_outlines_px(xyxy: np.ndarray, *, points_per_edge: int = 1) -> np.ndarray:
    """Closed-ring-free outlines (n, 4·k, 2) of boxes, clockwise from top-left, k points per edge."""
    xyxy = np.asarray(xyxy, dtype=float).reshape(-1, 4)
    t = np.arange(points_per_edge) / points_per_edge
    x0, y0, x1, y1 = (xyxy[:, i:i + 1] for i in range(4))
    top = np.stack([x0 + (x1 - x0) * t, np.broadcast_to(y0, (len(xyxy), len(t)))], axis=-1)
    right = np.stack([np.broadcast_to(x1, (len(xyxy), len(t))), y0 + (y1 - y0) * t], axis=-1)
    bottom = np.stack([x1 - (x1 - x0) * t, np.broadcast_to(y1, (len(xyxy), len(t)))], axis=-1)
    left = np.stack([np.broadcast_to(x0, (len(xyxy), len(t))), y1 - (y1 - y0) * t], axis=-1)
    return np.concatenate([top, right, bottom, left], axis=1)


def boxes_to_lonlat_polygons(xyxy: np.ndarray, georef: Georeferencer) -> list[shapely.Polygon]:
    """Ground polygons (lon/lat) of pixel boxes, all corners projected in one call."""
    if len(xyxy) == 0:
        return []
    outlines = box_outlines_px(xyxy, points_per_edge=georef.points_per_edge)
    lon, lat = georef.pixels_to_lonlat(outlines[..., 0], outlines[..., 1])
    rings = np.stack([lon, lat], axis=-1)
    polys = shapely.polygons(rings)
    return [shapely.make_valid(p) if not p.is_valid else p for p in polys]


def _area_m2(polygons: Sequence[shapely.Polygon], projection: LocalProjection) -> np.ndarray:
    if not polygons:
        return np.zeros(0)
    metric = shapely.transform(np.asarray(polygons, dtype=object),
                               lambda c: np.column_stack(projection.to_metric(c[:, 0], c[:, 1])))
    return shapely.area(metric)


def findings_from_detections(dets: Detections, georef: Georeferencer, *, seen_at: datetime,
                             frame_id: str | None = None, model: str = "") -> list[Finding]:
    """One `Finding` per detection: its box projected to a WGS84 polygon, centroid and ground area.

    Boxes of raised classes (`HEIGHT_PRIOR_M`) are placed at their class's height prior on frames taken
    from a pose; an orthophoto's transform already places what it shows.
    """
    if seen_at.tzinfo is None:
        raise InvalidInput("seen_at must be timezone-aware (UTC)")
    if len(dets) == 0:
        return []
    heights = np.array([HEIGHT_PRIOR_M.get(CLASS_NAMES[int(c)], 0.0) for c in dets.class_id])
    polygons: list[shapely.Polygon] = [shapely.Polygon()] * len(dets)
    for height in np.unique(heights):
        rows = np.flatnonzero(heights == height)
        at = georef.raised(float(height)) if height and isinstance(georef, FrameGeoref) else georef
        for row, poly in zip(rows, boxes_to_lonlat_polygons(dets.xyxy[rows], at), strict=True):
            polygons[row] = poly
    cx, cy = shapely.get_x(shapely.centroid(polygons)), shapely.get_y(shapely.centroid(polygons))
    projection = LocalProjection.around(float(cx[0]), float(cy[0]))
    areas = _area_m2(polygons, projection)
    out = []
    for i, poly in enumerate(polygons):
        name = CLASS_NAMES[int(dets.class_id[i])]
        out.append(Finding(
            geometry=shapely.geometry.mapping(poly),
            class_name=name,
            category=CATEGORY_OF[name],
            score=float(dets.confidence[i]),
            seen_at=seen_at,
            frame_id=frame_id,
            box_xyxy_px=tuple(float(v) for v in dets.xyxy[i]),
            centroid_lon=float(cx[i]),
            centroid_lat=float(cy[i]),
            area_m2=float(areas[i]),
            model=model,
        ))
    return out


def evidence_crop(image: np.ndarray, box_xyxy_px: Sequence[float], *, margin_frac: float = 0.5,
                  min_margin_px: int = 48, max_side_px: int = 1024, outline: bool = True,
                  quality: int = 88) -> bytes:
    """JPEG bytes of a detection with surrounding context; the box is outlined so a reviewer sees what fired."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box_xyxy_px)
    if not (x1 > x0 and y1 > y0):
        raise InvalidInput(f"evidence box {box_xyxy_px} has no area")
    mx = max(min_margin_px, margin_frac * (x1 - x0))
    my = max(min_margin_px, margin_frac * (y1 - y0))
    cx0, cy0 = max(0, int(x0 - mx)), max(0, int(y0 - my))
    cx1, cy1 = min(w, int(np.ceil(x1 + mx))), min(h, int(np.ceil(y1 + my)))
    if cx1 <= cx0 or cy1 <= cy0:
        raise InvalidInput(f"evidence box {box_xyxy_px} lies outside the {w}x{h} image")
    crop = cv2.cvtColor(image[cy0:cy1, cx0:cx1], cv2.COLOR_RGB2BGR)
    scale = min(1.0, max_side_px / max(crop.shape[:2]))
    if scale < 1.0:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    if outline:
        p0 = (round((x0 - cx0) * scale), round((y0 - cy0) * scale))
        p1 = (round((x1 - cx0) * scale), round((y1 - cy0) * scale))
        cv2.rectangle(crop, p0, p1, (0, 0, 255), max(1, round(2 * max(crop.shape[:2]) / 512)))
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise InvalidInput("could not encode the evidence crop as JPEG")
    return buf.tobytes()
