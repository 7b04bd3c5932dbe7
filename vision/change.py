"""Change between two patrols of one area: surface change of two mosaics, object change of two finding sets.

Surface change works on two mosaics read onto one analysis grid: the after mosaic is aligned to
the before one (phase correlation of gradient images, a small residual shift), its bands are
histogram-matched to the before ones (patrols fly at other hours and weather), and a pixel
changes when its chromaticity, brightness or fine texture is found nowhere in the other mosaic's
neighbourhood (which tolerates the few pixels of misregistration a pose-only mosaic carries).
Fine texture is measured at half the analysis GSD, where ribbed sheeting on a roof of the same
grey still differs from the roof. Moving shadows change brightness, not chromaticity or texture
contrast, and are discounted. A candidate region whose surrounding ground is displaced (a frame
of one mosaic landed metres off) is scored again with the after mosaic moved by that
displacement. Changed pixels become polygons with area, score and a class where the colours
allow. Object change matches grouped findings of two patrols by class and ground overlap.
Everything here is pure.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import shapely
from shapely.geometry import mapping, shape

from dockpatrol.errors import InvalidInput
from dockpatrol.geo import LocalProjection
from dockpatrol.taxonomy import CATEGORY_OF, Category, review_weight
from vision.mosaic import MosaicGrid, MosaicRaster, local_contrast, mosaic_grid_of, read_mosaic


class ChangeKind(StrEnum):
    """What happened between the two patrols."""

    APPEARED = "appeared"
    VANISHED = "vanished"
    GREW = "grew"
    SURFACE_CHANGE = "surface_change"


class SurfaceClass(StrEnum):
    """What a surface change looks like, where the colours before and after say so."""

    BARE_SOIL_INCREASE = "bare_soil_increase"
    VEGETATION_LOSS = "vegetation_loss"
    WATER_COLOUR_CHANGE = "water_colour_change"
    NEW_STRUCTURE = "new_structure"
    UNCLASSIFIED = "unclassified"


#: The department category that reviews each surface class (None: environmental staff triage it).
SURFACE_CATEGORY: dict[SurfaceClass, Category | None] = {
    SurfaceClass.BARE_SOIL_INCREASE: Category.POLLUTION,
    SurfaceClass.VEGETATION_LOSS: Category.POLLUTION,
    SurfaceClass.WATER_COLOUR_CHANGE: Category.POLLUTION,
    SurfaceClass.NEW_STRUCTURE: Category.CONSTRUCTION,
    SurfaceClass.UNCLASSIFIED: None,
}


@dataclass(frozen=True)
class ChangeEvent:
    """One change between two patrols of an area: where (GeoJSON lon/lat), what, how big and how sure.

    ``before_key``/``after_key`` are the object-store keys of the evidence crops (None until stored);
    ``crop_bounds_m`` is the UTM window the crops show.
    """

    kind: ChangeKind
    geometry: dict[str, Any]
    area_m2: float
    score: float
    surface_class: SurfaceClass | None = None
    class_name: str | None = None
    category: Category | None = None
    crop_bounds_m: tuple[float, float, float, float] | None = None
    before_key: str | None = None
    after_key: str | None = None
    detail: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def fingerprint(self) -> str:
        """Stable identity of the change (kind, class and rounded outline): the same input gives the same id."""
        geom = shapely.set_precision(shape(self.geometry), 1e-6)
        text = f"{self.kind}|{self.surface_class}|{self.class_name}|{shapely.normalize(geom).wkt}"
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    @property
    def review_weight(self) -> float:
        """Queue order: score × area (log, so one huge field does not bury everything) × category urgency."""
        return review_weight(score=self.score, area_m2=self.area_m2, category=self.category)

    def to_geojson(self) -> dict[str, Any]:
        return {"type": "Feature", "geometry": self.geometry, "properties": {
            "kind": str(self.kind), "surface_class": None if self.surface_class is None else str(self.surface_class),
            "class": self.class_name, "category": None if self.category is None else str(self.category),
            "area_m2": round(self.area_m2, 2), "score": round(self.score, 4),
            "review_weight": round(self.review_weight, 4), "before_key": self.before_key,
            "after_key": self.after_key, **self.detail}}


@dataclass(frozen=True)
class ChangeSettings:
    """Tunable knobs of surface change; the defaults are what the twin evaluation reports."""

    analysis_gsd_m: float = 0.2
    min_area_m2: float = 4.0
    chroma_threshold: float = 0.04
    brightness_threshold: float = 0.4
    shadow_brightness_threshold: float = 0.9
    variety_ratio: float = 2.5
    texture_ratio: float = 1.5
    tolerance_m: float = 1.2
    max_shift_m: float = 3.0
    max_local_shift_m: float = 12.0
    smooth_m: float = 0.6

    def __post_init__(self) -> None:
        for name in ("analysis_gsd_m", "chroma_threshold", "brightness_threshold", "shadow_brightness_threshold", "smooth_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidInput(f"change setting {name} must be a positive number, got {value}")
        for name in ("variety_ratio", "texture_ratio"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 1):
                raise InvalidInput(f"change setting {name} must be above 1, got {value}")
        for name in ("min_area_m2", "tolerance_m", "max_shift_m", "max_local_shift_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidInput(f"change setting {name} must be zero or positive, got {value}")


@dataclass(frozen=True)
class ChangeSet:
    """The outcome of a comparison: the changes, what was compared, and what could not be and why."""

    events: tuple[ChangeEvent, ...]
    compared_area_m2: float
    shift_m: tuple[float, float] = (0.0, 0.0)
    not_compared: tuple[str, ...] = ()
    compared_geometry: dict[str, Any] | None = None  # GeoJSON lon/lat of the ground both patrols saw

    @property
    def compared(self) -> bool:
        return self.compared_area_m2 > 0


def analysis_grid(before: MosaicGrid, after: MosaicGrid, *, gsd_m: float) -> MosaicGrid | None:
    """The grid both mosaics are read onto: their common extent at ``gsd_m``, in the before CRS; None if disjoint.

    Mosaics in different UTM zones are compared in the before zone (the after one is warped).
    """
    if before.epsg != after.epsg:
        ring = shapely.box(*after.bounds_m)
        to_before = LocalProjection(before.epsg)
        after_bounds = to_before.geometry_to_metric(LocalProjection(after.epsg).geometry_to_lonlat(ring)).bounds
    else:
        after_bounds = after.bounds_m
    b = before.bounds_m
    minx, miny = max(b[0], after_bounds[0]), max(b[1], after_bounds[1])
    maxx, maxy = min(b[2], after_bounds[2]), min(b[3], after_bounds[3])
    # Snapped inwards to whole metres, so that the grid lies inside both mosaics (reads stay on their overviews).
    west, north = math.ceil(minx - 1e-9), math.floor(maxy + 1e-9)
    width, height = math.floor((maxx - west) / gsd_m + 1e-9), math.floor((north - miny) / gsd_m + 1e-9)
    if width < 2 or height < 2:
        return None
    return MosaicGrid(epsg=before.epsg, west_m=float(west), north_m=float(north), gsd_m=gsd_m, width_px=width,
                      height_px=height)


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def estimate_shift_px(before: MosaicRaster, after: MosaicRaster, *, max_shift_px: float) -> tuple[float, float]:
    """Residual (dx, dy) in pixels that moves ``after`` onto ``before``; (0, 0) when no reliable peak.

    Phase correlation of gradient magnitudes: edges survive illumination changes that intensities do not.
    """
    valid = (before.valid & after.valid).astype(np.float32)
    if valid.sum() < 64 * 64:
        return 0.0, 0.0

    def edges(rgb: np.ndarray) -> np.ndarray:
        g = cv2.GaussianBlur(_gray(rgb), (0, 0), 1.0)
        mag = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
        return mag * valid

    window = cv2.createHanningWindow((valid.shape[1], valid.shape[0]), cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(edges(after.rgb), edges(before.rgb), window)
    if response < 0.05 or math.hypot(dx, dy) > max_shift_px:
        return 0.0, 0.0
    return float(dx), float(dy)


def _shifted(raster: MosaicRaster, dx: float, dy: float) -> MosaicRaster:
    if dx == 0.0 and dy == 0.0:
        return raster
    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    size = (raster.rgb.shape[1], raster.rgb.shape[0])
    rgb = cv2.warpAffine(raster.rgb, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    valid = cv2.warpAffine(raster.valid.astype(np.uint8), m, size, flags=cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
    texture = None if raster.texture is None else cv2.warpAffine(raster.texture, m, size, flags=cv2.INTER_LINEAR,
                                                                 borderMode=cv2.BORDER_REPLICATE)
    return MosaicRaster(rgb=rgb, valid=valid, grid=raster.grid, texture=texture)


def dense_shift_px(before_rgb: np.ndarray, after_rgb: np.ndarray, valid: np.ndarray, *,
                   gsd_m: float) -> np.ndarray:
    """Per-pixel (dx, dy) such that ``after`` at (x + dx, y + dy) shows what ``before`` shows at (x, y); NaN where invalid.

    Dense optical flow (OpenCV's DIS) of contrast-normalised gray, so that light does not move it.
    """
    def normalised(rgb: np.ndarray) -> np.ndarray:
        return np.clip(local_contrast(_gray(rgb), 2.0 / gsd_m) * 40.0 + 128.0, 0, 255).astype(np.uint8)

    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST).calc(normalised(before_rgb),
                                                                           normalised(after_rgb), None)
    flow[~valid] = np.nan
    return flow


#: The ground around a candidate region (this far out, past a 1 m margin) tells how far the
#: mosaics are misregistered there.
RING_M = 4.0


def _without_misregistration(mask: np.ndarray, before_rgb: np.ndarray, after_rgb: np.ndarray, valid: np.ndarray, *,
                             gsd_m: float, settings: ChangeSettings, fine: _FineTexture | None = None) -> np.ndarray:
    """``mask`` less the regions that only a local misregistration made.

    A pose-only mosaic carries each frame's GNSS error; where a frame's registration failed, two
    patrols disagree by metres over its footprint, which one global shift cannot undo. The
    ground around a region (the median flow over a ring ``RING_M`` wide, other candidates left
    out) says how far off the after mosaic is there: a real change does not move its
    surroundings. A region whose score mostly falls below 1 once the after image is moved by
    that shift was the misregistration.
    """
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1 or settings.max_local_shift_m == 0:
        return mask
    flow = dense_shift_px(before_rgb, after_rgb, valid, gsd_m=gsd_m)
    r_in, r_out = max(1, round(1.0 / gsd_m)), max(2, round((1.0 + RING_M) / gsd_m))
    k_in = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r_in + 1, 2 * r_in + 1))
    k_out = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r_out + 1, 2 * r_out + 1))
    context_px = 2 * max(1, round(settings.tolerance_m / gsd_m)) + 4
    height, width = mask.shape
    min_px = max(1, round(settings.min_area_m2 / (gsd_m * gsd_m)))
    keep = np.ones(n, bool)
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < min_px:
            continue  # too small to become a change anyway
        x, y, w, h = (int(v) for v in stats[i, :4])
        y0, x0 = max(0, y - r_out), max(0, x - r_out)
        y1, x1 = min(height, y + h + r_out), min(width, x + w + r_out)
        sl = (slice(y0, y1), slice(x0, x1))
        region = (labels[sl] == i).astype(np.uint8)
        band = (cv2.dilate(region, k_out) > 0) & ~(cv2.dilate(region, k_in) > 0)
        ring = band & (mask[sl] == 0) & valid[sl]
        if np.count_nonzero(ring) < 0.25 * np.count_nonzero(band):
            continue
        dx, dy = (float(v) for v in np.nanmedian(flow[sl][ring], axis=0))
        moved_m = math.hypot(dx, dy) * gsd_m
        if not math.isfinite(moved_m) or moved_m < settings.tolerance_m / 2 or moved_m > settings.max_local_shift_m:
            continue
        # The region and its context, the after image moved by the ring's shift (bilinear, border replicated).
        cy0, cx0 = max(0, y - context_px), max(0, x - context_px)
        cy1, cx1 = min(height, y + h + context_px), min(width, x + w + context_px)
        size = (cx1 - cx0, cy1 - cy0)
        centre = ((cx0 + cx1 - 1) / 2.0 + dx, (cy0 + cy1 - 1) / 2.0 + dy)
        moved = cv2.getRectSubPix(after_rgb, size, centre)
        moved_fine = None if fine is None else (fine[0][cy0:cy1, cx0:cx1], cv2.getRectSubPix(fine[1], size, centre))
        rescored = change_score(before_rgb[cy0:cy1, cx0:cx1], moved, gsd_m=gsd_m, settings=settings, fine=moved_fine)
        inside = labels[cy0:cy1, cx0:cx1] == i
        if np.count_nonzero(rescored[inside] >= 1.0) < 0.5 * np.count_nonzero(inside):
            keep[i] = False
    keep[0] = False
    return keep[labels].astype(np.uint8)


def match_radiometry(source: np.ndarray, reference: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``source`` (RGB uint8) with each band mapped by gain and offset so its quantiles over ``valid`` meet ``reference``'s.

    A least-squares fit over the 5–95 % quantiles undoes exposure, white balance and haze
    without following the tails, where shadows that moved with the sun would bend a full
    histogram match.
    """
    out = np.empty_like(source)
    qs = np.linspace(5, 95, 19)
    for band in range(3):
        sq = np.percentile(source[..., band][valid], qs)
        rq = np.percentile(reference[..., band][valid], qs)
        gain, offset = np.polyfit(sq, rq, 1) if np.ptp(sq) > 1 else (1.0, float(np.mean(rq - sq)))
        lut = np.clip(np.round(np.arange(256.0) * gain + offset), 0, 255).astype(np.uint8)
        out[..., band] = cv2.LUT(source[..., band], lut)
    return out


@dataclass(frozen=True, eq=False)
class _Features:
    chroma: np.ndarray  # (rows, cols, 2) r and g chromaticity
    log_brightness: np.ndarray
    blue: np.ndarray  # b chromaticity


#: Shadows are lit by the blue sky only: sunlit/shadow ratio per band relative to blue (R, G, B).
SHADOW_TINT = (1.16, 1.12, 1.0)
#: Share of each band's light (R, G, B) straight from the sun, relative to red (the sky lights the
#: shade bluer): a shadow of depth s keeps 1 − s·share of each band. SHADOW_TINT is its s = 0.45.
SUN_SHARE = np.array([1.0, 0.95, 0.8])


def _shadow_tint(depth_log: float) -> np.ndarray:
    """Per-band factors (blue 1) that undo a shadow darkening a surface by ``depth_log`` (log brightness, ≤ 0)."""
    s = min(0.95, max(0.0, (1.0 - math.exp(depth_log)) / float(SUN_SHARE.mean())))
    kept = 1.0 - s * SUN_SHARE
    return kept[2] / kept


#: Texture correlation above which a darkened region is taken for a shadow (it kept the ground texture).
SHADOW_TEXTURE_CORR = -1.0


def _features(rgb: np.ndarray, smooth_px: float, *, tint: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> _Features:
    f = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), smooth_px) * np.array(tint, np.float32)
    # An offset keeps chromaticity calm in deep shadow where a few DN swing the ratio.
    total = f.sum(axis=2) + 3 * 12.0
    chroma = np.stack([(f[..., 0] + 12.0) / total, (f[..., 1] + 12.0) / total], axis=-1)
    return _Features(chroma=chroma, log_brightness=np.log(total), blue=1.0 - chroma[..., 0] - chroma[..., 1])


def _outside(a: np.ndarray, b: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """How far each value of ``a`` lies outside the range ``b`` takes in the kernel neighbourhood."""
    return np.maximum(np.maximum(a - cv2.dilate(b, kernel), cv2.erode(b, kernel) - a), 0.0)


#: Fine texture contrast (log units) that sensor noise and JPEG alone give: ratios are taken above it.
TEXTURE_FLOOR = 0.02

#: Log fine-texture contrast of the before and after rasters (``vision.mosaic.fine_texture``), the after
#: one levelled to the before one.
_FineTexture = tuple[np.ndarray, np.ndarray]


def _levelled_texture(before: MosaicRaster, after: MosaicRaster, valid: np.ndarray) -> _FineTexture | None:
    """Both rasters' fine texture in log units, the after one less the median difference over ``valid``
    (one patrol's frames may be sharper throughout); None unless both were read with their texture."""
    if before.texture is None or after.texture is None or not valid.any():
        return None
    tb, ta = np.log(before.texture + TEXTURE_FLOOR), np.log(after.texture + TEXTURE_FLOOR)
    return tb, (ta - np.float32(np.median((ta - tb)[valid]))).astype(np.float32)


def change_score(before_rgb: np.ndarray, after_rgb: np.ndarray, *, gsd_m: float,
                 settings: ChangeSettings, fine: _FineTexture | None = None) -> np.ndarray:
    """Per-pixel change score (1 = at threshold) of two aligned, radiometrically matched RGB images
    (and their fine texture, where read: sheeting on a roof of the same grey)."""
    smooth_px = max(0.5, settings.smooth_m / gsd_m / 2.0)
    fb, fa = _features(before_rgb, smooth_px), _features(after_rgb, smooth_px)
    r = max(0, round(settings.tolerance_m / gsd_m))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))

    def chroma_outside(fa: _Features, fb: _Features) -> np.ndarray:
        d = np.zeros(before_rgb.shape[:2], np.float32)
        for c in range(2):
            d = np.maximum(d, np.maximum(_outside(fa.chroma[..., c], fb.chroma[..., c], kernel),
                                         _outside(fb.chroma[..., c], fa.chroma[..., c], kernel)))
        return d

    # A shadow that came or went shifts colour towards blue: compare also with the shade un-tinted.
    chroma = chroma_outside(fa, fb)
    for darker, rgb_darker, other in ((0, before_rgb, fa), (1, after_rgb, fb)):
        untinted = _features(rgb_darker, smooth_px, tint=SHADOW_TINT)
        d = chroma_outside(other, untinted)
        is_darker = (fb.log_brightness < fa.log_brightness - 0.2) if darker == 0 else \
            (fa.log_brightness < fb.log_brightness - 0.2)
        chroma = np.where(is_darker, np.minimum(chroma, d), chroma)
    bright = np.maximum(_outside(fa.log_brightness, fb.log_brightness, kernel),
                        _outside(fb.log_brightness, fa.log_brightness, kernel))
    # A shadow that moved with the sun darkens the ground, tints it blue and keeps its texture; a
    # brightness change like that must exceed the shadow depth, any other one only the plain threshold.
    texture_kept = _texture_agreement(before_rgb, after_rgb, radius_px=max(2, round(1.0 / gsd_m)))
    darker_is_bluer = np.where(fb.log_brightness < fa.log_brightness, fb.blue - fa.blue, fa.blue - fb.blue) > -0.004
    shadow_like = (texture_kept > 0.45) & darker_is_bluer
    threshold = np.where(shadow_like, settings.shadow_brightness_threshold, settings.brightness_threshold)
    # A heap of mixed waste on grass keeps neither a colour nor a brightness; its colour variety changes.
    variety = np.abs(np.log((_chroma_spread(fa, r) + 0.01) / (_chroma_spread(fb, r) + 0.01)))
    # The window straddles an object's outline in one image only: keep just the interior.
    variety = cv2.erode(variety, kernel)
    score = np.maximum(np.maximum(chroma / settings.chroma_threshold, bright / threshold),
                       variety / math.log(settings.variety_ratio))
    if fine is not None:
        # Ribbed sheeting put on (or taken off) a roof of its own grey changes the finest texture only.
        tb, ta = fine
        texture = cv2.erode(np.maximum(_outside(ta, tb, kernel), _outside(tb, ta, kernel)), kernel)
        score = np.maximum(score, texture / math.log(settings.texture_ratio))
    return score


def _chroma_spread(f: _Features, radius_px: int) -> np.ndarray:
    """Local standard deviation of chromaticity (both channels together): colour variety, independent of light."""
    size = (2 * radius_px + 1, 2 * radius_px + 1)
    total = np.zeros(f.chroma.shape[:2], np.float32)
    for c in range(2):
        ch = f.chroma[..., c]
        m = cv2.blur(ch, size)
        total += np.maximum(cv2.blur(ch * ch, size) - m * m, 0.0)
    return np.sqrt(total)


def _texture_agreement(before_rgb: np.ndarray, after_rgb: np.ndarray, *, radius_px: int) -> np.ndarray:
    """Local correlation of log brightness (1 = same texture up to a gain); flat in both counts as agreeing."""
    a = np.log(cv2.GaussianBlur(_gray(before_rgb), (0, 0), 0.7) + 8.0)
    b = np.log(cv2.GaussianBlur(_gray(after_rgb), (0, 0), 0.7) + 8.0)
    size = (2 * radius_px + 1, 2 * radius_px + 1)
    ma, mb = cv2.blur(a, size), cv2.blur(b, size)
    va = np.maximum(cv2.blur(a * a, size) - ma * ma, 0.0)
    vb = np.maximum(cv2.blur(b * b, size) - mb * mb, 0.0)
    cov = cv2.blur(a * b, size) - ma * mb
    floor = 0.02**2  # a 2 % ripple is sensor noise and JPEG, not texture
    corr = cov / np.sqrt(np.maximum(va, floor) * np.maximum(vb, floor))
    return np.where((va < floor) & (vb < floor), 1.0, corr).astype(np.float32)


def detect_surface_changes(before: MosaicRaster, after: MosaicRaster, *,
                           settings: ChangeSettings | None = None) -> ChangeSet:
    """Surface changes between two mosaics read onto the same analysis grid."""
    cfg = settings or ChangeSettings()
    grid = before.grid
    if after.grid != grid:
        raise InvalidInput(f"mosaics lie on different grids ({grid} vs {after.grid}); read both onto one "
                           "analysis grid first")
    g = grid.gsd_m
    valid = before.valid & after.valid
    min_px = max(1, round(cfg.min_area_m2 / (g * g)))
    if np.count_nonzero(valid) < max(min_px, 64):
        return ChangeSet(events=(), compared_area_m2=0.0,
                         not_compared=("the two mosaics do not overlap: no ground was seen by both patrols",))
    dx, dy = estimate_shift_px(before, after, max_shift_px=cfg.max_shift_m / g)
    after = _shifted(after, dx, dy)
    valid = before.valid & after.valid
    # Frame edges and the mosaic rim carry seams and fringe pixels: compare only well inside both.
    r_edge = max(1, round(cfg.tolerance_m / g)) + 1
    valid = cv2.erode(valid.astype(np.uint8), np.ones((2 * r_edge + 1, 2 * r_edge + 1), np.uint8)) > 0
    matched = match_radiometry(after.rgb, before.rgb, valid)
    fine = _levelled_texture(before, after, valid)
    score = change_score(before.rgb, matched, gsd_m=g, settings=cfg, fine=fine)
    score[~valid] = 0.0
    mask = _clean_mask(score >= 1.0, gsd_m=g, settings=cfg)
    mask = _without_misregistration(mask, before.rgb, matched, valid, gsd_m=g, settings=cfg, fine=fine)
    events = _polygons(mask, score, before.rgb, matched, grid=grid, min_px=min_px, settings=cfg, fine=fine)
    uncovered = []
    missing = np.count_nonzero(before.valid ^ after.valid)
    if missing:
        uncovered.append(f"{missing * g * g:.0f} m² were seen by only one of the patrols and not compared")
    return ChangeSet(events=tuple(events), compared_area_m2=float(np.count_nonzero(valid) * g * g),
                     shift_m=(round(dx * g, 3), round(-dy * g, 3)), not_compared=tuple(uncovered),
                     compared_geometry=_outline(valid, grid))


def _outline(valid: np.ndarray, grid: MosaicGrid) -> dict[str, Any] | None:
    """The valid region as a GeoJSON (lon/lat) geometry, simplified to about a metre."""
    from rasterio.features import shapes

    parts = [shape(geom) for geom, value in shapes(valid.astype(np.uint8), mask=valid, transform=grid.transform)
             if value]
    if not parts:
        return None
    return mapping(grid.projection.geometry_to_lonlat(shapely.union_all(parts).simplify(1.0)))


def compare_mosaics(before_path: Path, after_path: Path, *, settings: ChangeSettings | None = None) -> ChangeSet:
    """Read two mosaic files onto their common analysis grid and detect surface changes."""
    cfg = settings or ChangeSettings()
    grids = mosaic_grid_of(before_path), mosaic_grid_of(after_path)
    grid = analysis_grid(*grids, gsd_m=cfg.analysis_gsd_m)
    if grid is None:
        return ChangeSet(events=(), compared_area_m2=0.0, not_compared=("the two mosaics cover disjoint ground (different areas or no overlap)",))
    # Fine texture only where both mosaics resolve half the analysis GSD (an upsampled read has none).
    texture = all(g.gsd_m <= grid.gsd_m / 2 + 1e-9 for g in grids)
    # Both reads decode JPEG tiles and filter in GDAL and OpenCV, outside the GIL: one thread each.
    with ThreadPoolExecutor(max_workers=2) as pool:
        before, after = pool.map(lambda path: read_mosaic(path, grid=grid, texture=texture), (before_path, after_path))
    return detect_surface_changes(before, after, settings=cfg)


def _clean_mask(mask: np.ndarray, *, gsd_m: float, settings: ChangeSettings) -> np.ndarray:
    """Drop slivers thinner than about a metre (shadow rims, seams) and close small gaps."""
    r_open = max(1, round(0.5 / gsd_m))
    k_open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r_open + 1, 2 * r_open + 1))
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, k_open)
    r_close = max(1, round(0.6 / gsd_m))
    k_close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r_close + 1, 2 * r_close + 1))
    return cv2.morphologyEx(m, cv2.MORPH_CLOSE, k_close)


def _high_pass(rgb: np.ndarray) -> np.ndarray:
    """Log brightness minus its 1.5 m blur: the texture, free of illumination level."""
    log = np.log(cv2.GaussianBlur(_gray(rgb), (0, 0), 0.7) + 8.0)
    return log - cv2.GaussianBlur(log, (0, 0), 4.0)


def _spread(pixels: np.ndarray) -> float:
    """Chromaticity spread of a region's pixels (plus a floor for sensor noise)."""
    p = pixels.reshape(-1, 3).astype(np.float64) + 12.0
    c = p[:, :2] / p.sum(axis=1, keepdims=True)
    return float(np.sqrt(c.var(axis=0).sum())) + 0.01


def _region_confirms(b_px: np.ndarray, a_px: np.ndarray, b_tex: np.ndarray, a_tex: np.ndarray,
                     settings: ChangeSettings, fine: _FineTexture | None = None) -> bool:
    """Whether a candidate region changed as a whole, not only pixel by pixel (seams, relief, moving shadow).

    Its mean colours must differ in chromaticity (a shade un-tinted first, at the usual depth and
    at the depth its darkening says) or in brightness, or its fine texture must; a
    brightness change that looks like shadow (darker side bluer, texture kept) must exceed shadow depth.
    """
    mb, ma = b_px.reshape(-1, 3).astype(np.float64).mean(axis=0), a_px.reshape(-1, 3).astype(np.float64).mean(axis=0)
    d_log = float(np.log(ma.sum() + 36.0) - np.log(mb.sum() + 36.0))
    darker, brighter = (ma, mb) if d_log < 0 else (mb, ma)

    def chroma(c: np.ndarray) -> np.ndarray:
        return (c[:2] + 12.0) / (c.sum() + 36.0)

    d_chroma = min(float(np.linalg.norm(chroma(ma) - chroma(mb))),
                   *(float(np.linalg.norm(chroma(darker * tint) - chroma(brighter)))
                     for tint in (np.array(SHADOW_TINT), _shadow_tint(-abs(d_log)))))
    if d_chroma >= settings.chroma_threshold or abs(d_log) >= settings.shadow_brightness_threshold:
        return True
    spread_b, spread_a = _spread(b_px), _spread(a_px)
    if max(spread_a, spread_b) / min(spread_a, spread_b) >= settings.variety_ratio:
        return True
    if fine is not None and abs(float(fine[1].mean() - fine[0].mean())) >= math.log(settings.texture_ratio):
        return True
    if abs(d_log) < settings.brightness_threshold:
        return False
    blue = (darker[2] + 12.0) / (darker.sum() + 36.0) >= (brighter[2] + 12.0) / (brighter.sum() + 36.0) - 0.004
    tb, ta = b_tex - b_tex.mean(), a_tex - a_tex.mean()
    corr = float((tb * ta).sum() / math.sqrt(max((tb * tb).sum() * (ta * ta).sum(), 1e-12)))
    return not (blue and corr > SHADOW_TEXTURE_CORR)


#: A region this many times longer than it is thick is a misregistration sliver along an edge.
SLIVER_ELONGATION = 4.0


def _is_sliver(region: np.ndarray, *, max_thickness_px: float) -> bool:
    """Long and thin (a road edge or a roof line a metre off), not an object that came or went.

    The strip a misregistered edge leaves is as thick as the misregistration beyond the matching
    tolerance: a region thicker than ``max_thickness_px`` somewhere (a burn scar with a moved shadow
    along it) is no sliver, however long it is.
    """
    padded = np.pad(region.astype(np.uint8), 1)
    thickness_px = 2.0 * float(cv2.distanceTransform(padded, cv2.DIST_L2, 5).max())
    if thickness_px > max_thickness_px:
        return False
    points = np.column_stack(np.nonzero(region)[::-1]).astype(np.float32)
    (_, _), (rw, rh), _ = cv2.minAreaRect(points)
    return max(rw, rh) > SLIVER_ELONGATION * max(thickness_px, 1.0)


def _polygons(mask: np.ndarray, score: np.ndarray, before: np.ndarray, after: np.ndarray, *, grid: MosaicGrid,
              min_px: int, settings: ChangeSettings, fine: _FineTexture | None = None) -> list[ChangeEvent]:
    from rasterio.features import shapes

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    b_tex, a_tex = _high_pass(before), _high_pass(after)

    def confirmed(i: int) -> bool:
        x, y, w, h = (int(v) for v in stats[i, :4])
        sl = (slice(y, y + h), slice(x, x + w))
        region = labels[sl] == i
        if _is_sliver(region, max_thickness_px=2.0 * settings.tolerance_m / grid.gsd_m):
            return False
        fine_px = None if fine is None else (fine[0][sl][region], fine[1][sl][region])
        return _region_confirms(before[sl][region], after[sl][region], b_tex[sl][region], a_tex[sl][region],
                                settings, fine_px)

    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_px and confirmed(i)]
    if not keep:
        return []
    g = grid.gsd_m
    projection = grid.projection
    lut = np.zeros(n, np.int32)
    lut[keep] = keep
    kept = lut[labels]
    events = []
    outlines: dict[int, list[Any]] = {}
    for geom, value in shapes(kept, mask=kept > 0, transform=grid.transform, connectivity=8):
        outlines.setdefault(int(value), []).append(shape(geom))
    for i in keep:
        x, y, w, h = (int(v) for v in stats[i, :4])
        sl = (slice(y, y + h), slice(x, x + w))
        region = labels[sl] == i
        poly = shapely.union_all(outlines[i]).simplify(g * 0.75)
        if poly.is_empty:
            continue
        surface = classify_surface(before[sl][region], after[sl][region], outline=poly)
        margin = max(w, h) * g * 0.6 + 4.0
        minx, miny, maxx, maxy = poly.bounds
        events.append(ChangeEvent(
            kind=ChangeKind.SURFACE_CHANGE, geometry=mapping(projection.geometry_to_lonlat(poly)),
            area_m2=float(stats[i, cv2.CC_STAT_AREA] * g * g),
            score=float(min(1.0, 1.0 - 1.0 / (1.0 + float(np.percentile(score[sl][region], 75))))),
            surface_class=surface, category=SURFACE_CATEGORY[surface],
            crop_bounds_m=(minx - margin, miny - margin, maxx + margin, maxy + margin),
        ))
    events.sort(key=lambda e: -e.review_weight)
    return events


def _chroma_mean(pixels: np.ndarray) -> tuple[float, float, float, float]:
    """(r, g, b chromaticity, mean brightness 0..255) of RGB pixels."""
    mean = pixels.reshape(-1, 3).astype(np.float64).mean(axis=0)
    total = float(mean.sum()) + 1e-6
    return float(mean[0] / total), float(mean[1] / total), float(mean[2] / total), total / 3.0


def _is_vegetation(c: tuple[float, float, float, float]) -> bool:
    r, g, b, _ = c
    return g > r + 0.02 and g > b + 0.04


def _is_soil(c: tuple[float, float, float, float]) -> bool:
    r, g, b, lum = c
    return r > g + 0.015 and g > b + 0.01 and lum > 70 and r - b > 0.06


def _is_water(c: tuple[float, float, float, float]) -> bool:
    r, g, b, lum = c
    return lum < 95 and r < 0.33 and g >= r and b >= r - 0.01


def _is_bluish(c: tuple[float, float, float, float]) -> bool:
    r, g, b, _ = c
    return b > r + 0.03 and g > r


def classify_surface(before_px: np.ndarray, after_px: np.ndarray, *, outline: Any) -> SurfaceClass:
    """What a changed region became, from its mean colours before and after and the shape of its outline."""
    if len(before_px) == 0:
        return SurfaceClass.UNCLASSIFIED
    cb, ca = _chroma_mean(before_px), _chroma_mean(after_px)
    if _is_water(cb) and _is_water(ca):
        return SurfaceClass.WATER_COLOUR_CHANGE
    # Water on one side and a blue-green tint on the other: a plume came or went.
    if (_is_water(cb) and _is_bluish(ca)) or (_is_water(ca) and _is_bluish(cb)):
        return SurfaceClass.WATER_COLOUR_CHANGE
    if _is_soil(ca) and not _is_soil(cb):
        return SurfaceClass.BARE_SOIL_INCREASE
    rect = outline.minimum_rotated_rectangle
    # A roof fills its bounding rectangle (> 0.87); a cleared patch or a heap is rounder (an ellipse: 0.79).
    rectangular = rect.area > 0 and outline.area / rect.area > 0.87
    if rectangular and not _is_vegetation(ca) and not _is_soil(ca):
        return SurfaceClass.NEW_STRUCTURE
    if _is_vegetation(cb) and not _is_vegetation(ca):
        return SurfaceClass.VEGETATION_LOSS
    return SurfaceClass.UNCLASSIFIED


# -- object change ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackedObject:
    """One object a patrol found (its findings grouped): class, ground outline (GeoJSON lon/lat), score."""

    class_name: str
    geometry: dict[str, Any]
    score: float
    evidence_key: str | None = None
    finding_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObjectMatch:
    """A before/after pair judged the same object; ``area_ratio`` = after area / before area."""

    before: TrackedObject
    after: TrackedObject
    area_ratio: float


@dataclass(frozen=True)
class ObjectChanges:
    events: tuple[ChangeEvent, ...]
    persisted: tuple[ObjectMatch, ...]


def compare_objects(before: Sequence[TrackedObject], after: Sequence[TrackedObject], *,
                    grow_ratio: float = 1.3, min_overlap: float = 0.1, min_area_m2: float = 0.0,
                    compared_lonlat: Any | None = None) -> ObjectChanges:
    """Match objects by class and ground overlap: appeared, vanished, grew (area × ``grow_ratio``), persisted.

    Two objects match when their overlap is at least ``min_overlap`` of the smaller one; each object
    matches at most once, best overlap first. Only objects inside ``compared_lonlat`` (the ground both
    patrols saw, when given) can appear or vanish: what one patrol did not see did not change.
    """
    if grow_ratio <= 1.0:
        raise InvalidInput(f"grow_ratio must be above 1, got {grow_ratio}")
    if not 0.0 < min_overlap <= 1.0:
        raise InvalidInput(f"min_overlap must be within (0, 1], got {min_overlap}")
    every = [*before, *after]
    if not every:
        return ObjectChanges(events=(), persisted=())
    c = shape(every[0].geometry).centroid
    projection = LocalProjection.around(c.x, c.y)
    mb = [projection.geometry_to_metric(shape(o.geometry)) for o in before]
    ma = [projection.geometry_to_metric(shape(o.geometry)) for o in after]
    seen = None if compared_lonlat is None else projection.geometry_to_metric(compared_lonlat)
    pairs = []
    for i, (ob, gb) in enumerate(zip(before, mb, strict=True)):
        for j, (oa, ga) in enumerate(zip(after, ma, strict=True)):
            if ob.class_name != oa.class_name or not gb.intersects(ga):
                continue
            overlap = gb.intersection(ga).area / max(min(gb.area, ga.area), 1e-9)
            if overlap >= min_overlap:
                pairs.append((overlap, i, j))
    used_b: set[int] = set()
    used_a: set[int] = set()
    events, persisted = [], []
    for _, i, j in sorted(pairs, reverse=True):
        if i in used_b or j in used_a:
            continue
        used_b.add(i)
        used_a.add(j)
        ratio = ma[j].area / max(mb[i].area, 1e-9)
        if ratio >= grow_ratio and ma[j].area - mb[i].area >= min_area_m2:
            events.append(_object_event(ChangeKind.GREW, after[j], ma[j], projection,
                                        before_area_m2=mb[i].area, score=min(before[i].score, after[j].score)))
        else:
            persisted.append(ObjectMatch(before[i], after[j], ratio))
    for j, (oa, ga) in enumerate(zip(after, ma, strict=True)):
        if j not in used_a and ga.area >= min_area_m2 and (seen is None or seen.covers(ga.centroid)):
            events.append(_object_event(ChangeKind.APPEARED, oa, ga, projection, score=oa.score))
    for i, (ob, gb) in enumerate(zip(before, mb, strict=True)):
        if i not in used_b and gb.area >= min_area_m2 and (seen is None or seen.covers(gb.centroid)):
            events.append(_object_event(ChangeKind.VANISHED, ob, gb, projection, score=ob.score))
    events.sort(key=lambda e: -e.review_weight)
    return ObjectChanges(events=tuple(events), persisted=tuple(persisted))


def _object_event(kind: ChangeKind, obj: TrackedObject, metric: Any, projection: LocalProjection, *, score: float,
                  before_area_m2: float | None = None) -> ChangeEvent:
    detail: dict[str, Any] = {"finding_ids": list(obj.finding_ids)}
    if before_area_m2 is not None:
        detail["before_area_m2"] = round(before_area_m2, 2)
    return ChangeEvent(kind=kind, geometry=mapping(projection.geometry_to_lonlat(metric)), area_m2=float(metric.area),
                       score=float(score), class_name=obj.class_name, category=CATEGORY_OF.get(obj.class_name),
                       crop_bounds_m=None, detail=detail,
                       before_key=obj.evidence_key if kind == ChangeKind.VANISHED else None,
                       after_key=obj.evidence_key if kind != ChangeKind.VANISHED else None)


@dataclass(frozen=True)
class RecordedChange:
    """A change event as stored for review: its id, the area and the two flights compared, and its status."""

    id: str
    area_id: str | None
    before_flight_id: str | None
    after_flight_id: str | None
    event: ChangeEvent
    status: str
    created_at: datetime | None = None

    @property
    def review_weight(self) -> float:
        return self.event.review_weight
