"""Quick mosaic of a patrol: frames projected from their pose onto the area's common UTM grid.

Each frame is mapped to the grid through the one camera model (``dockpatrol.camera``) on flat
ground; a pinhole camera maps the ground plane by a homography, so one exact
``cv2.warpPerspective`` per frame and output tile does the resampling. Where frames overlap,
the most nadir view of each place wins (seamlines; tall things do not ghost). The grid is processed in tiles and frames are decoded only
while a tile row needs them, which keeps memory flat for large areas. The result is written as a
Cloud-Optimised GeoTIFF (rio-cogeo) with an internal mask, the base layer a standard tiler opens.
"""

from __future__ import annotations

import logging
import math
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from affine import Affine

from dockpatrol.camera import CameraModel, GeoPose, ground_to_pixels, pixels_to_ground
from dockpatrol.errors import GeorefError, InvalidInput
from dockpatrol.geo import LocalProjection

log = logging.getLogger("dockpatrol.mosaic")

#: GDAL's block cache while writing (its default, 5 % of RAM, would hold gigabytes of a large mosaic).
GDAL_CACHE_MB = 256
#: One mosaic written at a time per process: GDAL's block cache and thread settings are process-wide, and
#: two job threads writing mosaics at once crashed the process inside libtiff (SIGSEGV).
_GDAL_WRITES = threading.Lock()
#: Largest mosaic accepted (a 1 km² area at 2.5 cm is 1.6 Gpx).
MAX_MOSAIC_PIXELS = 2_000_000_000
#: Output tile side in pixels: the unit of blending and of writing.
TILE_PX = 1024
#: Width of the cross-fade at a seam, in nadir-weight units (255 = frame centre): about 5 % of a frame.
SEAM_BAND = 12
#: GSD at which frames are aligned to each other or to the previous mosaic.
REGISTER_GSD_M = 0.25
#: Largest pose correction registration may apply (GNSS error is a metre or two, yaw a degree or two).
MAX_CORRECTION_M = 6.0
MAX_CORRECTION_DEG = 8.0
#: RANSAC inliers a feature match needs to be trusted without ECC's confirmation.
MIN_FEATURE_INLIERS = 25
#: Least image correlation (ECC) at which an alignment is believed; illumination changes lower it.
MIN_ECC_RHO = 0.3
#: 1-sigma error of a drone's reported position and yaw: the prior of a patrol's joint registration.
GNSS_SIGMA_M = 1.5
YAW_SIGMA_DEG = 2.0
#: 1-sigma error of one pairwise image alignment at ``REGISTER_GSD_M``, and the residual beyond
#: which a pair is taken for a false match.
PAIR_SIGMA_M = 0.25
PAIR_OUTLIER_M = 1.0
#: A frame whose footprint corner lies farther than this from the camera is too oblique to mosaic.
MAX_GROUND_RANGE_M = 1500.0


@dataclass(frozen=True)
class MosaicGrid:
    """A north-up raster grid in a UTM CRS: origin at the top-left corner, square pixels of ``gsd_m``."""

    epsg: int
    west_m: float
    north_m: float
    gsd_m: float
    width_px: int
    height_px: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.gsd_m) and self.gsd_m > 0):
            raise InvalidInput(f"mosaic GSD must be a positive number of metres, got {self.gsd_m}")
        if self.width_px <= 0 or self.height_px <= 0:
            raise InvalidInput(f"mosaic grid must have pixels, got {self.width_px}×{self.height_px}")
        if self.width_px * self.height_px > MAX_MOSAIC_PIXELS:
            raise InvalidInput(f"mosaic would be {self.width_px}×{self.height_px} px (limit {MAX_MOSAIC_PIXELS:,}); "
                               "use a coarser GSD or a smaller area")

    @classmethod
    def for_bounds(cls, *, epsg: int, bounds_m: tuple[float, float, float, float], gsd_m: float) -> MosaicGrid:
        """The grid covering (minx, miny, maxx, maxy) metres, its origin snapped to whole metres.

        Snapping makes every patrol of one area share the grid exactly, so mosaics compare pixel to pixel.
        """
        minx, miny, maxx, maxy = (float(v) for v in bounds_m)
        if not (minx < maxx and miny < maxy):
            raise InvalidInput(f"mosaic bounds {bounds_m} are empty")
        if not (math.isfinite(gsd_m) and gsd_m > 0):
            raise InvalidInput(f"mosaic GSD must be a positive number of metres, got {gsd_m}")
        west, north = math.floor(minx), math.ceil(maxy)
        width = math.ceil((math.ceil(maxx) - west) / gsd_m - 1e-9)
        height = math.ceil((north - math.floor(miny)) / gsd_m - 1e-9)
        return cls(epsg=epsg, west_m=float(west), north_m=float(north), gsd_m=float(gsd_m), width_px=width,
                   height_px=height)

    @classmethod
    def for_area(cls, *, polygon_lonlat: Any, gsd_m: float, margin_m: float = 0.0) -> MosaicGrid:
        """The grid of a patrol area (a shapely polygon in lon/lat) in the UTM zone of its centre."""
        c = polygon_lonlat.centroid
        projection = LocalProjection.around(float(c.x), float(c.y))
        minx, miny, maxx, maxy = projection.geometry_to_metric(polygon_lonlat).bounds
        return cls.for_bounds(epsg=projection.epsg, gsd_m=gsd_m,
                              bounds_m=(minx - margin_m, miny - margin_m, maxx + margin_m, maxy + margin_m))

    @property
    def transform(self) -> Affine:
        """Pixel (col, row) corner → UTM metres, the rasterio/GDAL convention."""
        return Affine(self.gsd_m, 0.0, self.west_m, 0.0, -self.gsd_m, self.north_m)

    @property
    def bounds_m(self) -> tuple[float, float, float, float]:
        return (self.west_m, self.north_m - self.height_px * self.gsd_m,
                self.west_m + self.width_px * self.gsd_m, self.north_m)

    @property
    def crs(self) -> str:
        return f"EPSG:{self.epsg}"

    @property
    def projection(self) -> LocalProjection:
        return LocalProjection(self.epsg)


@dataclass(frozen=True)
class MosaicFrame:
    """One patrol frame to place: its id, reported pose (None when the image carried none), camera, pixels.

    ``load`` returns the RGB uint8 (rows, cols, 3) image; it is called only while a tile needs the frame.
    """

    frame_id: str
    pose: GeoPose | None
    camera: CameraModel
    load: Callable[[], np.ndarray]


@dataclass(frozen=True)
class SkippedFrame:
    frame_id: str
    reason: str


@dataclass(frozen=True)
class MosaicResult:
    """What was built: the COG path, its grid, which frames went in, which did not and why."""

    path: Path
    grid: MosaicGrid
    frames_used: tuple[str, ...]
    skipped: tuple[SkippedFrame, ...]
    covered_fraction: float

    def summary(self) -> dict[str, Any]:
        """JSON-ready record kept with the flight."""
        return {"crs": self.grid.crs, "gsd_m": self.grid.gsd_m, "width_px": self.grid.width_px,
                "height_px": self.grid.height_px, "bounds_m": list(self.grid.bounds_m),
                "frames_used": len(self.frames_used), "covered_fraction": round(self.covered_fraction, 4),
                "skipped": [{"frame_id": s.frame_id, "reason": s.reason} for s in self.skipped]}


class NoUsableFrames(InvalidInput):
    """None of a patrol's frames could be placed on the grid; the message says why for each."""


@dataclass(frozen=True)
class _Placed:
    frame_id: str
    camera: CameraModel
    ground_to_px: np.ndarray  # 3×3 homography: grid pixel index (col, row) → frame pixel index
    bbox_px: tuple[int, int, int, int]  # col0, row0, col1, row1 of the footprint on the grid (clipped)
    load: Callable[[], np.ndarray] = field(compare=False)


def _place(frame: MosaicFrame, grid: MosaicGrid) -> _Placed | str:
    """The frame's grid homography and footprint, or the reason it cannot be placed."""
    if frame.pose is None:
        return "frame has no pose (no GPS/attitude metadata)"
    pose = frame.pose
    values = (pose.lon, pose.lat, pose.altitude_m, pose.yaw_deg, pose.pitch_deg, pose.roll_deg)
    if not all(v is not None and math.isfinite(v) for v in values):
        return f"frame pose has a missing or non-finite value: {values}"
    if pose.altitude_m <= 0:
        return f"frame altitude {pose.altitude_m} m is not above the ground"
    cam = frame.camera
    metric = pose.to_metric(grid.projection)
    corners_px = np.array([[0.0, 0.0], [cam.width_px, 0.0], [cam.width_px, cam.height_px], [0.0, cam.height_px]])
    try:
        gx, gy = pixels_to_ground(cam, metric, corners_px[:, 0], corners_px[:, 1])
    except GeorefError as exc:
        return f"frame footprint cannot be placed: {exc}"
    if float(np.max(np.hypot(gx - metric.x_m, gy - metric.y_m))) > MAX_GROUND_RANGE_M:
        return f"frame is too oblique (pitch {pose.pitch_deg:.0f}°): its footprint reaches beyond {MAX_GROUND_RANGE_M:.0f} m"
    # Grid pixel centres (col + 0.5, row + 0.5) → metres → camera pixels (continuous) → OpenCV index (-0.5).
    cols = (gx - grid.west_m) / grid.gsd_m - 0.5
    rows = (grid.north_m - gy) / grid.gsd_m - 0.5
    u, v = ground_to_pixels(cam, metric, gx, gy)
    h = cv2.getPerspectiveTransform(np.column_stack([cols, rows]).astype(np.float32),
                                    (np.column_stack([u, v]) - 0.5).astype(np.float32))
    box = _grid_box(cols, rows, grid)
    if box[0] >= box[2] or box[1] >= box[3]:
        return "frame footprint lies outside the area's grid"
    return _Placed(frame.frame_id, cam, h, box, frame.load)


def _grid_box(cols: np.ndarray, rows: np.ndarray, grid: MosaicGrid) -> tuple[int, int, int, int]:
    """The grid pixels (col0, row0, col1, row1) a footprint with these corner indices covers, clipped to the grid."""
    c0, c1 = max(0, math.floor(cols.min())), min(grid.width_px, math.ceil(cols.max()) + 1)
    r0, r1 = max(0, math.floor(rows.min())), min(grid.height_px, math.ceil(rows.max()) + 1)
    return c0, r0, max(c0, c1), max(r0, r1)


def _translation(col: float, row: float) -> np.ndarray:
    """3×3 homogeneous shift by (col, row) pixels."""
    return np.array([[1.0, 0.0, col], [0.0, 1.0, row], [0.0, 0.0, 1.0]])


@lru_cache(maxsize=4)
def _nadir_weight(width_px: int, height_px: int) -> np.ndarray:
    """Nadir-ness of each frame pixel as uint8: 1 at the edge, 255 at the centre (L∞ distance to the edge)."""
    ux = 1.0 - np.abs(np.linspace(-1.0, 1.0, width_px, dtype=np.float32))
    vy = 1.0 - np.abs(np.linspace(-1.0, 1.0, height_px, dtype=np.float32))
    return np.round(1.0 + 254.0 * np.minimum.outer(vy, ux)).astype(np.uint8)


def _load_rgb(placed: _Placed) -> np.ndarray:
    rgb = placed.load()
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InvalidInput(f"frame {placed.frame_id}: expected an RGB uint8 image, got {rgb.dtype} {rgb.shape}")
    if rgb.shape[:2] != (placed.camera.height_px, placed.camera.width_px):
        raise InvalidInput(f"frame {placed.frame_id}: image is {rgb.shape[1]}×{rgb.shape[0]} px but its camera is "
                           f"{placed.camera.width_px}×{placed.camera.height_px}")
    return np.ascontiguousarray(rgb)


def place_frames(frames: Sequence[MosaicFrame], grid: MosaicGrid) -> tuple[list[_Placed], list[SkippedFrame]]:
    """Split frames into those that can be placed on the grid and those that cannot (with the reason)."""
    placed, skipped = [], []
    for frame in frames:
        result = _place(frame, grid)
        if isinstance(result, str):
            skipped.append(SkippedFrame(frame.frame_id, result))
        else:
            placed.append(result)
    return placed, skipped


def build_mosaic(frames: Sequence[MosaicFrame], grid: MosaicGrid, *, path: Path, tile_px: int = TILE_PX,
                 profile: str = "jpeg", quality: int = 90, register: bool = True,
                 reference: Path | None = None) -> MosaicResult:
    """Blend the frames onto ``grid`` and write a Cloud-Optimised GeoTIFF at ``path``.

    With ``register`` each frame's pose is refined against the area's previous mosaic
    (``reference``) or, without one, jointly with the patrol's other frames (see ``register_frames``).
    Frames that cannot be placed are reported in ``skipped``; none placeable raises NoUsableFrames.
    """
    import rasterio

    placed, skipped = place_frames(frames, grid)
    if not placed:
        reasons = "; ".join(f"{s.frame_id}: {s.reason}" for s in skipped[:5]) or "the patrol has no frames"
        raise NoUsableFrames(f"no usable frames for the mosaic ({reasons})")
    started = time.perf_counter()
    if register:
        placed = register_frames(placed, grid, reference=reference)
    registered = time.perf_counter()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    covered = 0
    used: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="mosaic-", dir=path.parent) as tmp:
        raw = Path(tmp) / "raw.tif"
        profile_raw = {"driver": "GTiff", "width": grid.width_px, "height": grid.height_px, "count": 3,
                       "dtype": "uint8", "crs": grid.crs, "transform": grid.transform, "tiled": True,
                       "blockxsize": 512, "blockysize": 512, "photometric": "RGB", "BIGTIFF": "IF_SAFER"}
        with _GDAL_WRITES, rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True, GDAL_CACHEMAX=GDAL_CACHE_MB), \
                rasterio.open(raw, "w", **profile_raw) as dst:
            cache: dict[str, np.ndarray] = {}
            for row0 in range(0, grid.height_px, tile_px):
                row1 = min(grid.height_px, row0 + tile_px)
                band = [p for p in placed if p.bbox_px[1] < row1 and p.bbox_px[3] > row0]
                for frame_id in [k for k in cache if k not in {p.frame_id for p in band}]:
                    del cache[frame_id]
                for col0 in range(0, grid.width_px, tile_px):
                    col1 = min(grid.width_px, col0 + tile_px)
                    rgb, mask, ids = _tile(band, cache, col0, row0, col1, row1)
                    used.update(ids)
                    covered += int(np.count_nonzero(mask))
                    window = rasterio.windows.Window(col0, row0, col1 - col0, row1 - row0)
                    dst.write(np.transpose(rgb, (2, 0, 1)), window=window)
                    dst.write_mask(mask, window=window)
        composited = time.perf_counter()
        with _GDAL_WRITES:
            _to_cog(raw, path, profile=profile, quality=quality)
    log.debug("mosaic %d×%d px of %d frames: registration %.1f s, compositing %.1f s, COG %.1f s", grid.width_px,
              grid.height_px, len(placed), registered - started, composited - registered,
              time.perf_counter() - composited)
    fraction = covered / (grid.width_px * grid.height_px)
    never = [SkippedFrame(p.frame_id, "frame footprint adds no pixel to the grid") for p in placed
             if p.frame_id not in used]
    return MosaicResult(path=path, grid=grid, frames_used=tuple(p.frame_id for p in placed if p.frame_id in used),
                        skipped=tuple(skipped + never), covered_fraction=fraction)


def register_frames(placed: Sequence[_Placed], grid: MosaicGrid, *, reference: Path | None = None,
                    coarse_gsd_m: float = REGISTER_GSD_M) -> list[_Placed]:
    """Refine each frame's ground homography by a small rigid correction found by ECC image alignment.

    A GNSS pose is off by a metre or two and a degree of yaw: seams tear and two patrols disagree.
    Frames, warped at a coarse GSD, are aligned with OpenCV's enhanced correlation coefficient
    (insensitive to exposure and contrast). With a ``reference`` (the area's previous mosaic) each
    frame is aligned to it, which co-registers successive patrols. Without one, every pair of
    overlapping frames is aligned and all corrections are solved together with the GNSS poses as
    the prior (``adjust_jointly``): seams close and the patrol stays where its poses put it on
    average. Corrections beyond ``MAX_CORRECTION_M`` / ``MAX_CORRECTION_DEG`` are not trusted.
    """
    f = max(1.0, coarse_gsd_m / grid.gsd_m)
    coarse = MosaicGrid(epsg=grid.epsg, west_m=grid.west_m, north_m=grid.north_m, gsd_m=grid.gsd_m * f,
                        width_px=max(1, math.floor(grid.width_px / f)), height_px=max(1, math.floor(grid.height_px / f)))
    # coarse index → full index: full = (coarse + 0.5)·f - 0.5
    to_full = np.array([[f, 0.0, 0.5 * f - 0.5], [0.0, f, 0.5 * f - 0.5], [0.0, 0.0, 1.0]])
    views = [_CoarseView.of(p, coarse, to_full) for p in placed]
    if reference is None:
        corrections = adjust_jointly(views, gsd_m=coarse.gsd_m)
    else:
        ref = read_mosaic(reference, grid=coarse)
        ref_gray = cv2.cvtColor(ref.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        corrections = []
        for view in views:
            c0, r0, c1, r1 = view.box
            correction = None
            if c1 - c0 >= 16 and r1 - r0 >= 16:
                gray, alpha = view.warp(view.box)
                overlap = ref.valid[r0:r1, c0:c1] & (alpha > 0)
                found = _ecc(ref_gray[r0:r1, c0:c1], gray, overlap, gsd_m=coarse.gsd_m)
                if found is not None:
                    correction = _in_grid(found, c0, r0)
            corrections.append(correction)
    return [p if d is None else _with_homography(p, p.ground_to_px @ to_full @ d @ np.linalg.inv(to_full), grid)
            for p, d in zip(placed, corrections, strict=True)]


def _in_grid(warp: np.ndarray, col0: int, row0: int) -> np.ndarray:
    """A warp between windows whose corner is grid pixel (col0, row0), expressed in grid pixels."""
    return _translation(col0, row0) @ warp @ _translation(-col0, -row0)


@dataclass(frozen=True, eq=False)
class _CoarseView:
    """A frame at the registration GSD: gray and nadir weight, and where the grid sees it."""

    h: np.ndarray  # coarse grid pixel → frame pixel
    small: np.ndarray  # gray and nadir weight, the frame shrunk to about the coarse GSD
    to_small: np.ndarray  # frame pixel → small pixel
    box: tuple[int, int, int, int]  # col0, row0, col1, row1 of the footprint on the coarse grid

    @classmethod
    def of(cls, p: _Placed, coarse: MosaicGrid, to_full: np.ndarray) -> _CoarseView:
        f = to_full[0, 0]
        c0, r0, c1, r1 = (int(v // f) for v in p.bbox_px)
        rgb = _load_rgb(p)
        stack = cv2.merge([cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), _nadir_weight(rgb.shape[1], rgb.shape[0])])
        small = cv2.resize(stack, None, fx=1.0 / f, fy=1.0 / f, interpolation=cv2.INTER_AREA) if f > 1.5 else stack
        s = small.shape[1] / rgb.shape[1]
        to_small = np.array([[s, 0.0, 0.5 * s - 0.5], [0.0, s, 0.5 * s - 0.5], [0.0, 0.0, 1.0]])
        return cls(p.ground_to_px @ to_full, small, to_small,
                   (c0, r0, min(coarse.width_px, c1 + 1), min(coarse.height_px, r1 + 1)))

    def warp(self, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Gray and nadir weight of the frame over a window of the coarse grid (weight 0 outside the frame)."""
        c0, r0, c1, r1 = box
        m = self.to_small @ self.h @ _translation(c0, r0)
        out = cv2.warpPerspective(self.small, m, (c1 - c0, r1 - r0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        return out[..., 0].astype(np.float32), out[..., 1].astype(np.float32)


def adjust_jointly(views: Sequence[_CoarseView], *, gsd_m: float) -> list[np.ndarray | None]:
    """Rigid corrections (coarse grid → grid) of all frames at once: pairwise alignments plus the GNSS prior.

    Aligning each frame to those placed before chains it to the first: the first frame's yaw error
    becomes a drift of metres across the patrol, and one wrong alignment moves every later frame.
    Here each pair of overlapping frames is aligned once, and the corrections that best satisfy
    all pairs and stay near the reported poses (``GNSS_SIGMA_M``, ``YAW_SIGMA_DEG``) are solved
    by linear least squares (small angles); pairs that disagree with the solution by more than
    ``PAIR_OUTLIER_M`` are dropped and the rest solved again. A frame no pair reaches keeps its pose.
    """
    n = len(views)
    pairs = []  # (i, j, W, points): frame j at W·p shows what frame i shows at p, for p in the overlap
    for i in range(n):
        for j in range(i + 1, n):
            a, b = views[i].box, views[j].box
            box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
            if box[2] - box[0] < 16 or box[3] - box[1] < 16:
                continue
            target, alpha_i = views[i].warp(box)
            moving, alpha_j = views[j].warp(box)
            overlap = (alpha_i > 0) & (alpha_j > 0)
            found = _ecc(target, moving, overlap, gsd_m=gsd_m)
            if found is None:
                continue
            rows, cols = np.nonzero(overlap)
            x0, x1, y0, y1 = cols.min() + box[0], cols.max() + box[0], rows.min() + box[1], rows.max() + box[1]
            points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)
            pairs.append((i, j, _in_grid(found, box[0], box[1]), points))
    if not pairs:
        return [None] * n
    centres = np.array([[(v.box[0] + v.box[2]) / 2, (v.box[1] + v.box[3]) / 2] for v in views])
    x, residual_m = _solve(centres, pairs, gsd_m=gsd_m)
    for _ in range(len(pairs) // 4):  # a false match pulls its neighbours too: drop the worst, solve again
        worst = int(np.argmax(residual_m))
        if residual_m[worst] <= PAIR_OUTLIER_M:
            break
        pairs = [p for k, p in enumerate(pairs) if k != worst]
        x, residual_m = _solve(centres, pairs, gsd_m=gsd_m)
    reached = {k for i, j, _, _ in pairs for k in (i, j)}
    out: list[np.ndarray | None] = []
    for i in range(n):
        tx, ty, theta = x[3 * i: 3 * i + 3]
        c, s = math.cos(theta), math.sin(theta)
        d = np.eye(3)
        d[:2, :2] = [[c, -s], [s, c]]
        d[:2, 2] = centres[i] + np.array([tx, ty]) - d[:2, :2] @ centres[i]
        plausible = math.hypot(tx, ty) * gsd_m <= MAX_CORRECTION_M and abs(math.degrees(theta)) <= MAX_CORRECTION_DEG
        out.append(d if i in reached and plausible else None)
    return out


def _solve(centres: np.ndarray, pairs: Sequence[tuple[int, int, np.ndarray, np.ndarray]], *,
           gsd_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (tx, ty, θ) per frame and each pair's RMS residual in metres.

    Frame i's correction moves grid point q to D_i(q) = q + t_i + θ_i·J(q − c_i) (J a quarter turn,
    c_i the frame's centre); a pair asks D_j(p) = W(D_i(p)) at each of its points, linear in the
    unknowns because W is a known rigid motion.
    """
    n = len(centres)
    rows, rhs = [], []
    prior = (gsd_m / GNSS_SIGMA_M, gsd_m / GNSS_SIGMA_M, 1.0 / math.radians(YAW_SIGMA_DEG))
    for i in range(n):
        for k in range(3):
            row = np.zeros(3 * n)
            row[3 * i + k] = prior[k]
            rows.append(row)
            rhs.append(0.0)
    w = gsd_m / PAIR_SIGMA_M
    for i, j, warp, points in pairs:
        rot = warp[:2, :2]
        for p in points:
            lever_j, lever_i = p - centres[j], p - centres[i]
            turn_j = np.array([-lever_j[1], lever_j[0]])
            turn_i = rot @ np.array([-lever_i[1], lever_i[0]])
            target = rot @ p + warp[:2, 2] - p
            for axis in (0, 1):
                row = np.zeros(3 * n)
                row[3 * j + axis] += w
                row[3 * i: 3 * i + 2] -= w * rot[axis]
                row[3 * j + 2] += w * turn_j[axis]
                row[3 * i + 2] -= w * turn_i[axis]
                rows.append(row)
                rhs.append(w * target[axis])
    a, b = np.array(rows), np.array(rhs)
    x = np.linalg.lstsq(a, b, rcond=None)[0]
    pair_rows = (a @ x - b)[3 * n:].reshape(len(pairs), -1) / w
    return x, np.sqrt(np.mean(pair_rows ** 2, axis=1)) * gsd_m


def _with_homography(p: _Placed, ground_to_px: np.ndarray, grid: MosaicGrid) -> _Placed:
    """``p`` placed by another homography, its footprint box recomputed (a corrected frame moves)."""
    w, h = p.camera.width_px, p.camera.height_px
    corners = np.linalg.solve(ground_to_px, np.array([[-0.5, w - 0.5, w - 0.5, -0.5], [-0.5, -0.5, h - 0.5, h - 0.5],
                                                      [1.0, 1.0, 1.0, 1.0]]))
    return replace(p, ground_to_px=ground_to_px, bbox_px=_grid_box(corners[0] / corners[2], corners[1] / corners[2], grid))


def local_contrast(gray: np.ndarray, sigma_px: float = 8.0) -> np.ndarray:
    """Gray minus its local mean over its local spread: exposure, haze and soft shading drop out."""
    mean = cv2.GaussianBlur(gray, (0, 0), sigma_px)
    centred = gray - mean
    spread = np.sqrt(cv2.GaussianBlur(centred * centred, (0, 0), sigma_px)) + 4.0
    return (centred / spread).astype(np.float32)


def _ecc(target: np.ndarray, moving: np.ndarray, overlap: np.ndarray, *, gsd_m: float) -> np.ndarray | None:
    """3×3 rigid warp W with moving(W·q) ≈ target(q) over ``overlap``, or None when not found or implausible.

    Both images are contrast-normalised (illumination drops out). ECC refines shift and rotation
    from the pose and from the bulk shift phase correlation proposes (GNSS error may be metres);
    the most correlated plausible result wins.
    """
    if np.count_nonzero(overlap) < max(1500, 0.15 * overlap.size):
        return None
    target, moving = local_contrast(target), local_contrast(moving)
    weight = cv2.GaussianBlur(overlap.astype(np.float32), (0, 0), 4.0)
    (dx, dy), _ = cv2.phaseCorrelate(target * weight, moving * weight)
    starts = [np.eye(2, 3, dtype=np.float32)]
    if math.hypot(dx, dy) * gsd_m <= MAX_CORRECTION_M:
        starts.append(np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32))
    matched = _feature_match(target, moving, overlap)
    if matched is not None:
        starts.append(matched[1])
    rows, cols = np.nonzero(overlap)
    centre = np.array([cols.mean(), rows.mean(), 1.0])

    def plausible(w: np.ndarray) -> bool:
        # How far the correction moves the middle of the overlap (a rotation about the corner is not a shift).
        moved_m = float(np.hypot(*(w @ centre - centre)[:2])) * gsd_m
        angle = math.degrees(math.atan2(w[1, 0], w[0, 0]))
        return moved_m <= MAX_CORRECTION_M and abs(angle) <= MAX_CORRECTION_DEG

    mask = overlap.astype(np.uint8)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 80, 1e-5)
    best: tuple[float, np.ndarray] | None = None
    for start in starts:
        try:
            rho, warp = cv2.findTransformECC(target, moving, start, cv2.MOTION_EUCLIDEAN, criteria, mask, 3)
        except cv2.error:  # OpenCV gives up when the images do not correlate from this start
            continue
        w = np.vstack([warp.astype(np.float64), [0.0, 0.0, 1.0]])
        if rho >= MIN_ECC_RHO and plausible(w) and (best is None or rho > best[0]):
            best = (rho, w)
    if best is not None:
        return best[1]
    # ECC found nothing it believes (strong shadows, changed ground): keep a well-supported feature match.
    if matched is not None and matched[0] >= MIN_FEATURE_INLIERS:
        w = np.vstack([matched[1].astype(np.float64), [0.0, 0.0, 1.0]])
        return w if plausible(w) else None
    return None


def _feature_match(target: np.ndarray, moving: np.ndarray, overlap: np.ndarray) -> tuple[int, np.ndarray] | None:
    """ORB features matched and filtered by RANSAC into a rotation + shift: (inliers, 2×3 warp target → moving)."""
    def as_u8(img: np.ndarray) -> np.ndarray:
        return np.clip(img * 40.0 + 128.0, 0, 255).astype(np.uint8)

    orb = cv2.ORB_create(nfeatures=1500, fastThreshold=10)
    kt, dt = orb.detectAndCompute(as_u8(target), overlap.astype(np.uint8) * 255)
    km, dm = orb.detectAndCompute(as_u8(moving), None)
    if dt is None or dm is None or len(kt) < 8 or len(km) < 8:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(dt, dm, k=2)
    good = [m for m, *rest in pairs if rest and m.distance < 0.8 * rest[0].distance]
    if len(good) < 8:
        return None
    src = np.float32([kt[m.queryIdx].pt for m in good])
    dst = np.float32([km[m.trainIdx].pt for m in good])
    cv2.setRNGSeed(len(good))  # RANSAC samples at random: the same frames give the same mosaic
    warp, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.0)
    if warp is None or inliers is None:
        return None
    scale = math.hypot(float(warp[0, 0]), float(warp[1, 0]))
    if abs(scale - 1.0) > 0.03:
        return None
    # Keep it rigid: drop the small scale RANSAC allowed.
    warp[:, :2] /= scale
    return int(inliers.sum()), warp.astype(np.float32)


def _tile(band: list[_Placed], cache: dict[str, np.ndarray], col0: int, row0: int, col1: int,
          row1: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Composite the frames that reach one output tile; returns RGB, the 0/255 mask and the frames used.

    Each pixel takes the frame that sees it most nadir (seamlines: tall things keep one lean instead
    of ghosting, and two patrols flown on one plan choose the same frames); within ``SEAM_BAND``
    of a seam the two best views are cross-faded so the seam does not show as a step.
    """
    w, h = col1 - col0, row1 - row0
    rgb = np.zeros((h, w, 3), np.uint8)
    second = np.zeros((h, w, 3), np.uint8)
    best = np.zeros((h, w), np.uint8)
    runner_up = np.zeros((h, w), np.uint8)
    ids = []
    shift = _translation(col0, row0)
    for p in band:
        c0, _, c1, _ = p.bbox_px
        if c0 >= col1 or c1 <= col0:
            continue
        if p.frame_id not in cache:
            cache[p.frame_id] = _load_rgb(p)
        frame = cache[p.frame_id]
        m = p.ground_to_px @ shift
        alpha = cv2.warpPerspective(_nadir_weight(frame.shape[1], frame.shape[0]), m, (w, h),
                                    flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                                    borderValue=0)
        wins = cv2.compare(alpha, best, cv2.CMP_GT)
        seconds = cv2.bitwise_and(cv2.compare(alpha, runner_up, cv2.CMP_GT), cv2.bitwise_not(wins))
        if not cv2.countNonZero(wins) and not cv2.countNonZero(seconds):
            continue
        ids.append(p.frame_id)
        warped = cv2.warpPerspective(frame, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                     borderMode=cv2.BORDER_REPLICATE)
        # The old best becomes the runner-up where this frame wins.
        cv2.copyTo(rgb, wins, second)
        cv2.copyTo(best, wins, runner_up)
        cv2.copyTo(warped, wins, rgb)
        cv2.copyTo(alpha, wins, best)
        cv2.copyTo(warped, seconds, second)
        cv2.copyTo(alpha, seconds, runner_up)
    gap = cv2.subtract(best, runner_up)
    near_seam = (runner_up > 0) & (gap < SEAM_BAND)
    if near_seam.any():
        t = (0.5 + 0.5 * gap[near_seam].astype(np.float32) / SEAM_BAND)[:, None]
        rgb[near_seam] = np.round(t * rgb[near_seam] + (1.0 - t) * second[near_seam]).astype(np.uint8)
    valid = best > 0
    return rgb, valid.astype(np.uint8) * 255, ids


def _to_cog(src: Path, dst: Path, *, profile: str, quality: int) -> None:
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    try:
        dst_profile = cog_profiles.get(profile)
    except KeyError:
        raise InvalidInput(f"unknown COG profile {profile!r}; use jpeg, deflate, webp or lzw") from None
    if profile == "jpeg":
        dst_profile["jpeg_quality"] = quality
    cog_translate(src, dst, dst_profile, add_mask=True, overview_resampling="average", in_memory=False,
                  quiet=True, use_cog_driver=True,
                  config={"GDAL_TIFF_INTERNAL_MASK": True, "GDAL_NUM_THREADS": "ALL_CPUS",
                          "GDAL_CACHEMAX": GDAL_CACHE_MB})


@dataclass(frozen=True, eq=False)
class MosaicRaster:
    """A mosaic read onto an analysis grid: RGB uint8, validity mask, and the grid it lies on."""

    rgb: np.ndarray
    valid: np.ndarray
    grid: MosaicGrid


def read_mosaic(path: Path, *, grid: MosaicGrid) -> MosaicRaster:
    """Read a mosaic resampled (area average, through its overviews) onto ``grid``; outside it is invalid."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioError
    from rasterio.vrt import WarpedVRT

    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise InvalidInput(f"mosaic {Path(path).name} has no CRS")
            if src.count < 3:
                raise InvalidInput(f"mosaic {Path(path).name} has {src.count} bands, expected RGB")
            window = _inner_window(src, grid)
            if window is not None:
                # Same CRS and inside the mosaic: a decimated read, which GDAL serves from the overviews.
                shape = (grid.height_px, grid.width_px)
                rgb = np.transpose(src.read(indexes=[1, 2, 3], window=window, out_shape=(3, *shape),
                                            resampling=Resampling.average), (1, 2, 0))
                coverage = src.read_masks(1, window=window, out_shape=shape, resampling=Resampling.average)
            else:
                with WarpedVRT(src, crs=grid.crs, transform=grid.transform, width=grid.width_px,
                               height=grid.height_px, resampling=Resampling.average, add_alpha=True) as vrt:
                    data = vrt.read(indexes=[1, 2, 3, vrt.count])
                rgb, coverage = np.transpose(data[:3], (1, 2, 0)), data[3]
            # Average resampling blends edge pixels with nothing: trust only fully covered ones.
            valid = coverage >= 250
    except RasterioError as exc:
        raise InvalidInput(f"cannot read mosaic {Path(path).name}: {exc}") from None
    return MosaicRaster(rgb=np.ascontiguousarray(rgb), valid=valid, grid=grid)


def _inner_window(src: Any, grid: MosaicGrid) -> Any | None:
    """The source window covering ``grid`` (same CRS, inside the mosaic), or None.

    Its edges are rounded to whole source pixels: at most half a mosaic pixel, far below an analysis pixel.
    """
    from rasterio.windows import from_bounds

    if src.crs.to_epsg() != grid.epsg:
        return None
    window = from_bounds(*grid.bounds_m, transform=src.transform)
    edges = (window.col_off, window.row_off, window.col_off + window.width, window.row_off + window.height)
    if edges[0] < -0.5 or edges[1] < -0.5 or edges[2] > src.width + 0.5 or edges[3] > src.height + 0.5:
        return None
    return window.round_offsets().round_lengths()


def mosaic_grid_of(path: Path) -> MosaicGrid:
    """The grid a north-up mosaic GeoTIFF lies on (CRS must be an EPSG code)."""
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as src:
            epsg = src.crs.to_epsg() if src.crs is not None else None
            t = src.transform
            if epsg is None:
                raise InvalidInput(f"mosaic {Path(path).name} has no EPSG CRS")
            if t.b != 0 or t.d != 0 or t.a != -t.e:
                raise InvalidInput(f"mosaic {Path(path).name} is not north-up with square pixels: {tuple(t)[:6]}")
            return MosaicGrid(epsg=epsg, west_m=t.c, north_m=t.f, gsd_m=t.a, width_px=src.width,
                              height_px=src.height)
    except RasterioError as exc:
        raise InvalidInput(f"cannot read mosaic {Path(path).name}: {exc}") from None


def read_crop_jpeg(path: Path, *, bounds_m: tuple[float, float, float, float], epsg: int, max_px: int = 512,
                   quality: int = 88) -> bytes | None:
    """A JPEG of the mosaic over a UTM window (at most ``max_px`` on the long side); None if it shows nothing."""
    side = max(bounds_m[2] - bounds_m[0], bounds_m[3] - bounds_m[1])
    grid = MosaicGrid.for_bounds(epsg=epsg, bounds_m=bounds_m, gsd_m=max(side / max_px, 0.01))
    raster = read_mosaic(path, grid=grid)
    if not raster.valid.any():
        return None
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(raster.rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise InvalidInput(f"cannot encode a crop of {Path(path).name} as JPEG")
    return bytes(buf)
