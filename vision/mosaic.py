"""Quick mosaic of a patrol: frames projected from their pose onto the area's common UTM grid.

Each frame is mapped to the grid through the one camera model (``dockpatrol.camera``) on flat
ground; a pinhole camera maps the ground plane by a homography, so one exact
``cv2.warpPerspective`` per frame and output tile does the resampling. Where frames overlap,
the most nadir view of each place wins (seamlines; tall things do not ghost). A coarse seam plan
first finds the part of each frame that can show; only that part is decoded into memory, on two
threads, while a band of tiles needs it, which keeps memory flat for dense surveys and large
areas. The result is written by GDAL's COG driver as a Cloud-Optimised GeoTIFF with an internal
mask, the base layer a standard tiler opens.
"""

from __future__ import annotations

import logging
import math
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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
#: Grid pixels per cell of the seam plan, which picks the part of each frame that can show before any is decoded.
PLAN_CELL_PX = 16
#: Threads that decode frames (JPEG decoding and OpenCV release the GIL).
DECODE_THREADS = 2
#: Each frame is aligned with this many others, those its footprint overlaps most (see ``_pairs_to_align``).
NEIGHBOURS_PER_FRAME = 4
#: GSD at which frames are aligned to each other or to the previous mosaic.
REGISTER_GSD_M = 0.25
#: Largest pose correction registration may apply (GNSS error is a metre or two, yaw a degree or two).
MAX_CORRECTION_M = 6.0
MAX_CORRECTION_DEG = 8.0
#: RANSAC inliers a feature match needs to be trusted without ECC's confirmation.
MIN_FEATURE_INLIERS = 25
#: Least image correlation (ECC) at which an alignment is believed; illumination changes lower it.
MIN_ECC_RHO = 0.3
#: Correlation at which an alignment is taken without trying further starts (on the bench's patrols,
#: every start that reached it agreed with the best of all starts).
SURE_ECC_RHO = 0.5
#: ECC stops when an iteration improves the correlation by less than this (1e-5 moved results < 0.01 px
#: at the 95th percentile, for twice the time).
ECC_EPS = 1e-3
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
    ``load_reduced(n)``, when given, returns it at 1/n of its size (n is 2, 4 or 8), which a JPEG
    decodes for a fraction of a full decode: registration needs only such a view. None from it, or no
    ``load_reduced``, falls back to ``load``.
    """

    frame_id: str
    pose: GeoPose | None
    camera: CameraModel
    load: Callable[[], np.ndarray]
    load_reduced: Callable[[int], np.ndarray | None] | None = None


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
    load_reduced: Callable[[int], np.ndarray | None] | None = field(default=None, compare=False)


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
    return _Placed(frame.frame_id, cam, h, box, frame.load, frame.load_reduced)


def _grid_box(cols: np.ndarray, rows: np.ndarray, grid: MosaicGrid) -> tuple[int, int, int, int]:
    """The grid pixels (col0, row0, col1, row1) a footprint with these corner indices covers, clipped to the grid."""
    c0, c1 = max(0, math.floor(cols.min())), min(grid.width_px, math.ceil(cols.max()) + 1)
    r0, r1 = max(0, math.floor(rows.min())), min(grid.height_px, math.ceil(rows.max()) + 1)
    return c0, r0, max(c0, c1), max(r0, r1)


def _rescale(sx: float, sy: float | None = None) -> np.ndarray:
    """3×3 map between pixel indices of two grids whose pixels differ in size by (sx, sy): pixel
    centres stay centres, (i + 0.5)·s − 0.5."""
    sy = sx if sy is None else sy
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


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
                 profile: str = "jpeg", quality: int = 75, register: bool = True,
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
        factors = overview_factors(grid, tile_px=tile_px)
        with _GDAL_WRITES, rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True, GDAL_CACHEMAX=GDAL_CACHE_MB), \
                rasterio.open(raw, "w", **_raw_profile(grid)) as dst, _FrameCache() as cache, \
                _Overviews(Path(tmp), grid, factors or ()) as overviews:
            sources = seam_plan(placed, grid)
            planned = time.perf_counter()
            for row0 in range(0, grid.height_px, tile_px):
                row1 = min(grid.height_px, row0 + tile_px)
                band = [s for s in sources if s.box_px[1] < row1 and s.box_px[3] > row0]
                cache.keep(band)
                for col0 in range(0, grid.width_px, tile_px):
                    col1 = min(grid.width_px, col0 + tile_px)
                    rgb, mask, ids = _tile(band, cache, col0, row0, col1, row1)
                    used.update(ids)
                    covered += int(np.count_nonzero(mask))
                    window = rasterio.windows.Window(col0, row0, col1 - col0, row1 - row0)
                    dst.write(np.transpose(rgb, (2, 0, 1)), window=window)
                    dst.write_mask(mask, window=window)
                    overviews.add(col0, row0, rgb, mask)
        composited = time.perf_counter()
        with _GDAL_WRITES:
            if factors is None:  # levels coarser than a tile: GDAL builds them from the raw file
                _to_cog(raw, path, profile=profile, quality=quality, overviews="AUTO")
            else:
                _to_cog(overviews.vrt(raw), path, profile=profile, quality=quality, overviews="FORCE_USE_EXISTING")
    log.debug("mosaic %d×%d px of %d frames: registration %.1f s, seam plan %.1f s, compositing %.1f s, "
              "COG %.1f s", grid.width_px, grid.height_px, len(placed), registered - started, planned - registered,
              composited - planned, time.perf_counter() - composited)
    fraction = covered / (grid.width_px * grid.height_px)
    never = [SkippedFrame(p.frame_id, "frame adds no pixel: outside the grid, or seen more nadir by other frames")
             for p in placed
             if p.frame_id not in used]
    return MosaicResult(path=path, grid=grid, frames_used=tuple(p.frame_id for p in placed if p.frame_id in used),
                        skipped=tuple(skipped + never), covered_fraction=fraction)


def register_frames(placed: Sequence[_Placed], grid: MosaicGrid, *, reference: Path | None = None,
                    coarse_gsd_m: float = REGISTER_GSD_M) -> list[_Placed]:
    """Refine each frame's ground homography by a small rigid correction found by ECC image alignment.

    A GNSS pose is off by a metre or two and a degree of yaw: seams tear and two patrols disagree.
    Frames, warped at a coarse GSD, are aligned with OpenCV's enhanced correlation coefficient
    (insensitive to exposure and contrast). With a ``reference`` (the area's previous mosaic) each
    frame is aligned to it, which co-registers successive patrols. Without one, each frame is
    aligned with the frames it overlaps most and all corrections are solved together with the GNSS
    poses as the prior (``adjust_jointly``): seams close and the patrol stays where its poses put it on
    average. Corrections beyond ``MAX_CORRECTION_M`` / ``MAX_CORRECTION_DEG`` are not trusted.
    """
    f = max(1.0, coarse_gsd_m / grid.gsd_m)
    coarse = MosaicGrid(epsg=grid.epsg, west_m=grid.west_m, north_m=grid.north_m, gsd_m=grid.gsd_m * f,
                        width_px=max(1, math.floor(grid.width_px / f)), height_px=max(1, math.floor(grid.height_px / f)))
    to_full = _rescale(f)  # coarse index → full index
    with ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="mosaic-register") as pool:
        views = list(pool.map(lambda p: _CoarseView.of(p, coarse, to_full), placed))
        if reference is None:
            corrections = adjust_jointly(views, gsd_m=coarse.gsd_m, pool=pool)
        else:
            ref = read_mosaic(reference, grid=coarse)
            ref_gray = cv2.cvtColor(ref.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)

            def to_reference(view: _CoarseView) -> np.ndarray | None:
                c0, r0, c1, r1 = view.box
                if c1 - c0 < 16 or r1 - r0 < 16:
                    return None
                gray, alpha = view.warp(view.box)
                overlap = ref.valid[r0:r1, c0:c1] & (alpha > 0)
                found = _ecc(ref_gray[r0:r1, c0:c1], gray, overlap, gsd_m=coarse.gsd_m)
                return None if found is None else _in_grid(found, c0, r0)

            corrections = list(pool.map(to_reference, views))
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
        w, h = p.camera.width_px, p.camera.height_px
        gray = _reduced_gray(p, f)
        if w / gray.shape[1] < f / 1.5:  # still much finer than the coarse grid: shrink it the rest of the way
            gray = cv2.resize(gray, (max(1, round(w / f)), max(1, round(h / f))), interpolation=cv2.INTER_AREA)
        small = cv2.merge([gray, _nadir_weight(gray.shape[1], gray.shape[0])])
        sx, sy = gray.shape[1] / w, gray.shape[0] / h
        to_small = _rescale(sx, sy)
        return cls(p.ground_to_px @ to_full, small, to_small,
                   (c0, r0, min(coarse.width_px, c1 + 1), min(coarse.height_px, r1 + 1)))

    def warp(self, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Gray and nadir weight of the frame over a window of the coarse grid (weight 0 outside the frame)."""
        c0, r0, c1, r1 = box
        m = self.to_small @ self.h @ _translation(c0, r0)
        out = cv2.warpPerspective(self.small, m, (c1 - c0, r1 - r0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        return out[..., 0].astype(np.float32), out[..., 1].astype(np.float32)


def _reduced_gray(p: _Placed, factor: float) -> np.ndarray:
    """The frame in gray, decoded at the largest of 1/8, 1/4 or 1/2 scale not coarser than 1/``factor``.

    A JPEG decodes at those scales for a fifth of a full decode; a reduced image of the wrong size,
    or none, falls back to the full one.
    """
    w, h = p.camera.width_px, p.camera.height_px
    n = next((n for n in (8, 4, 2) if n <= factor), 1)
    if n > 1 and p.load_reduced is not None:
        rgb = p.load_reduced(n)
        if (rgb is not None and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8
                and abs(rgb.shape[0] - h / n) <= 1 and abs(rgb.shape[1] - w / n) <= 1):
            return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    return cv2.cvtColor(_load_rgb(p), cv2.COLOR_RGB2GRAY)


def _pairs_to_align(views: Sequence[_CoarseView], *, per_frame: int) -> list[tuple[int, int]]:
    """Pairs of frames to align: each frame with the ``per_frame`` others its footprint overlaps most.

    A dense survey overlaps each frame with a dozen others; aligning all of them costs minutes and
    adds little, since the strongest overlaps (the neighbours along the line and on the next lines)
    already tie every frame to the patrol.
    """
    boxes = np.array([v.box for v in views], float)
    area = np.maximum(1.0, (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    wide = np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    tall = np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    share = np.where((wide >= 16) & (tall >= 16), wide * tall, 0.0) / np.minimum(area[:, None], area[None, :])
    np.fill_diagonal(share, 0.0)
    chosen: set[tuple[int, int]] = set()
    for i in range(len(views)):
        for j in np.argsort(-share[i], kind="stable")[:per_frame]:
            if share[i, j] > 0:
                chosen.add((min(i, int(j)), max(i, int(j))))
    return sorted(chosen)


def adjust_jointly(views: Sequence[_CoarseView], *, gsd_m: float, pool: ThreadPoolExecutor | None = None,
                   per_frame: int = NEIGHBOURS_PER_FRAME) -> list[np.ndarray | None]:
    """Rigid corrections (coarse grid → grid) of all frames at once: pairwise alignments plus the GNSS prior.

    Aligning each frame to those placed before chains it to the first: the first frame's yaw error
    becomes a drift of metres across the patrol, and one wrong alignment moves every later frame.
    Here each frame is aligned once with each of the ``per_frame`` frames it overlaps most (threads
    of ``pool`` align pairs in parallel), and the corrections that best satisfy
    all pairs and stay near the reported poses (``GNSS_SIGMA_M``, ``YAW_SIGMA_DEG``) are solved
    by linear least squares (small angles); pairs that disagree with the solution by more than
    ``PAIR_OUTLIER_M`` are dropped and the rest solved again. A frame no pair reaches keeps its pose.
    """
    n = len(views)

    def align(pair: tuple[int, int]) -> tuple[int, int, np.ndarray, np.ndarray] | None:
        """(i, j, W, points): frame j at W·p shows what frame i shows at p, for p in the overlap's corners."""
        i, j = pair
        a, b = views[i].box, views[j].box
        box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
        target, alpha_i = views[i].warp(box)
        moving, alpha_j = views[j].warp(box)
        overlap = (alpha_i > 0) & (alpha_j > 0)
        found = _ecc(target, moving, overlap, gsd_m=gsd_m)
        if found is None:
            return None
        rows, cols = np.nonzero(overlap)
        x0, x1, y0, y1 = cols.min() + box[0], cols.max() + box[0], rows.min() + box[1], rows.max() + box[1]
        points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)
        return i, j, _in_grid(found, box[0], box[1]), points

    candidates = _pairs_to_align(views, per_frame=per_frame)
    aligned = pool.map(align, candidates) if pool is not None else map(align, candidates)
    pairs = [a for a in aligned if a is not None]
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


#: The window over which fine_texture averages, metres.
TEXTURE_WINDOW_M = 0.5


def fine_texture(rgb: np.ndarray, *, gsd_m: float) -> np.ndarray:
    """RMS of log brightness about its one-pixel blur over ``TEXTURE_WINDOW_M``: the finest texture (sheet
    ribs, tiles, a heap's pieces) as a contrast, which neither exposure nor a shadow's dimming changes."""
    log = np.log(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) + 8.0)
    detail = log - cv2.GaussianBlur(log, (0, 0), 1.0)
    return np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), max(0.5, TEXTURE_WINDOW_M / gsd_m)))


def local_contrast(gray: np.ndarray, sigma_px: float = 8.0) -> np.ndarray:
    """Gray minus its local mean over its local spread: exposure, haze and soft shading drop out."""
    mean = cv2.GaussianBlur(gray, (0, 0), sigma_px)
    centred = gray - mean
    spread = np.sqrt(cv2.GaussianBlur(centred * centred, (0, 0), sigma_px)) + 4.0
    return (centred / spread).astype(np.float32)


def _ecc(target: np.ndarray, moving: np.ndarray, overlap: np.ndarray, *, gsd_m: float) -> np.ndarray | None:
    """3×3 rigid warp W with moving(W·q) ≈ target(q) over ``overlap``, or None when not found or implausible.

    Both images are contrast-normalised (illumination drops out). ECC refines shift and rotation
    from the bulk shift phase correlation proposes (GNSS error may be metres), then from the pose,
    then from ORB feature matches; the first start that converges with ``SURE_ECC_RHO`` ends the
    search, otherwise the most correlated plausible result wins.
    """
    if np.count_nonzero(overlap) < max(1500, 0.15 * overlap.size):
        return None
    target, moving = local_contrast(target), local_contrast(moving)
    weight = cv2.GaussianBlur(overlap.astype(np.float32), (0, 0), 4.0)
    (dx, dy), _ = cv2.phaseCorrelate(target * weight, moving * weight)
    rows, cols = np.nonzero(overlap)
    centre = np.array([cols.mean(), rows.mean(), 1.0])

    def plausible(w: np.ndarray) -> bool:
        # How far the correction moves the middle of the overlap (a rotation about the corner is not a shift).
        moved_m = float(np.hypot(*(w @ centre - centre)[:2])) * gsd_m
        angle = math.degrees(math.atan2(w[1, 0], w[0, 0]))
        return moved_m <= MAX_CORRECTION_M and abs(angle) <= MAX_CORRECTION_DEG

    mask = overlap.astype(np.uint8)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 80, ECC_EPS)
    best: tuple[float, np.ndarray] | None = None

    def refine(start: np.ndarray) -> bool:
        """ECC from ``start``; True once a result is sure enough to stop."""
        nonlocal best
        try:
            rho, warp = cv2.findTransformECC(target, moving, start, cv2.MOTION_EUCLIDEAN, criteria, mask, 3)
        except cv2.error:  # OpenCV gives up when the images do not correlate from this start
            return False
        w = np.vstack([warp.astype(np.float64), [0.0, 0.0, 1.0]])
        if rho >= MIN_ECC_RHO and plausible(w) and (best is None or rho > best[0]):
            best = (rho, w)
        return best is not None and best[0] >= SURE_ECC_RHO

    starts = [np.eye(2, 3, dtype=np.float32)]
    if math.hypot(dx, dy) * gsd_m <= MAX_CORRECTION_M:
        starts.insert(0, np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32))
    matched = None
    if not any(refine(start) for start in starts):  # stops at the first sure result
        matched = _feature_match(target, moving, overlap)
        if matched is not None:
            refine(matched[1])
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


def _raw_profile(grid: MosaicGrid, *, width_px: int | None = None, height_px: int | None = None,
                 transform: Affine | None = None) -> dict[str, Any]:
    """An uncompressed tiled RGB GeoTIFF on ``grid`` (or on one of its overview levels)."""
    return {"driver": "GTiff", "width": width_px or grid.width_px, "height": height_px or grid.height_px,
            "count": 3, "dtype": "uint8", "crs": grid.crs, "transform": transform or grid.transform, "tiled": True,
            "blockxsize": 512, "blockysize": 512, "photometric": "RGB", "BIGTIFF": "IF_SAFER"}


def overview_factors(grid: MosaicGrid, *, tile_px: int) -> list[int] | None:
    """The COG's overview levels (2, 4, …, halving until a level is at most one 512 px block, as GDAL
    does), or None when one would be coarser than a tile and cannot be built tile by tile."""
    factors, f = [], 2
    while max(math.ceil(grid.width_px * 2 / f), math.ceil(grid.height_px * 2 / f)) > 512:
        factors.append(f)
        f *= 2
    return None if factors and (factors[-1] > tile_px or tile_px % factors[-1]) else factors


class _Overviews:
    """The mosaic's overview levels, averaged over valid pixels, built from each tile as it is composited.

    GDAL's own overview pass reads the whole raw mosaic back and took 17 of the 21 s of writing the
    COG of a 0.25 km² patrol at 3 cm; halving each tile while it is in memory costs about a second.
    Each level is a GeoTIFF; ``vrt`` ties them to the raw file as its overviews for the COG driver.
    """

    def __init__(self, directory: Path, grid: MosaicGrid, factors: Sequence[int]) -> None:
        import rasterio

        self._grid, self._factors = grid, list(factors)
        self._paths = [directory / f"overview-{f}.tif" for f in self._factors]
        self._datasets = [rasterio.open(path, "w", **_raw_profile(
            grid, width_px=math.ceil(grid.width_px / f), height_px=math.ceil(grid.height_px / f),
            transform=grid.transform @ Affine.scale(f))) for f, path in zip(self._factors, self._paths, strict=True)]

    def __enter__(self) -> _Overviews:
        return self

    def __exit__(self, *exc: object) -> None:
        for dataset in self._datasets:
            dataset.close()

    def add(self, col0: int, row0: int, rgb: np.ndarray, mask: np.ndarray) -> None:
        """Halve the tile at (col0, row0) level by level; a pixel averages the valid pixels beneath it."""
        from rasterio.windows import Window

        weight = (mask > 0).astype(np.float32)
        total = rgb.astype(np.float32) * weight[..., None]
        for f, dataset in zip(self._factors, self._datasets, strict=True):
            h, w = weight.shape
            if h % 2 or w % 2:  # an odd edge: pad with pixels that weigh nothing
                total = cv2.copyMakeBorder(total, 0, h % 2, 0, w % 2, cv2.BORDER_CONSTANT, value=0)
                weight = cv2.copyMakeBorder(weight, 0, h % 2, 0, w % 2, cv2.BORDER_CONSTANT, value=0)
            size = ((w + 1) // 2, (h + 1) // 2)
            total = cv2.resize(total, size, interpolation=cv2.INTER_AREA)
            weight = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
            valid = weight > 0
            level = np.where(valid[..., None], total / np.maximum(weight, 1e-6)[..., None] + 0.5, 0.0)
            window = Window(col0 // f, row0 // f, size[0], size[1])
            dataset.write(np.transpose(level.astype(np.uint8), (2, 0, 1)), window=window)
            dataset.write_mask(valid.astype(np.uint8) * 255, window=window)

    def vrt(self, raw: Path) -> Path:
        """A VRT of ``raw`` (bands and mask) that names the levels as its overviews (call it once closed)."""
        from xml.sax.saxutils import escape

        def sources(band: str) -> str:
            main = (f"<SimpleSource><SourceFilename>{escape(str(raw))}</SourceFilename>"
                    f"<SourceBand>{band}</SourceBand></SimpleSource>")
            return main + "".join(f"<Overview><SourceFilename>{escape(str(path))}</SourceFilename>"
                                  f"<SourceBand>{band}</SourceBand></Overview>" for path in self._paths)

        bands = "".join(f'<VRTRasterBand dataType="Byte" band="{b}"><ColorInterp>{colour}</ColorInterp>'
                        f"{sources(str(b))}</VRTRasterBand>"
                        for b, colour in ((1, "Red"), (2, "Green"), (3, "Blue")))
        g = self._grid
        doc = (f'<VRTDataset rasterXSize="{g.width_px}" rasterYSize="{g.height_px}"><SRS>{g.crs}</SRS>'
               f"<GeoTransform>{', '.join(repr(v) for v in g.transform.to_gdal())}</GeoTransform>{bands}"
               f'<MaskBand><VRTRasterBand dataType="Byte">{sources("mask,1")}</VRTRasterBand></MaskBand>'
               "</VRTDataset>")
        path = raw.with_suffix(".vrt")
        path.write_text(doc)
        return path


@dataclass(frozen=True, eq=False)
class _Source:
    """The part of a placed frame that can show in the mosaic: a window of the frame and the grid box it covers."""

    placed: _Placed
    window_px: tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels
    box_px: tuple[int, int, int, int]  # col0, row0, col1, row1 on the grid

    @property
    def to_window(self) -> np.ndarray:
        """Grid pixel index → pixel index in the frame's window."""
        return _translation(-self.window_px[0], -self.window_px[1]) @ self.placed.ground_to_px

    def weight(self) -> np.ndarray:
        """The frame's nadir weight over its window (a view, not a copy)."""
        x0, y0, x1, y1 = self.window_px
        return _nadir_weight(self.placed.camera.width_px, self.placed.camera.height_px)[y0:y1, x0:x1]


def seam_plan(placed: Sequence[_Placed], grid: MosaicGrid, *, cell_px: int = PLAN_CELL_PX) -> list[_Source]:
    """Which part of each frame can show in the mosaic, decided on cells of ``cell_px`` grid pixels.

    The most nadir view wins each pixel, so with the planner's overlaps a frame shows only about a
    tenth of itself. A frame is kept where its weight at a cell's centre is within the seam band
    (plus what the weight can change across a cell) of the best there, and where no frame covers a
    cell safely inside its footprint; the kept cells, grown by one, give its window. Compositing then
    decodes, caches and warps only those windows, and produces what whole frames would.
    """
    f = float(cell_px)
    rows, cols = math.ceil(grid.height_px / f), math.ceil(grid.width_px / f)
    to_full = _rescale(f)
    best = np.zeros((rows, cols), np.uint8)
    views = []
    for p in placed:
        c0, r0, c1, r1 = p.bbox_px
        box = (int(c0 // f), int(r0 // f), min(cols, math.ceil(c1 / f)), min(rows, math.ceil(r1 / f)))
        m = p.ground_to_px @ to_full @ _translation(box[0], box[1])
        alpha = cv2.warpPerspective(_nadir_weight(p.camera.width_px, p.camera.height_px), m,
                                    (box[2] - box[0], box[3] - box[1]),
                                    flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=0)
        np.maximum(best[box[1]:box[3], box[0]:box[2]], alpha, out=best[box[1]:box[3], box[0]:box[2]])
        views.append((box, alpha))
    # Across one cell a frame's weight changes by at most cell/min(frame half-side) × 254 (L∞ to its edge).
    slack = max(1, math.ceil(254.0 * f / min(min(p.camera.width_px, p.camera.height_px) for p in placed)))
    # A cell whose best frame has more than this weight at its centre lies wholly inside that frame.
    safe = 1 + slack
    grow = np.ones((3, 3), np.uint8)
    sources = []
    for p, (box, alpha) in zip(placed, views, strict=True):
        c0, r0, c1, r1 = box
        top = best[r0:r1, c0:c1]
        near = (alpha > 0) & (alpha.astype(np.int16) + SEAM_BAND + 2 * slack >= top)
        # Where no frame covers a cell safely, any frame that reaches into it may show there.
        reach = cv2.dilate((alpha > 0).astype(np.uint8), grow).astype(bool) & (top <= safe)
        need = cv2.dilate((near | reach).astype(np.uint8), grow)
        if not alpha.any():  # a footprint smaller than a cell: keep all of it
            need[:] = 1
        found = cv2.findNonZero(need)
        if found is None:
            continue
        x, y, w, h = cv2.boundingRect(found)
        # The kept cells' outer edges in grid pixel indices (cell c spans full indices c·f … (c+1)·f − 1).
        full = (np.array([(c0 + x + dx, r0 + y + dy) for dx in (-0.5, w - 0.5) for dy in (-0.5, h - 0.5)])
                + 0.5) * f - 0.5
        gc0 = max(0, math.floor(full[:, 0].min()))
        gr0 = max(0, math.floor(full[:, 1].min()))
        gc1 = min(grid.width_px, math.ceil(full[:, 0].max()) + 1)
        gr1 = min(grid.height_px, math.ceil(full[:, 1].max()) + 1)
        cells = found.reshape(-1, 2).astype(float) + np.array([c0, r0])
        cell_corners = np.concatenate([cells + np.array([dx, dy]) for dx in (-0.5, 0.5) for dy in (-0.5, 0.5)])
        q = np.column_stack([(cell_corners + 0.5) * f - 0.5, np.ones(len(cell_corners))]) @ p.ground_to_px.T
        u, v = q[:, 0] / q[:, 2], q[:, 1] / q[:, 2]
        window = (max(0, math.floor(u.min()) - 2), max(0, math.floor(v.min()) - 2),
                  min(p.camera.width_px, math.ceil(u.max()) + 3), min(p.camera.height_px, math.ceil(v.max()) + 3))
        if window[0] < window[2] and window[1] < window[3] and gc0 < gc1 and gr0 < gr1:
            sources.append(_Source(p, window, (gc0, gr0, gc1, gr1)))
    return sources


class _FrameCache:
    """The decoded windows of the frames one band of tiles needs, decoded ahead on ``DECODE_THREADS`` threads.

    JPEG decoding and OpenCV release the GIL, so frames decode in parallel while only their windows stay
    in memory: a band of a dense survey holds a few hundred MB instead of gigabytes of whole frames.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="mosaic-decode")
        self._windows: dict[str, Future[np.ndarray]] = {}

    def __enter__(self) -> _FrameCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def keep(self, band: Sequence[_Source]) -> None:
        """Drop the windows no longer needed and start decoding the band's new ones."""
        wanted = {s.placed.frame_id for s in band}
        for frame_id in [k for k in self._windows if k not in wanted]:
            del self._windows[frame_id]
        for s in band:
            if s.placed.frame_id not in self._windows:
                self._windows[s.placed.frame_id] = self._pool.submit(_decode_window, s)

    def window(self, source: _Source) -> np.ndarray:
        return self._windows[source.placed.frame_id].result()


def _decode_window(source: _Source) -> np.ndarray:
    x0, y0, x1, y1 = source.window_px
    return np.ascontiguousarray(_load_rgb(source.placed)[y0:y1, x0:x1])


def _tile(band: list[_Source], cache: _FrameCache, col0: int, row0: int, col1: int,
          row1: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Composite the frames that reach one output tile; returns RGB, the 0/255 mask and the frames used.

    Each pixel takes the frame that sees it most nadir (seamlines: tall things keep one lean instead
    of ghosting, and two patrols flown on one plan choose the same frames); within ``SEAM_BAND``
    of a seam the two best views are cross-faded so the seam does not show as a step. The winners
    are chosen from the nadir weights alone; then each frame that shows is warped only where it shows.
    """
    w, h = col1 - col0, row1 - row0
    shift = _translation(col0, row0)
    here = [s for s in band if s.box_px[0] < col1 and s.box_px[2] > col0]
    # Each frame's weight becomes a key, weight·2¹⁶ + (2¹⁶ − 1 − k): exact in float32, larger for a more nadir
    # view and, at equal weight, for the earlier frame. The two largest keys per pixel give the best view and
    # the runner-up in three whole-tile operations per frame.
    best = np.zeros((h, w), np.float32)
    second = np.zeros((h, w), np.float32)
    for k, s in enumerate(here[:65536]):
        alpha = cv2.warpPerspective(s.weight(), s.to_window @ shift, (w, h),
                                    flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                                    borderValue=0)
        key = cv2.addWeighted(alpha, 65536.0, alpha, 0.0, 65535.0 - k, dtype=cv2.CV_32F)
        second = cv2.max(second, cv2.min(best, key))
        best = cv2.max(best, key)
    best_key, second_key = best.astype(np.int32), second.astype(np.int32)
    best_w = (best_key >> 16).astype(np.uint8)
    second_w = (second_key >> 16).astype(np.uint8)
    valid = cv2.compare(best_w, 0, cv2.CMP_GT)
    gap = cv2.subtract(best_w, second_w)
    near_seam = cv2.bitwise_and(cv2.compare(second_w, 0, cv2.CMP_GT), cv2.compare(gap, SEAM_BAND, cv2.CMP_LT))
    best_k = np.where(valid > 0, 65535 - (best_key & 0xFFFF), -1).astype(np.int32)
    second_k = np.where(near_seam > 0, 65535 - (second_key & 0xFFFF), -1).astype(np.int32)
    rgb = np.zeros((h, w, 3), np.uint8)
    other = np.zeros((h, w, 3), np.uint8)
    ids = []
    shown = np.bincount(best_k.ravel() + 1, minlength=len(here) + 1)[1:] + \
        np.bincount(second_k.ravel() + 1, minlength=len(here) + 1)[1:]
    for k in np.flatnonzero(shown):
        s = here[int(k)]
        shows, blends = cv2.compare(best_k, int(k), cv2.CMP_EQ), cv2.compare(second_k, int(k), cv2.CMP_EQ)
        x, y, bw, bh = cv2.boundingRect(cv2.bitwise_or(shows, blends))
        warped = cv2.warpPerspective(cache.window(s), s.to_window @ shift @ _translation(x, y), (bw, bh),
                                     flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        rect = (slice(y, y + bh), slice(x, x + bw))
        cv2.copyTo(warped, shows[rect], rgb[rect])
        cv2.copyTo(warped, blends[rect], other[rect])
        ids.append(s.placed.frame_id)
    seam = near_seam > 0
    if seam.any():
        t = (0.5 + 0.5 * gap[seam].astype(np.float32) / SEAM_BAND)[:, None]
        rgb[seam] = np.round(t * rgb[seam] + (1.0 - t) * other[seam]).astype(np.uint8)
    return rgb, valid, ids


#: COG profiles offered: name → GDAL COMPRESS (JPEG and WEBP are lossy and honour ``quality``).
COG_PROFILES = {"jpeg": "JPEG", "deflate": "DEFLATE", "webp": "WEBP", "lzw": "LZW"}


def _to_cog(src: Path, dst: Path, *, profile: str, quality: int, overviews: str) -> None:
    """Copy the composited mosaic into a COG with GDAL's COG driver: 512 px tiles, overviews, mask kept.

    ``overviews`` is the driver's OVERVIEWS option: FORCE_USE_EXISTING for a source that brings its own
    levels, AUTO to have GDAL average them from the source.

    The raw file already lies on the mosaic grid, so it is copied as it is (rio-cogeo's ``cog_translate``
    would first rewrite it through a warped VRT, a third of the time for nothing, and does not pass
    a JPEG quality to the COG driver).
    """
    import rasterio
    from rasterio.shutil import copy

    try:
        compress = COG_PROFILES[profile]
    except KeyError:
        raise InvalidInput(f"unknown COG profile {profile!r}; use {', '.join(COG_PROFILES)}") from None
    options: dict[str, Any] = {"COMPRESS": compress, "BLOCKSIZE": 512, "OVERVIEWS": overviews,
                               "OVERVIEW_RESAMPLING": "AVERAGE", "NUM_THREADS": "ALL_CPUS", "BIGTIFF": "IF_SAFER"}
    if compress in ("JPEG", "WEBP"):
        options["QUALITY"] = quality
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True, GDAL_CACHEMAX=GDAL_CACHE_MB):
        copy(src, dst, driver="COG", **options)


@dataclass(frozen=True, eq=False)
class MosaicRaster:
    """A mosaic read onto an analysis grid: RGB uint8, validity mask, and the grid it lies on."""

    rgb: np.ndarray
    valid: np.ndarray
    grid: MosaicGrid
    texture: np.ndarray | None = None  # fine_texture measured at half the grid's GSD (None: not read)


def read_mosaic(path: Path, *, grid: MosaicGrid, texture: bool = False) -> MosaicRaster:
    """Read a mosaic resampled (area average, through its overviews) onto ``grid``; outside it is invalid.

    With ``texture`` it is read at half the grid's GSD, where ribbed sheeting and roof tiles still
    show, and the fine texture measured there comes with it (the colours are averaged down).
    """
    import rasterio
    from rasterio.errors import RasterioError

    read_on = grid if not texture else MosaicGrid(epsg=grid.epsg, west_m=grid.west_m, north_m=grid.north_m,
                                                  gsd_m=grid.gsd_m / 2, width_px=2 * grid.width_px,
                                                  height_px=2 * grid.height_px)
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise InvalidInput(f"mosaic {Path(path).name} has no CRS")
            if src.count < 3:
                raise InvalidInput(f"mosaic {Path(path).name} has {src.count} bands, expected RGB")
            rgb, coverage = _read_onto(src, read_on)
    except RasterioError as exc:
        raise InvalidInput(f"cannot read mosaic {Path(path).name}: {exc}") from None
    energy = None
    if texture:
        energy = cv2.resize(fine_texture(rgb, gsd_m=read_on.gsd_m), (grid.width_px, grid.height_px),
                            interpolation=cv2.INTER_AREA)
        rgb = cv2.resize(rgb, (grid.width_px, grid.height_px), interpolation=cv2.INTER_AREA)
        coverage = cv2.erode(coverage, np.ones((2, 2), np.uint8), anchor=(0, 0))[::2, ::2]
    # Average resampling blends edge pixels with nothing: trust only fully covered ones.
    return MosaicRaster(rgb=np.ascontiguousarray(rgb), valid=coverage >= 250, grid=grid, texture=energy)


def _read_onto(src: Any, grid: MosaicGrid) -> tuple[np.ndarray, np.ndarray]:
    """RGB (rows, cols, 3) and coverage (0–255) of an open mosaic, area-averaged onto ``grid``."""
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    window = _inner_window(src, grid)
    shape = (grid.height_px, grid.width_px)
    if window is not None:
        # Same CRS and inside the mosaic: a decimated read, which GDAL serves from the overviews.
        rgb = np.transpose(src.read(indexes=[1, 2, 3], window=window, out_shape=(3, *shape),
                                    resampling=Resampling.average), (1, 2, 0))
        return rgb, src.read_masks(1, window=window, out_shape=shape, resampling=Resampling.average)
    with WarpedVRT(src, crs=grid.crs, transform=grid.transform, width=grid.width_px,
                   height=grid.height_px, resampling=Resampling.average, add_alpha=True) as vrt:
        data = vrt.read(indexes=[1, 2, 3, vrt.count])
    return np.transpose(data[:3], (1, 2, 0)), data[3]


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
