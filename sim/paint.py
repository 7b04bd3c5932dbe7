"""The twin's painter: fills the world's polygons into a pixel raster through any planar view.

A ``View`` says where ground points land in the raster (a pinhole camera through
dockpatrol.camera, or a north-up ortho grid); the painter projects each polygon's vertices,
fills them with cv2.fillPoly (exact for flat ground) and colours them with materials whose
texture is sampled in ground coordinates, so the same place looks the same in every frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache

import cv2
import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

from sim import texture
from sim.world import World, WorldObject, blob, rect

_FLAT_LAYER: dict[str, int] = {
    "field": 1, "ploughed_field": 1, "covered_soil": 1, "yard": 1,
    "bare_soil": 2, "burn_scar": 2, "construction_site": 2,
    "river": 3, "pond": 3, "muddy_water": 3, "pool": 4, "water_discoloration": 5,
    "road": 6, "garbage_dump": 7,
}
_STRUCTURES = ("building", "red_roof", "steel_shed", "greenhouse")
_VEILS = ("haze", "steam", "smoke")
#: Kinds whose painting reaches beyond their polygon by blur, glow or overhang, and heights they cast shadows from.
_SPREADING = frozenset((*_VEILS, "open_fire", "burn_scar", "bare_soil", "construction_site"))
_CAST_FROM_M = {"haze": 14.0, "steam": 14.0, "smoke": 14.0, "construction_site": 25.0}


@dataclass
class View:
    """A raster of ``width`` × ``height`` pixels looking at the ground plane of a world.

    ``to_px`` is the homography from UTM ground points (z = 0) to pixel coordinates and ``h0``
    the one from pixel coordinates to metres relative to ``origin_m`` on the ground plane;
    ``window_m`` bounds the ground that can appear (with margin for tall things). ``camera_m``
    (UTM x, y, z) is None for an orthographic view, where height does not move a point.
    """

    width: int
    height: int
    origin_m: tuple[float, float]
    to_px: np.ndarray
    h0: np.ndarray
    gsd_m: float
    window_m: tuple[float, float, float, float]
    camera_m: tuple[float, float, float] | None = None
    _maps: tuple[np.ndarray, np.ndarray] | None = None

    def matrix(self, z: float) -> np.ndarray | None:
        """UTM → pixel homography for points at height ``z``; None when the plane is not below the camera.

        A point at height z lies on the same ray as the ground point C + (P − C)·H/(H − z), so every
        height reuses the ground homography.
        """
        cam = self.camera_m
        if z == 0.0 or cam is None:
            return self.to_px
        if z >= cam[2]:
            return None
        k = cam[2] / (cam[2] - z)
        return self.to_px @ np.array([[k, 0.0, (1 - k) * cam[0]], [0.0, k, (1 - k) * cam[1]], [0.0, 0.0, 1.0]])

    def project(self, xy: np.ndarray, z: float = 0.0) -> np.ndarray:
        """Pixel coordinates (n, 2) of UTM points ``xy`` (n, 2) at height ``z``; NaN where not in front of the camera."""
        m = self.to_px if z == 0.0 else self.matrix(z)
        if m is None:
            return np.full(np.shape(xy), np.nan)
        q = np.dot(xy, m[:, :2].T)
        q += m[:, 2]
        out = q[:, :2] / q[:, 2:]
        if not (q[:, 2] > 0).all():
            out[q[:, 2] <= 0] = np.nan
        return out

    def ground_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """Local ground metres (x east, y north from ``origin_m``) under every pixel centre, float32."""
        if self._maps is None:
            h = self.h0.astype(np.float32)
            xs = np.arange(self.width, dtype=np.float32) + np.float32(0.5)
            ys = np.arange(self.height, dtype=np.float32)[:, None] + np.float32(0.5)
            gx = h[0, 0] * xs + (h[0, 1] * ys + h[0, 2])
            gy = h[1, 0] * xs + (h[1, 1] * ys + h[1, 2])
            if abs(h[2, 0]) + abs(h[2, 1]) > 1e-12:
                wq = h[2, 0] * xs + (h[2, 1] * ys + h[2, 2])
                np.reciprocal(wq, out=wq)
                gx *= wq
                gy *= wq
            elif h[2, 2] != 1.0:
                gx *= 1.0 / h[2, 2]
                gy *= 1.0 / h[2, 2]
            self._maps = (gx, gy)
        return self._maps


@dataclass(frozen=True)
class Sun:
    """Sun direction: azimuth clockwise from north and elevation above the horizon, degrees."""

    azimuth_deg: float
    elevation_deg: float

    @property
    def shadow_per_m(self) -> tuple[float, float]:
        """Ground offset (east, north) of the shadow of a point 1 m above the ground."""
        el = math.radians(max(self.elevation_deg, 8.0))
        az = math.radians(self.azimuth_deg)
        k = 1.0 / math.tan(el)
        return -math.sin(az) * k, -math.cos(az) * k

    @property
    def towards(self) -> tuple[float, float]:
        az = math.radians(self.azimuth_deg)
        return math.sin(az), math.cos(az)


def sun_position(at: datetime, lon: float, lat: float) -> Sun:
    """Approximate solar azimuth/elevation (NOAA low-precision formulas; ~0.5° is plenty here)."""
    n = at.timetuple().tm_yday
    hours = at.hour + at.minute / 60 + at.second / 3600
    g = 2 * math.pi / 365 * (n - 1 + (hours - 12) / 24)
    decl = (0.006918 - 0.399912 * math.cos(g) + 0.070257 * math.sin(g) - 0.006758 * math.cos(2 * g)
            + 0.000907 * math.sin(2 * g) - 0.002697 * math.cos(3 * g) + 0.00148 * math.sin(3 * g))
    eqtime = 229.18 * (0.000075 + 0.001868 * math.cos(g) - 0.032077 * math.sin(g)
                       - 0.014615 * math.cos(2 * g) - 0.040849 * math.sin(2 * g))
    solar_min = hours * 60 + eqtime + 4 * lon
    ha = math.radians(solar_min / 4 - 180)
    phi = math.radians(lat)
    cos_zen = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(ha)
    zen = math.acos(max(-1.0, min(1.0, cos_zen)))
    az = math.degrees(math.atan2(math.sin(ha), math.cos(ha) * math.sin(phi) - math.tan(decl) * math.cos(phi))) + 180
    return Sun(az % 360, 90 - math.degrees(zen))


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """3×3 projective map taking 4 points ``src`` onto ``dst`` (float64 DLT, no float32 rounding)."""
    a, b = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b.extend([u, v])
    h = np.linalg.solve(np.array(a, float), np.array(b, float))
    return np.append(h, 1.0).reshape(3, 3)


# -- raster helpers ------------------------------------------------------------------------------


@dataclass
class _Roi:
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    @property
    def sl(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def _roi(pts: list[np.ndarray], w: int, h: int, pad: float = 1.0) -> _Roi | None:
    allp = np.vstack(pts)
    x0 = max(0, math.floor(float(allp[:, 0].min()) - pad))
    y0 = max(0, math.floor(float(allp[:, 1].min()) - pad))
    x1 = min(w, math.ceil(float(allp[:, 0].max()) + pad) + 1)
    y1 = min(h, math.ceil(float(allp[:, 1].max()) + pad) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    return _Roi(x0, y0, x1, y1)


def _mask8(roi: _Roi, rings: list[np.ndarray]) -> np.ndarray:
    """Anti-aliased coverage (uint8 0..255) of the polygon with ``rings`` inside ``roi``."""
    m = np.zeros(roi.shape, np.uint8)
    # Pixel (i, j) covers [i, i+1): its centre is at i + 0.5, cv2 samples at integer coordinates.
    fixed = [np.round((r - (roi.x0 + 0.5, roi.y0 + 0.5)) * 16).astype(np.int32) for r in rings]
    cv2.fillPoly(m, fixed, 255, cv2.LINE_AA, 4)
    return m


def _mask(roi: _Roi, rings: list[np.ndarray]) -> np.ndarray:
    """Anti-aliased coverage (float32 0..1) of the polygon with ``rings`` inside ``roi``."""
    return _mask8(roi, rings).astype(np.float32) * np.float32(1.0 / 255.0)


def _blocks(roi: _Roi, cover8: np.ndarray, step: int = 192):
    """Sub-windows of ``roi`` that the uint8 coverage touches, each with its coverage and whether it is full.

    A partly covered window is cut to the bounding box of its coverage, so edges cost their own pixels.
    """
    for by in range(roi.y0, roi.y1, step):
        for bx in range(roi.x0, roi.x1, step):
            sub = _Roi(bx, by, min(bx + step, roi.x1), min(by + step, roi.y1))
            a = cover8[sub.y0 - roi.y0:sub.y1 - roi.y0, sub.x0 - roi.x0:sub.x1 - roi.x0]
            lo, hi, _, _ = cv2.minMaxLoc(a)
            if hi == 0:
                continue
            if lo < 255:
                x, y, w, h = cv2.boundingRect(a)
                if w * h < a.size:
                    sub = _Roi(sub.x0 + x, sub.y0 + y, sub.x0 + x + w, sub.y0 + y + h)
                    a = a[y:y + h, x:x + w]
            yield sub, a, lo >= 255


def _soft(alpha: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian-softened alpha; large kernels run on a reduced copy (the result is smooth anyway)."""
    if sigma_px < 0.3:
        return alpha
    h, w = alpha.shape
    if sigma_px <= 4 or min(h, w) < 16:
        return cv2.GaussianBlur(alpha, (0, 0), sigma_px)
    f = sigma_px / 3.0
    small = cv2.resize(alpha, (max(2, round(w / f)), max(2, round(h / f))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 3.0)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _c3(k: np.ndarray) -> np.ndarray:
    """A one-channel array repeated into three (numpy broadcasting over a length-3 axis is slow)."""
    k = np.asarray(k, np.float32)
    return cv2.merge([k, k, k])


@lru_cache(maxsize=16)
def _ones(shape: tuple[int, int]) -> np.ndarray:
    one = np.ones(shape, np.float32)
    one.flags.writeable = False
    return one


def _const(shape: tuple[int, int], colour: np.ndarray) -> np.ndarray:
    return cv2.merge([np.full(shape, float(c), np.float32) for c in colour])


def _shade(base: np.ndarray, k: np.ndarray | float, shape: tuple[int, int]) -> np.ndarray:
    """Colour ``base`` (3,) scaled by a per-pixel factor ``k`` as an (h, w, 3) image."""
    if not isinstance(k, np.ndarray):
        return _const(shape, base * np.float32(k))
    k = k.astype(np.float32, copy=False)
    if k.size > 100_000:  # large: one 3-channel copy and a per-channel scale beat three products and a merge
        return cv2.multiply(cv2.cvtColor(k, cv2.COLOR_GRAY2RGB), (float(base[0]), float(base[1]), float(base[2]), 0.0))
    return cv2.merge([k * base[0], k * base[1], k * base[2]])


def _mul(img: np.ndarray, k: np.ndarray | float) -> np.ndarray:
    """An (h, w, 3) image times a per-pixel (h, w) factor."""
    if not isinstance(k, np.ndarray):
        return img * np.float32(k)
    return cv2.multiply(img, _c3(k))


def _lerp(t: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """Per-pixel mix of two colours: c0 where t = 0, c1 where t = 1."""
    t = np.asarray(t, np.float32)
    return cv2.merge([t * np.float32(c1[i] - c0[i]) + np.float32(c0[i]) for i in range(3)])


@lru_cache(maxsize=64)
def _const_cached(h: int, w: int, rgb: tuple[float, float, float]) -> np.ndarray:
    """A read-only constant colour image, shared by blends of the same size and colour."""
    img = _const((h, w), np.array(rgb, np.float32))
    img.flags.writeable = False
    return img


def _blend(region: np.ndarray, colour: np.ndarray, alpha: np.ndarray | float) -> None:
    """region ← colour·alpha + region·(1 − alpha), in place; colour is (3,) or (h, w, 3)."""
    shape = region.shape[:2]
    if colour.ndim == 1:
        colour = _const_cached(shape[0], shape[1], (float(colour[0]), float(colour[1]), float(colour[2])))
    if not isinstance(alpha, np.ndarray):
        alpha = np.full(shape, float(alpha), np.float32)
    alpha = alpha.astype(np.float32, copy=False)
    region[:] = cv2.blendLinear(colour.astype(np.float32, copy=False), region, alpha, np.float32(1.0) - alpha)


def _rgb(*c: float) -> np.ndarray:
    return np.array(c, np.float32) / 255.0


def _stripe(coord: np.ndarray, period_m: float, gsd_m: float) -> np.ndarray:
    """cos stripes of the given period, attenuated as they approach the pixel size (no moiré)."""
    atten = math.exp(-2.5 * (gsd_m / period_m) ** 2)
    if atten < 0.02:
        return np.zeros_like(coord)
    return np.cos(coord * (2 * math.pi / period_m)) * atten


def _line(dist_m: np.ndarray, half_width_m: float, gsd_m: float) -> np.ndarray:
    """Pixel coverage of a line of half width ``half_width_m`` at distance ``dist_m`` from its axis."""
    return np.clip(np.minimum((half_width_m - np.abs(dist_m)) / gsd_m + 0.5, 2 * half_width_m / gsd_m), 0.0, 1.0)


_RINGS: dict[int, tuple[Polygon, list[np.ndarray]]] = {}


def _rings(poly: Polygon) -> list[np.ndarray]:
    """A polygon's rings as open (n, 2) coordinate arrays, cached: the world's polygons are painted every frame.

    Keyed by identity; the entry holds the polygon, so its id cannot be reused while cached.
    """
    hit = _RINGS.get(id(poly))
    if hit is not None and hit[0] is poly:
        return hit[1]
    if len(_RINGS) > 50_000:
        _RINGS.clear()
    rings = [np.asarray(poly.exterior.coords)[:-1]] + [np.asarray(r.coords)[:-1] for r in poly.interiors]
    _RINGS[id(poly)] = (poly, rings)
    return rings


def _translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def _grid(x0: int, y0: int, f: int) -> np.ndarray:
    """Map from index (i, j) of a grid sampling every f-th pixel from (x0, y0) to that pixel's centre."""
    return np.array([[f, 0.0, x0 + f // 2 + 0.5], [0.0, f, y0 + f // 2 + 0.5], [0.0, 0.0, 1.0]])


# -- the painter ---------------------------------------------------------------------------------


class _Painter:
    """Paints one raster; holds the frame-wide noise fields and per-object helpers."""

    def __init__(self, world: World, view: View, at: datetime, sun: Sun) -> None:
        self.world, self.view, self.at, self.sun = world, view, at, sun
        self.w, self.h = view.width, view.height
        self.gsd = view.gsd_m
        self.canvas = np.empty((self.h, self.w, 3), np.float32)
        self.small: dict[str, tuple[np.ndarray | None, int]] = {}
        self.fields: dict[tuple[str, int], np.ndarray] = {}
        self.marks: np.ndarray | None = None
        sx, sy = sun.shadow_per_m
        self.shadow_vec = (sx, sy)

    # noise fields in ground coordinates, computed once per frame
    def small_field(self, name: str) -> tuple[np.ndarray | None, int]:
        """A noise field on a pixel grid coarsened by the returned factor (smooth fields need no full grid)."""
        if name not in self.small:
            tile = {"macro": texture.macro_tile, "meso": texture.meso_tile, "micro": texture.micro_tile}[name]()
            period = tile.period_m
            ax = self.view.origin_m[0] % period
            ay = self.view.origin_m[1] % period
            f = 1
            while tile.texel_m / (self.gsd * f * 2) > 1.2 and f < 16:
                f *= 2
            cols, rows = len(range(f // 2, self.w, f)), len(range(f // 2, self.h, f))
            m = _translation(ax, ay) @ self.view.h0 @ _grid(0, 0, f)
            self.small[name] = (texture.sample_warped(tile, m, cols, rows, gsd_m=self.gsd * f), f)
        return self.small[name]

    def noise(self, name: str, roi: _Roi, ch: int) -> np.ndarray | float:
        """Channel ``ch`` of a noise field over a pixel window (0.0 where the field averages out).

        Each channel is brought to full resolution once per frame, on first use.
        """
        key = (name, ch)
        full = self.fields.get(key)
        if full is None:
            arr, f = self.small_field(name)
            if arr is None:
                self.fields[key] = full = np.zeros((0, 0), np.float32)
            else:
                one = arr if arr.ndim == 2 else np.ascontiguousarray(arr[..., ch % arr.shape[2]])
                full = one if f == 1 else cv2.resize(one, (self.w, self.h), interpolation=cv2.INTER_LINEAR)
                self.fields[key] = full
        if full.size == 0:
            return 0.0
        return full[roi.sl]

    def px(self, coords: np.ndarray, z: float = 0.0) -> np.ndarray:
        return self.view.project(coords, z)

    def rings_px(self, poly: Polygon, z: float = 0.0) -> list[np.ndarray]:
        return [self.px(r, z) for r in _rings(poly)]

    def local(self, roi: _Roi, *, z: float, origin: tuple[float, float], angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel (u, v) metres on the plane at height z, in an object frame (origin UTM, u axis angle_deg from east)."""
        gx, gy = self.view.ground_maps()
        x = gx[roi.sl]
        y = gy[roi.sl]
        m = self.local_h(z=z, origin=origin, angle_deg=angle_deg).astype(np.float32)
        u = x * m[0, 0]
        u += y * m[0, 1]
        u += m[0, 2]
        v = x * m[1, 0]
        v += y * m[1, 1]
        v += m[1, 2]
        return u, v

    def local_h(self, *, z: float, origin: tuple[float, float], angle_deg: float) -> np.ndarray:
        """3×3 map from view-ground metres (relative to ``origin_m``) to the object frame of :meth:`local`."""
        dx = self.view.origin_m[0] - origin[0]
        dy = self.view.origin_m[1] - origin[1]
        cam = self.view.camera_m
        if z != 0.0 and cam is not None:
            # A pixel's ray meets the plane z at the camera-ward fraction (H - z) / H of its ground hit.
            k = max(0.0, (cam[2] - z) / cam[2])
            cx, cy = cam[0] - self.view.origin_m[0], cam[1] - self.view.origin_m[1]
            m = np.array([[k, 0.0, (1 - k) * cx + dx], [0.0, k, (1 - k) * cy + dy], [0.0, 0.0, 1.0]])
        else:
            m = _translation(dx, dy)
        a = math.radians(angle_deg)
        ca, sa = math.cos(a), math.sin(a)
        return np.array([[ca, sa, 0.0], [-sa, ca, 0.0], [0.0, 0.0, 1.0]]) @ m

    def tile(self, tile: texture.Tile, roi: _Roi, *, origin: tuple[float, float], angle_deg: float = 0.0,
             z: float = 0.0, scale: float = 1.0) -> np.ndarray | None:
        m = self.local_h(z=z, origin=origin, angle_deg=angle_deg) @ self.view.h0 @ _grid(roi.x0, roi.y0, 1)
        return texture.sample_warped(tile, m, roi.shape[1], roi.shape[0], gsd_m=self.gsd, scale=scale)

    def frame_of(self, obj: WorldObject) -> tuple[float, float, float, float, float]:
        """Object frame: centre x, y, long-axis angle (deg from east), length, width (metres)."""
        key = ("frame", obj.id)
        cache = self.world._cache
        if key not in cache:
            obj = self.world.by_id.get(obj.id, obj)
            mrr = obj.polygon.minimum_rotated_rectangle
            xy = np.asarray(mrr.exterior.coords)[:4]
            e0, e1 = xy[1] - xy[0], xy[2] - xy[1]
            l0, l1 = float(np.hypot(*e0)), float(np.hypot(*e1))
            e = e0 if l0 >= l1 else e1
            c = obj.polygon.centroid
            cache[key] = (c.x, c.y, math.degrees(math.atan2(e[1], e[0])), max(l0, l1), min(l0, l1))
        return cache[key]

    def rng(self, obj: WorldObject, salt: int = 0) -> np.random.Generator:
        return np.random.default_rng([obj.style, salt])

    # ---- generic fills
    def fill(self, poly: Polygon, colour_fn: Callable[[_Roi], np.ndarray] | np.ndarray, *, z: float = 0.0,
             alpha_scale: float = 1.0, soften_px: float = 0.0) -> tuple[_Roi, np.ndarray] | None:
        """Paint ``poly`` (at height z) with a colour or a colour function of a pixel window.

        Returns the window and the polygon's coverage there (float32 0..1, before alpha_scale).
        Large windows are painted in blocks, skipping empty ones, so a long diagonal road costs
        its own area and not its bounding box.
        """
        rings = self.rings_px(poly, z)
        if any(not np.all(np.isfinite(r)) for r in rings):
            return None
        pad = 1.0 + 3 * soften_px
        roi = _roi(rings, self.w, self.h, pad)
        if roi is None:
            return None
        if soften_px > 0:
            alpha = _soft(_mask(roi, rings), soften_px)
            cover8 = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
        else:
            cover8 = _mask8(roi, rings)
            alpha = None
        scale = np.float32(alpha_scale / 255.0)
        for sub, a8, full in _blocks(roi, cover8):
            colour = colour_fn(sub) if callable(colour_fn) else colour_fn
            region = self.canvas[sub.sl]
            if full and alpha_scale == 1.0:
                region[:] = colour
            elif alpha is not None:
                a = alpha[sub.y0 - roi.y0:sub.y1 - roi.y0, sub.x0 - roi.x0:sub.x1 - roi.x0]
                _blend(region, colour, a * np.float32(alpha_scale) if alpha_scale != 1.0 else a)
            else:
                _blend(region, colour, a8.astype(np.float32) * scale)
        if alpha is None:
            alpha = cover8.astype(np.float32) * np.float32(1.0 / 255.0)
        return roi, alpha

    def darken(self, rings: list[np.ndarray], strength: float, *, soften_px: float = 0.0) -> None:
        if any(not np.all(np.isfinite(r)) for r in rings):
            return
        roi = _roi(rings, self.w, self.h, 1.0 + 3 * soften_px)
        if roi is None:
            return
        alpha = _mask(roi, rings)
        if soften_px > 0:
            alpha = _soft(alpha, soften_px)
        # Shadows keep some blue skylight.
        region = self.canvas[roi.sl]
        dark = cv2.multiply(region, (1.0 - strength, 1.0 - strength * 0.95, 1.0 - strength * 0.8, 0.0))
        _blend(region, dark, alpha)

    def shadow(self, poly: Polygon, height_m: float, *, base_z: float = 0.0, strength: float = 0.45) -> None:
        if height_m <= 0:
            return
        base = np.asarray(poly.exterior.coords)[:-1]
        sx, sy = self.shadow_vec
        tip = base + np.array([sx * height_m, sy * height_m])
        pts = np.vstack([self.px(base, base_z), self.px(tip, base_z)])
        if not np.all(np.isfinite(pts)):
            return
        hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(float)
        self.darken([hull], strength, soften_px=min(2.0, 0.15 / self.gsd))

    def walls(self, poly: Polygon, *, base_z: float, top_z: float, colour: np.ndarray) -> None:
        cam = self.view.camera_m
        if cam is None or top_z - base_z <= 0:
            return
        ring = np.asarray(poly.exterior.coords)
        # Shoelace sign: make the ring counter-clockwise so each edge's outward normal is on its right.
        if float(np.dot(ring[:-1, 0], ring[1:, 1]) - np.dot(ring[1:, 0], ring[:-1, 1])) < 0:
            ring = ring[::-1]
        b = self.px(ring, base_z)
        t = self.px(ring, top_z)
        if not (np.all(np.isfinite(b)) and np.all(np.isfinite(t))):
            return
        quads = np.stack([b[:-1], b[1:], t[1:], t[:-1]], axis=1)
        d1, d2 = quads[:, 2] - quads[:, 0], quads[:, 3] - quads[:, 1]
        keep = 0.5 * np.abs(d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]) >= 0.5
        if not keep.any():
            return
        edge = ring[1:] - ring[:-1]
        mid = (ring[1:] + ring[:-1]) / 2
        sun_e, sun_n = self.sun.towards
        lit = np.maximum(0.0, (edge[:, 1] * sun_e - edge[:, 0] * sun_n) / np.maximum(np.hypot(edge[:, 0], edge[:, 1]), 1e-9))
        shade_k = (0.55 + 0.4 * lit)[keep]
        quads = quads[keep]
        # Far walls first, near walls over them; one blend for the whole facade.
        order = np.argsort(-np.hypot(mid[keep, 0] - cam[0], mid[keep, 1] - cam[1]), kind="stable")
        roi = _roi([quads.reshape(-1, 2)], self.w, self.h)
        if roi is None:
            return
        fixed = np.round((quads - (roi.x0 + 0.5, roi.y0 + 0.5)) * 16).astype(np.int32)
        shade = np.full(roi.shape, float(shade_k[order[0]]), np.float32)
        cover = np.zeros(roi.shape, np.uint8)
        for i in order:
            cv2.fillPoly(shade, [fixed[i]], float(shade_k[i]), cv2.LINE_8, 4)
            cv2.fillPoly(cover, [fixed[i]], 255, cv2.LINE_AA, 4)
        _blend(self.canvas[roi.sl], _shade(colour, shade, roi.shape), cover.astype(np.float32) * np.float32(1 / 255))

    # ---- scene
    def paint(self) -> np.ndarray:
        view = self.view
        objs = [o for o in self.world.objects_in(view.window_m) if o.present_at(self.at)]
        objs = [o for o, show in zip(objs, self._may_show(objs), strict=True) if show]
        objs = [piece for o in objs for piece in self._clip(o)]
        self.paint_ground()
        flat = sorted((o for o in objs if o.kind in _FLAT_LAYER), key=lambda o: _FLAT_LAYER[o.kind])
        for o in flat:
            if o.kind != "road":
                self.flush_marks()
            getattr(self, f"m_{o.kind}")(o)
        self.flush_marks()
        raised = [o for o in objs if o.kind in _STRUCTURES or o.kind == "tree"]
        for o in raised:
            if o.kind == "tree":
                self.tree_shadow(o)
            else:
                self.shadow(o.polygon, o.height_m, strength=0.5)
        for o in flat:
            if o.kind == "construction_site":
                self.site_shadows(o)
        children: dict[str, list[WorldObject]] = {}
        for o in objs:
            if o.kind == "rooftop_addition" and o.parent_id:
                children.setdefault(o.parent_id, []).append(o)
        for o in sorted((o for o in objs if o.kind in _STRUCTURES), key=lambda o: (o.height_m, o.id)):
            getattr(self, f"m_{o.kind}")(o)
            for child in children.pop(o.id, []):
                self.m_rooftop_addition(child)
        for orphans in children.values():
            for child in orphans:
                self.m_rooftop_addition(child)
        for o in objs:
            if o.kind == "tree":
                self.m_tree(o)
        for o in objs:
            if o.kind in _VEILS:
                getattr(self, f"m_{o.kind}")(o)
        for o in objs:
            if o.kind == "open_fire":
                self.m_open_fire(o)
        return self.canvas

    def _may_show(self, objs: list[WorldObject]) -> np.ndarray:
        """Per object, whether anything of it (itself, its lean, shadow, blur or glow) can reach the raster.

        The view window is an axis-aligned UTM box around a possibly rotated footprint; about half
        of what it returns lies off the frame, and skipping it early saves all its projections.
        """
        n = len(objs)
        if n == 0:
            return np.zeros(0, bool)
        polys = [o.polygon for o in objs]
        b = shapely.bounds(polys)
        sx, sy = self.shadow_vec
        # Veils cast shadows from up to 14 m, a site's crane jib hangs ~25 m up and can overhang the site.
        tall = np.array([max(o.height_m, _CAST_FROM_M.get(o.kind, 0.0)) for o in objs])
        spread = np.array([o.kind in _SPREADING for o in objs])
        reach = np.minimum(45.0, 2.0 + tall * (math.hypot(sx, sy) + 1.0)) + 0.6 * np.sqrt(shapely.area(polys)) * spread
        x0, y0, x1, y1 = b[:, 0] - reach, b[:, 1] - reach, b[:, 2] + reach, b[:, 3] + reach
        corners = np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1), np.stack([x1, y1], 1), np.stack([x0, y1], 1)], 1)
        sets = [corners]
        cam = self.view.camera_m
        top = np.array([o.base_z_m + o.height_m for o in objs])
        if cam is not None and (top > 0).any():
            # The same corners at roof height: a point at height z projects like the ground point C + (P − C)·H/(H − z).
            k = cam[2] / (cam[2] - np.minimum(top, 0.9 * cam[2]))
            c = np.array(cam[:2])
            sets.append(c + (corners - c) * k[:, None, None])
        pts = np.concatenate(sets, axis=1)
        px = self.view.project(pts.reshape(-1, 2)).reshape(n, -1, 2)
        lo, hi = px.min(axis=1), px.max(axis=1)
        near = (hi[:, 0] >= -2) & (hi[:, 1] >= -2) & (lo[:, 0] <= self.w + 2) & (lo[:, 1] <= self.h + 2)
        return near | ~np.isfinite(px).all(axis=(1, 2))

    def _clip(self, o: WorldObject) -> list[WorldObject]:
        """The object cut to the view window (big rivers and roads), one copy per piece, same id."""
        b = o.polygon.bounds
        wx0, wy0, wx1, wy1 = self.view.window_m
        if b[0] >= wx0 and b[1] >= wy0 and b[2] <= wx1 and b[3] <= wy1:
            return [o]
        clipped = shapely.clip_by_rect(o.polygon, wx0, wy0, wx1, wy1)
        parts = [g for g in getattr(clipped, "geoms", [clipped]) if g.geom_type == "Polygon" and not g.is_empty]
        return [replace(o, polygon=g) for g in parts]

    def paint_ground(self) -> None:
        """Grass and weeds everywhere: colour from smooth noise on a coarse grid, grain at full resolution."""
        f = 4
        gw, gh = -(-self.w // f), -(-self.h // f)
        macro, _fm = self.small_field("macro")
        meso, fs = self.small_field("meso")
        if macro is not None:
            macro = cv2.resize(macro, (gw, gh), interpolation=cv2.INTER_LINEAR)
        if meso is not None:
            meso = cv2.resize(meso, (gw, gh), interpolation=cv2.INTER_AREA if fs < f else cv2.INTER_LINEAR)
        t = np.full((gh, gw), 0.5, np.float32)
        if macro is not None:
            t += 0.2 * macro[..., 0]
        if meso is not None:
            t += 0.1 * meso[..., 0]
        np.clip(t, 0.0, 1.0, out=t)
        dark, light = _rgb(62, 92, 44), _rgb(112, 138, 68)
        col = _lerp(t, dark, light)
        if macro is not None:
            _blend(col, _rgb(140, 136, 92), np.clip((macro[..., 1] - 0.7) * 0.5, 0.0, 0.45))
        if meso is not None:
            col = _mul(col, 1.0 + 0.08 * meso[..., 1])
        cv2.resize(col, (self.w, self.h), dst=self.canvas, interpolation=cv2.INTER_LINEAR)
        micro = self.noise("micro", _Roi(0, 0, self.w, self.h), 0)
        if isinstance(micro, np.ndarray):
            grain = micro * np.float32(0.12)
            grain += np.float32(1.0)
            cv2.multiply(self.canvas, _c3(grain), dst=self.canvas)

    # ---- materials: flat land cover
    def _varied(self, base: np.ndarray, roi: _Roi, *, macro: float = 0.06, meso: float = 0.08, micro: float = 0.06,
                ch: int = 0) -> np.ndarray:
        k: np.ndarray | float = 1.0
        for name, weight in (("macro", macro), ("meso", meso), ("micro", micro)):
            n = self.noise(name, roi, ch)
            if isinstance(n, np.ndarray):
                k = cv2.addWeighted(n, weight, k, 1.0, 0.0) if isinstance(k, np.ndarray) else cv2.scaleAdd(n, weight, _ones(n.shape))
        return _shade(base, k, roi.shape)

    def m_yard(self, o: WorldObject) -> None:
        cx, cy, ang, _, _ = self.frame_of(o)

        def colour(roi: _Roi) -> np.ndarray:
            col = self._varied(_rgb(158, 156, 148), roi, meso=0.1, micro=0.05, ch=1)
            u, v = self.local(roi, z=0, origin=(cx, cy), angle_deg=ang)
            joints = np.maximum(_line(np.mod(u, 6.0) - 3.0, 0.05, self.gsd), _line(np.mod(v, 6.0) - 3.0, 0.05, self.gsd))
            # Joints are at the cell centre offset; flip so lines sit on the 6 m grid.
            return _mul(col, 1.0 - 0.15 * joints)

        self.fill(o.polygon, colour)

    def m_field(self, o: WorldObject) -> None:
        cx, cy, ang, _, _ = self.frame_of(o)
        rng = self.rng(o)
        period = float(rng.uniform(0.7, 1.6))
        crop_frac = float(rng.choice([0.55, 0.8, 1.0]))
        crop = _rgb(*rng.choice([(70, 120, 50), (95, 140, 60), (60, 105, 55), (120, 150, 70)]))
        soil = _rgb(125, 100, 72)

        def colour(roi: _Roi) -> np.ndarray:
            _u, v = self.local(roi, z=0, origin=(cx, cy), angle_deg=ang)
            rows = 0.5 + _stripe(v, period, self.gsd) * 0.9
            s = np.clip(crop_frac * (0.55 + 0.6 * rows) + 0.1 * self.noise("meso", roi, 2), 0, 1)
            col = _lerp(s, soil, crop)
            return _mul(col, 1.0 + 0.07 * self.noise("micro", roi, 1) + 0.05 * self.noise("macro", roi, 2))

        self.fill(o.polygon, colour)

    def m_ploughed_field(self, o: WorldObject) -> None:
        cx, cy, ang, _, _ = self.frame_of(o)
        rng = self.rng(o)
        period = float(rng.uniform(0.45, 0.9))
        soil = _rgb(*rng.choice([(128, 98, 70), (140, 108, 76), (115, 92, 70)]))

        def colour(roi: _Roi) -> np.ndarray:
            _u, v = self.local(roi, z=0, origin=(cx, cy), angle_deg=ang)
            furrow = 1.0 + 0.18 * _stripe(v, period, self.gsd)
            col = self._varied(soil, roi, meso=0.08, micro=0.08, ch=2)
            return _mul(col, furrow)

        self.fill(o.polygon, colour)

    def m_covered_soil(self, o: WorldObject) -> None:
        cx, cy, ang, _, _ = self.frame_of(o)
        net = _rgb(52, 112, 72)
        soil = _rgb(128, 102, 74)

        def colour(roi: _Roi) -> np.ndarray:
            u, v = self.local(roi, z=0, origin=(cx, cy), angle_deg=ang + 20)
            mesh = 1.0 + 0.25 * (_stripe(u, 0.08, self.gsd) + _stripe(v, 0.08, self.gsd))
            folds = 1.0 + 0.15 * self.noise("meso", roi, 1) + 0.1 * _stripe(u + 0.3 * v, 2.3, self.gsd)
            col = _shade(net, mesh * folds, roi.shape)
            gap = self.noise("meso", roi, 2)
            if isinstance(gap, np.ndarray):
                _blend(col, soil, np.clip((gap - 1.4) * 2.0, 0, 1))
            return col

        self.fill(o.polygon, colour)

    def m_bare_soil(self, o: WorldObject) -> None:
        rng = self.rng(o)
        soil = _rgb(*rng.choice([(168, 112, 72), (150, 116, 82), (172, 138, 96), (140, 100, 70), (160, 120, 85)]))
        _cx, _cy, _ang, _length, _width = self.frame_of(o)
        tracks = self._tracks(o, 3)

        def colour(roi: _Roi) -> np.ndarray:
            col = self._varied(soil, roi, macro=0.08, meso=0.14, micro=0.1, ch=2)
            weeds = self.noise("micro", roi, 1)
            patch = self.noise("meso", roi, 1)
            if isinstance(weeds, np.ndarray) and isinstance(patch, np.ndarray):
                grassy = np.clip((weeds - 1.3) * 1.5, 0, 1) * np.clip(patch + 0.3, 0, 1)
                _blend(col, _rgb(92, 112, 56), grassy * 0.8)
            self._draw_tracks(col, roi, tracks, _rgb(120, 88, 60))
            return col

        self.fill(o.polygon, colour, soften_px=min(3.0, 0.3 / self.gsd))

    def _tracks(self, o: WorldObject, n: int) -> list[np.ndarray]:
        """Tyre-track polylines (UTM) across an earth patch, cached per object."""
        key = ("tracks", o.id)
        cache = self.world._cache
        if key not in cache:
            o = self.world.by_id.get(o.id, o)
            rng = self.rng(o, 7)
            cx, cy, ang, length, width = self.frame_of(o)
            lines = []
            for _ in range(n):
                a = math.radians(ang + float(rng.normal(0, 25)))
                off = float(rng.uniform(-width / 3, width / 3))
                s = np.linspace(-length / 2, length / 2, 12)
                bend = float(rng.uniform(-0.4, 0.4))
                for gauge in (-0.9, 0.9):
                    xs = s * math.cos(a) - (off + gauge + bend * s * s / max(length, 1)) * math.sin(a)
                    ys = s * math.sin(a) + (off + gauge + bend * s * s / max(length, 1)) * math.cos(a)
                    line = LineString(np.column_stack([cx + xs, cy + ys])).intersection(o.polygon)
                    for g in getattr(line, "geoms", [line]):
                        if not g.is_empty and g.geom_type == "LineString":
                            lines.append(np.asarray(g.coords))
            cache[key] = lines
        return cache[key]

    def _draw_tracks(self, col: np.ndarray, roi: _Roi, tracks: list[np.ndarray], colour: np.ndarray) -> None:
        if not tracks:
            return
        m = np.zeros(roi.shape, np.uint8)
        thick = max(1, round(0.35 / self.gsd))
        for t in tracks:
            p = self.px(t)
            if not np.all(np.isfinite(p)):
                continue
            cv2.polylines(m, [np.round((p - (roi.x0 + 0.5, roi.y0 + 0.5)) * 16).astype(np.int32)], False, 160,
                          thick, cv2.LINE_AA, 4)
        _blend(col, colour, m.astype(np.float32) / 255.0 * min(1.0, 0.35 / self.gsd))

    def m_burn_scar(self, o: WorldObject) -> None:
        rng = self.rng(o)
        char = _rgb(*rng.choice([(30, 28, 26), (40, 36, 33), (24, 24, 24)]))
        soft = min(3.0, 0.6 / self.gsd)

        def colour(roi: _Roi) -> np.ndarray:
            col = self._varied(char, roi, macro=0.1, meso=0.25, micro=0.2, ch=1)
            ash = self.noise("meso", roi, 0)
            if isinstance(ash, np.ndarray):
                _blend(col, _rgb(105, 102, 98), np.clip((ash - 0.9) * 0.9, 0, 0.7))
            return col

        res = self.fill(o.polygon, colour, soften_px=soft * 0.5)
        if res is None:
            return
        roi, alpha = res
        # A scorched brown fringe where the fire died out at the edge.
        inner = _soft(alpha, max(1.0, 1.2 / self.gsd))
        fringe = np.clip(alpha - inner, 0, 1) * 1.6
        _blend(self.canvas[roi.sl], _rgb(92, 70, 46), np.clip(fringe, 0, 0.8))

    def m_river(self, o: WorldObject) -> None:
        self._water(o, _rgb(58, 84, 80))

    def m_pond(self, o: WorldObject) -> None:
        rng = self.rng(o)
        self._water(o, _rgb(*rng.choice([(60, 92, 78), (48, 74, 70), (70, 102, 84), (55, 80, 88)])))

    def m_muddy_water(self, o: WorldObject) -> None:
        rng = self.rng(o)
        self._water(o, _rgb(*rng.choice([(122, 104, 76), (110, 96, 72), (132, 116, 86)])))

    def _water(self, o: WorldObject, base: np.ndarray) -> None:
        def colour(roi: _Roi) -> np.ndarray:
            col = self._varied(base, roi, macro=0.035, meso=0.02, micro=0.015, ch=2)
            return col

        res = self.fill(o.polygon, colour)
        if res is not None:
            roi, alpha = res
            # A darker wet bank along the shore.
            inner = _soft(alpha, max(1.0, 0.8 / self.gsd))
            region = self.canvas[roi.sl]
            region[:] = _mul(np.ascontiguousarray(region), 1.0 - 0.6 * np.clip(alpha - inner, 0, 1))

    def m_pool(self, o: WorldObject) -> None:
        self.fill(o.polygon, _rgb(222, 222, 212))
        inner = self._cached_geom(o, "inner", lambda p: p.buffer(-0.4, join_style="mitre"))
        if inner.is_empty:
            return
        cx, cy, ang, length, _ = self.frame_of(o)

        def colour(roi: _Roi) -> np.ndarray:
            u, _ = self.local(roi, z=0, origin=(cx, cy), angle_deg=ang)
            depth = np.clip(0.5 + u / max(length, 1.0), 0, 1)
            base = _lerp(depth, _rgb(88, 190, 215), _rgb(40, 140, 190))
            return _mul(base, 1.0 + 0.06 * self.noise("micro", roi, 1))

        self.fill(inner, colour)

    def _cached_geom(self, o: WorldObject, name: str, make: Callable[[Polygon], Polygon]) -> Polygon:
        key = (name, o.id)
        cache = self.world._cache
        if key not in cache:
            g = make(self.world.by_id.get(o.id, o).polygon)
            if g.geom_type == "MultiPolygon":
                g = max(g.geoms, key=lambda p: p.area)
            cache[key] = g
        return cache[key]

    def m_water_discoloration(self, o: WorldObject) -> None:
        rng = self.rng(o)
        # Unnatural colours: milky, rust, black, purple-red, ochre, chalky turquoise.
        col = _rgb(*rng.choice([(200, 198, 182), (150, 78, 48), (26, 30, 28), (170, 64, 44), (122, 52, 84),
                                (210, 190, 120), (120, 186, 190)]))
        strength = float(rng.uniform(0.7, 0.9))
        soft = min(25.0, 1.0 / self.gsd)

        res = self.fill(o.polygon, lambda roi: self._varied(col, roi, meso=0.08, micro=0.03, ch=0),
                        alpha_scale=strength, soften_px=soft)
        del res

    def m_road(self, o: WorldObject) -> None:
        self.fill(o.polygon, lambda roi: self._varied(_rgb(84, 85, 88), roi, macro=0.05, meso=0.06, micro=0.08, ch=0))
        # Markings go into one frame-wide mask, blended once after the last road (flush_marks); this
        # road's surface first wipes the marks of roads painted before it, as painting them in turn would.
        if self.marks is None:
            self.marks = np.zeros((self.h, self.w), np.uint8)
        rings = self.rings_px(o.polygon)
        if all(np.all(np.isfinite(r)) for r in rings):
            cv2.fillPoly(self.marks, [np.round((r - 0.5) * 16).astype(np.int32) for r in rings], 0, cv2.LINE_8, 4)
        marks = [r for r in (self.px(p) for p in self.road_marks(o)) if np.all(np.isfinite(r))]
        if marks:
            cv2.fillPoly(self.marks, [np.round((r - 0.5) * 16).astype(np.int32) for r in marks], 255, cv2.LINE_AA, 4)

    def flush_marks(self) -> None:
        """Blend the collected road markings: only the covered pixels, gathered by index."""
        if self.marks is None:
            return
        at = cv2.findNonZero(self.marks)
        if at is not None:
            at = at.reshape(-1, 2)
            idx = at[:, 1] * self.w + at[:, 0]
            a = self.marks.reshape(-1)[idx].astype(np.float32)[:, None] * np.float32(0.9 / 255.0)
            flat = self.canvas.reshape(-1, 3)
            px = flat[idx]
            px += (_rgb(222, 222, 212) - px) * a
            flat[idx] = px
        self.marks = None

    def road_marks(self, o: WorldObject) -> list[np.ndarray]:
        """Edge lines and (on main roads) a dashed centre line, as UTM rectangles inside the view window."""
        cx, cy, ang, length, width = self.frame_of(o)
        a = math.radians(ang)
        ux, uy, vx, vy = math.cos(a), math.sin(a), -math.sin(a), math.cos(a)
        wx0, wy0, wx1, wy1 = self.view.window_m
        corners = np.array([[wx0, wy0], [wx1, wy0], [wx1, wy1], [wx0, wy1]]) - (cx, cy)
        us = corners @ np.array([ux, uy])
        u0, u1 = max(-length / 2, float(us.min())), min(length / 2, float(us.max()))
        if u1 <= u0:
            return []

        def bar(ua: float, ub: float, v: float, half: float) -> np.ndarray:
            pts = [(ua, v - half), (ub, v - half), (ub, v + half), (ua, v + half)]
            return np.array([(cx + p * ux + q * vx, cy + p * uy + q * vy) for p, q in pts])

        marks = [bar(u0, u1, side * (width / 2 - 0.5), 0.08) for side in (-1, 1)]
        if width >= 10:
            start = math.floor((u0 + length / 2) / 9.0) * 9.0 - length / 2
            for ua in np.arange(start, u1, 9.0):
                marks.append(bar(max(ua, u0), min(ua + 3.0, u1), 0.0, 0.08))
        return marks

    def m_garbage_dump(self, o: WorldObject) -> None:
        cx, cy, ang, length, width = self.frame_of(o)
        rng = self.rng(o)
        radius = max(width, 1.0) / 2
        # Drawn once per object, not per block: every block must sample the same texture placement.
        shift, turn = float(rng.uniform(0, 50)), float(rng.uniform(0, 360))

        def colour(roi: _Roi) -> np.ndarray:
            clutter = self.tile(texture.clutter_tile(), roi, origin=(cx + shift, cy), angle_deg=turn)
            base = self._varied(_rgb(118, 108, 94), roi, meso=0.1, micro=0.1, ch=1)
            if clutter is None:
                col = base
                _blend(col, _rgb(160, 152, 140), 0.4)
            else:
                # Dirt and soil show between the heaped items in places.
                col = clutter
                dirt = self.noise("meso", roi, 2)
                _blend(col, base, np.clip(0.2 + 0.25 * dirt, 0.0, 0.7) if isinstance(dirt, np.ndarray) else 0.2)
            u, v = self.local(roi, z=0, origin=(cx, cy), angle_deg=ang)
            r2 = (u / max(length / 2, 1.0)) ** 2 + (v / radius) ** 2
            sx, sy = self.sun.towards
            a = math.radians(ang)
            slope = (u * (sx * math.cos(a) + sy * math.sin(a)) + v * (-sx * math.sin(a) + sy * math.cos(a))) / max(radius, 1)
            shade = np.clip(1.05 - 0.25 * r2 + 0.15 * slope, 0.6, 1.2)
            return _mul(col, shade)

        self.fill(o.polygon, colour, soften_px=min(2.0, 0.12 / self.gsd))

    def m_construction_site(self, o: WorldObject) -> None:
        rng = self.rng(o)
        earth = _rgb(*rng.choice([(176, 128, 86), (160, 120, 84), (186, 146, 100), (150, 108, 74)]))
        tracks = self._tracks(o, 6)

        cx, cy, ang, _, _ = self.frame_of(o)

        def colour(roi: _Roi) -> np.ndarray:
            col = self._varied(earth, roi, macro=0.08, meso=0.14, micro=0.1, ch=0)
            self._draw_tracks(col, roi, tracks, _rgb(128, 92, 62))
            # Scattered building materials, pallets and debris in patches across the site.
            stuff = self.tile(texture.clutter_tile(), roi, origin=(cx, cy), angle_deg=ang, scale=1.6)
            patch = self.noise("meso", roi, 1)
            if stuff is not None and isinstance(patch, np.ndarray):
                _blend(col, stuff, np.clip((patch - 0.9) * 1.5, 0, 0.9))
            return col

        self.fill(o.polygon, colour)
        for kind, poly, height, col in self.site_plan(o):
            self.site_element(o, kind, poly, height, col)
        fence = self._cached_geom(o, "fence", lambda p: p.difference(p.buffer(-0.5)))
        if not fence.is_empty:
            fc = _rgb(*rng.choice([(40, 96, 176), (56, 128, 78), (220, 222, 220)]))
            self.fill(fence, lambda roi: self._varied(fc, roi, meso=0.05, micro=0.05))

    def site_plan(self, o: WorldObject) -> list[tuple[str, Polygon, float, np.ndarray]]:
        """Deterministic layout inside a construction site: slabs, rebar, machines, piles, huts, crane."""
        key = ("site", o.id)
        cache = self.world._cache
        if key in cache:
            return cache[key]
        o = self.world.by_id.get(o.id, o)
        rng = self.rng(o, 11)
        cx, cy, ang, length, width = self.frame_of(o)
        inside = o.polygon.buffer(-2.0)
        a = math.radians(ang)

        def at(fu: float, fv: float) -> tuple[float, float]:
            uu, vv = fu * length / 2, fv * width / 2
            return cx + uu * math.cos(a) - vv * math.sin(a), cy + uu * math.sin(a) + vv * math.cos(a)

        items: list[tuple[str, Polygon, float, np.ndarray]] = []
        placed: list[Polygon] = []

        def put(kind: str, poly: Polygon, height: float, col: np.ndarray) -> None:
            if inside.contains(poly) and not any(poly.intersects(p) for p in placed):
                placed.append(poly)
                items.append((kind, poly, height, col))

        for _ in range(int(rng.integers(1, 3))):
            fu, fv = rng.uniform(-0.5, 0.5, 2)
            w, h = length * float(rng.uniform(0.25, 0.45)), width * float(rng.uniform(0.3, 0.5))
            kind = str(rng.choice(["rebar", "frame", "rebar", "pit"]))
            put(kind, rect(*at(fu, fv), w, h, ang), 0.0, _rgb(150, 150, 146))
        for _ in range(int(rng.integers(2, 6))):
            fu, fv = rng.uniform(-0.8, 0.8, 2)
            kind = str(rng.choice(["sand", "gravel", "net", "spoil"]))
            col = {"sand": _rgb(206, 184, 130), "gravel": _rgb(150, 146, 138), "net": _rgb(52, 112, 72),
                   "spoil": _rgb(120, 84, 58)}[kind]
            put(kind, blob(*at(fu, fv), float(rng.uniform(2.5, 7)), rng, roughness=0.3), 0.0, col)
        for _ in range(int(rng.integers(1, 4))):
            fu, fv = rng.uniform(-0.8, 0.8, 2)
            th = ang + float(rng.uniform(0, 360))
            put("machine", rect(*at(fu, fv), 5.0, 2.6, th), 2.5, _rgb(232, 178, 28))
        for _ in range(int(rng.integers(1, 3))):
            fu, fv = rng.uniform(-0.85, 0.85, 2)
            put("hut", rect(*at(fu, fv), 6.0, 2.5, ang), 2.6, _rgb(228, 230, 228))
        for _ in range(int(rng.integers(2, 5))):
            fu, fv = rng.uniform(-0.8, 0.8, 2)
            put("bars", rect(*at(fu, fv), 9.0, 1.4, ang + float(rng.choice([0, 90]))), 0.3, _rgb(96, 70, 56))
        if rng.uniform() < 0.5:
            fu, fv = rng.uniform(-0.5, 0.5, 2)
            base = at(fu, fv)
            jib = float(rng.uniform(0.3, 0.5)) * length
            th = float(rng.uniform(0, 360))
            r = math.radians(th)
            mid = (base[0] + jib / 2 * math.cos(r), base[1] + jib / 2 * math.sin(r))
            items.append(("crane", rect(*mid, jib, 1.4, th), 0.0, _rgb(236, 196, 40)))
        cache[key] = items
        return items

    def site_shadows(self, o: WorldObject) -> None:
        for kind, poly, height, _ in self.site_plan(o):
            if kind == "crane":
                # The jib hangs ~25 m up: its shadow falls well away from it.
                sx, sy = self.shadow_vec
                moved = shapely.affinity.translate(poly, sx * 25, sy * 25)
                self.darken(self.rings_px(moved), 0.4)
            elif height > 0:
                self.shadow(poly, height, strength=0.5)

    def site_element(self, o: WorldObject, kind: str, poly: Polygon, height: float, col: np.ndarray) -> None:
        cx, cy, ang, _, _ = self.frame_of(o)
        gsd = self.gsd
        if kind in ("rebar", "frame", "pit"):
            def colour(roi: _Roi) -> np.ndarray:
                c = self._varied(col if kind != "pit" else _rgb(140, 100, 70), roi, meso=0.1, micro=0.08, ch=2)
                u, v = self.local(roi, z=0, origin=(cx, cy), angle_deg=ang)
                if kind == "rebar":
                    grid = np.maximum(_line(np.mod(u, 0.3) - 0.15, 0.02, gsd), _line(np.mod(v, 0.3) - 0.15, 0.02, gsd))
                    _blend(c, _rgb(110, 62, 40), grid * 0.9)
                elif kind == "frame":
                    cols = np.maximum(_line(np.mod(u, 6.0) - 3.0, 0.3, gsd), _line(np.mod(v, 6.0) - 3.0, 0.3, gsd))
                    _blend(c, _rgb(190, 188, 182), cols)
                    scaffold = np.maximum(_line(np.mod(u, 1.8) - 0.9, 0.04, gsd), _line(np.mod(v, 1.8) - 0.9, 0.04, gsd))
                    _blend(c, _rgb(60, 64, 70), scaffold * 0.5)
                else:
                    c = _mul(c, 0.85 + 0.05 * _stripe(u + v, 1.1, gsd))
                return c

            self.fill(poly, colour)
        elif kind in ("machine", "hut"):
            self.fill(poly, lambda roi: self._varied(col, roi, meso=0.05, micro=0.05), z=height)
            if kind == "machine":
                c = poly.centroid
                rng = np.random.default_rng([o.style, int(c.x * 10) & 0xFFFF])
                th = math.radians(float(rng.uniform(0, 360)))
                arm = rect(c.x + 3.5 * math.cos(th), c.y + 3.5 * math.sin(th), 4.5, 0.6, math.degrees(th))
                self.fill(arm, col * 0.85, z=height)
                cab = rect(c.x, c.y, 1.8, 1.6, math.degrees(th))
                self.fill(cab, _rgb(60, 62, 66), z=height + 0.5)
        elif kind == "bars":
            def colour(roi: _Roi) -> np.ndarray:
                u, v = self.local(roi, z=0, origin=(cx, cy), angle_deg=ang)
                c = self._varied(col, roi, meso=0.1, micro=0.05)
                return _mul(c, 1.0 + 0.3 * _stripe(u + v, 0.12, gsd))

            self.fill(poly, colour)
        elif kind == "crane":
            c0 = poly.centroid

            def colour(roi: _Roi) -> np.ndarray:
                u, _ = self.local(roi, z=0, origin=(c0.x, c0.y), angle_deg=ang)
                lattice = 0.6 + 0.4 * np.abs(_stripe(u, 1.4, gsd))
                return _shade(col, lattice, roi.shape)

            self.fill(poly, colour, alpha_scale=0.9)
        else:
            self.fill(poly, lambda roi: self._varied(col, roi, meso=0.12, micro=0.12), soften_px=min(2.0, 0.2 / gsd))

    # ---- structures
    def _roof_style(self, o: WorldObject) -> tuple[str, np.ndarray]:
        key = ("roof", o.id)
        cache = self.world._cache
        if key not in cache:
            cache[key] = self._pick_roof(o)
        return cache[key]

    def _pick_roof(self, o: WorldObject) -> tuple[str, np.ndarray]:
        rng = self.rng(o, 3)
        kind = str(rng.choice(["flat", "flat", "flat", "flat", "flat", "dark", "white", "gable"]))
        col = {
            "flat": _rgb(*rng.choice([(172, 170, 162), (178, 168, 150), (150, 150, 150), (160, 162, 154), (186, 180, 168)])),
            "dark": _rgb(*rng.choice([(96, 96, 102), (110, 104, 100)])),
            "white": _rgb(214, 214, 208),
            "gable": _rgb(*rng.choice([(92, 92, 98), (118, 108, 102), (84, 96, 104)])),
        }[kind]
        return kind, col

    def m_building(self, o: WorldObject) -> None:
        kind, col = self._roof_style(o)
        cx, cy, ang, length, width = self.frame_of(o)
        top = o.base_z_m + o.height_m
        self.walls(o.polygon, base_z=o.base_z_m, top_z=top, colour=_rgb(196, 190, 178))
        sx, sy = self.sun.towards
        a = math.radians(ang)
        # Sun component across the roof's short axis shades the two halves of a gable roof.
        across = -sx * math.sin(a) + sy * math.cos(a)

        def colour(roi: _Roi) -> np.ndarray:
            c = self._varied(col, roi, macro=0.03, meso=0.08, micro=0.05, ch=1)
            u, v = self.local(roi, z=top, origin=(cx, cy), angle_deg=ang)
            if kind == "gable":
                c = _mul(c, 1.0 + 0.12 * np.sign(v) * across + 0.05 * _stripe(v, 0.3, self.gsd))
                _blend(c, col * 1.25, _line(v, 0.15, self.gsd))
            else:
                edge = np.minimum(length / 2 - np.abs(u), width / 2 - np.abs(v))
                _blend(c, col * 0.72, _line(edge - 0.15, 0.13, self.gsd))
                stain = self.noise("macro", roi, 2)
                if isinstance(stain, np.ndarray):
                    c = _mul(c, 1.0 - 0.05 * np.clip(stain, 0, 2))
            return c

        self.fill(o.polygon, colour, z=top)
        if kind in ("flat", "white", "dark"):
            self.roof_items(o, top)

    def roof_items(self, o: WorldObject, top: float) -> None:
        key = ("roof_items", o.id)
        cache = self.world._cache
        if key not in cache:
            o = self.world.by_id.get(o.id, o)
            rng = self.rng(o, 5)
            cx, cy, ang, length, width = self.frame_of(o)
            a = math.radians(ang)
            items = []
            for _ in range(int(rng.integers(0, 5))):
                fu, fv = rng.uniform(-0.38, 0.38, 2)
                x = cx + fu * length * math.cos(a) - fv * width * math.sin(a)
                y = cy + fu * length * math.sin(a) + fv * width * math.cos(a)
                kind = str(rng.choice(["ac", "tank", "solar", "ac"]))
                if kind == "ac":
                    items.append((rect(x, y, 0.9, 0.6, ang), 0.7, _rgb(226, 226, 222)))
                elif kind == "tank":
                    items.append((Polygon(np.column_stack([x + 0.6 * np.cos(np.linspace(0, 6.28, 12, endpoint=False)),
                                                           y + 0.6 * np.sin(np.linspace(0, 6.28, 12, endpoint=False))])),
                                  1.2, _rgb(*rng.choice([(205, 205, 200), (60, 90, 150), (210, 200, 170)]))))
                else:
                    items.append((rect(x, y, 2.0, 1.0, ang), 0.4, _rgb(40, 48, 62)))
            if rng.uniform() < 0.35:
                fu, fv = rng.uniform(-0.3, 0.3, 2)
                x = cx + fu * length * math.cos(a) - fv * width * math.sin(a)
                y = cy + fu * length * math.sin(a) + fv * width * math.cos(a)
                items.append((rect(x, y, 3.0, 2.6, ang), 2.4, None))
            cache[key] = [(p, h, c) for p, h, c in items if o.polygon.buffer(-0.3).contains(p)]
        if self.gsd > 0.4:
            return
        items = cache[key]
        if not items:
            return
        _, roof_col = self._roof_style(o)
        sx, sy = self.shadow_vec
        hulls = []
        for poly, h, _ in items:
            base = np.asarray(poly.exterior.coords)[:-1]
            pts = np.vstack([self.px(base, top), self.px(base + np.array([sx * h, sy * h]), top)])
            if np.all(np.isfinite(pts)):
                hulls.append(cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(float))
        if hulls:
            self.darken(hulls, 0.4)
        tops = []
        for poly, h, col in items:
            c = roof_col * 1.04 if col is None else col
            if h > 2:
                self.walls(poly, base_z=top, top_z=top + h, colour=c * 0.9)
            tops.append((self.rings_px(poly, top + h)[0], c))
        self.paint_polys(tops, background=roof_col)

    def paint_polys(self, items: list[tuple[np.ndarray, np.ndarray]], *, background: np.ndarray) -> None:
        """Several small flat-coloured pixel polygons in one blend (AA edges fade toward ``background``)."""
        items = [(r, c) for r, c in items if np.all(np.isfinite(r))]
        if not items:
            return
        roi = _roi([r for r, _ in items], self.w, self.h)
        if roi is None:
            return
        colour = _const(roi.shape, background)
        cover = np.zeros(roi.shape, np.uint8)
        for ring, c in items:
            fixed = [np.round((ring - (roi.x0 + 0.5, roi.y0 + 0.5)) * 16).astype(np.int32)]
            cv2.fillPoly(colour, fixed, tuple(float(v) for v in c), cv2.LINE_8, 4)
            cv2.fillPoly(cover, fixed, 255, cv2.LINE_AA, 4)
        _blend(self.canvas[roi.sl], colour, cover.astype(np.float32) * np.float32(1.0 / 255.0))

    def m_red_roof(self, o: WorldObject) -> None:
        rng = self.rng(o, 3)
        col = _rgb(*rng.choice([(172, 76, 54), (160, 70, 52), (186, 92, 60), (150, 62, 48), (196, 104, 70)]))
        cx, cy, ang, length, width = self.frame_of(o)
        top = o.base_z_m + o.height_m
        self.walls(o.polygon, base_z=o.base_z_m, top_z=top, colour=_rgb(204, 196, 182))
        sx, sy = self.sun.towards
        a = math.radians(ang)
        su = sx * math.cos(a) + sy * math.sin(a)
        sv = -sx * math.sin(a) + sy * math.cos(a)

        def colour(roi: _Roi) -> np.ndarray:
            c = self._varied(col, roi, macro=0.03, meso=0.06, micro=0.06, ch=2)
            u, v = self.local(roi, z=top, origin=(cx, cy), angle_deg=ang)
            # Hip roof: end facets where |u| beyond the ridge, side facets elsewhere.
            ridge_half = max(0.0, length / 2 - width / 2)
            end = (np.abs(u) - ridge_half) > np.abs(v)
            facet = np.where(end, np.sign(u) * su, np.sign(v) * sv)
            rows = np.where(end, _stripe(u, 0.28, self.gsd), _stripe(v, 0.28, self.gsd))
            c = _mul(c, 1.0 + 0.13 * facet + 0.08 * rows)
            ridge = _line(v, 0.12, self.gsd) * (np.abs(u) <= ridge_half)
            hips = _line((np.abs(u) - ridge_half) - np.abs(v), 0.1, self.gsd) * (np.abs(u) > ridge_half)
            _blend(c, col * 1.25, np.maximum(ridge, hips))
            return c

        self.fill(o.polygon, colour, z=top)

    def m_greenhouse(self, o: WorldObject) -> None:
        cx, cy, ang, _length, width = self.frame_of(o)
        top = o.height_m
        self.walls(o.polygon, base_z=0, top_z=top, colour=_rgb(200, 206, 200))

        def colour(roi: _Roi) -> np.ndarray:
            u, v = self.local(roi, z=top, origin=(cx, cy), angle_deg=ang)
            arch = 0.82 + 0.18 * np.cos(np.clip(v / max(width / 2, 1), -1, 1) * 1.4)
            ribs = 1.0 - 0.12 * np.maximum(_stripe(u, 1.2, self.gsd), 0)
            base = self._varied(_rgb(214, 220, 214), roi, meso=0.04, micro=0.03, ch=0)
            return _mul(base, arch * ribs)

        self.fill(o.polygon, colour, z=top)

    def _steel(self, roi: _Roi, *, obj_frame: tuple[float, float, float, float, float], z: float, col: np.ndarray,
               gable: bool, rib_m: float) -> np.ndarray:
        cx, cy, ang, _length, width = obj_frame
        u, v = self.local(roi, z=z, origin=(cx, cy), angle_deg=ang)
        sx, sy = self.sun.towards
        a = math.radians(ang)
        sv = -sx * math.sin(a) + sy * math.cos(a)
        c = self._varied(col, roi, macro=0.02, meso=0.04, micro=0.03, ch=0)
        facet = np.sign(v) * sv if gable else np.full_like(v, 0.5 * sv)
        ribs = _stripe(u, rib_m, self.gsd)
        # Trapezoidal sheets: narrow bright crests, wide flat pans.
        crest = np.clip(ribs * 2.2 - 1.0, -1.0, 1.0) if isinstance(ribs, np.ndarray) else 0.0
        c = _mul(c, 1.0 + 0.14 * facet + 0.16 * crest)
        if gable:
            _blend(c, np.minimum(col * 1.3 + 0.08, 1.0), _line(v, 0.15, self.gsd))
        eave = width / 2 - np.abs(v)
        _blend(c, col * 0.6, _line(eave - 0.08, 0.08, self.gsd))
        return c

    def m_steel_shed(self, o: WorldObject) -> None:
        rng = self.rng(o, 3)
        col = _rgb(*rng.choice([(38, 98, 176), (52, 116, 190), (30, 78, 150), (74, 134, 196), (40, 98, 176),
                                (226, 228, 232), (206, 212, 218), (40, 110, 170), (150, 58, 44)]))
        gable = bool(rng.uniform() < 0.7)
        rib = float(rng.uniform(0.2, 0.3))
        fr = self.frame_of(o)
        top = o.base_z_m + o.height_m
        self.walls(o.polygon, base_z=o.base_z_m, top_z=top, colour=col * 0.8)
        self.fill(o.polygon, lambda roi: self._steel(roi, obj_frame=fr, z=top, col=col, gable=gable, rib_m=rib), z=top)

    def m_rooftop_addition(self, o: WorldObject) -> None:
        rng = self.rng(o, 3)
        material = str(rng.choice(["blue", "blue", "white", "brick", "board"]))
        fr = self.frame_of(o)
        base, top = o.base_z_m, o.base_z_m + o.height_m
        col = {"blue": _rgb(*rng.choice([(40, 100, 178), (56, 120, 192), (32, 84, 160)])),
               "white": _rgb(226, 228, 230), "brick": _rgb(*rng.choice([(158, 84, 62), (176, 104, 74)])),
               "board": _rgb(128, 140, 150)}[material]
        self.shadow(o.polygon, o.height_m, base_z=base, strength=0.45)
        self.walls(o.polygon, base_z=base, top_z=top, colour=col * 0.78)
        if material in ("blue", "white"):
            self.fill(o.polygon, lambda roi: self._steel(roi, obj_frame=fr, z=top, col=col, gable=False, rib_m=0.25), z=top)
        else:
            cx, cy, ang, _, _ = fr

            def colour(roi: _Roi) -> np.ndarray:
                c = self._varied(col, roi, meso=0.08, micro=0.08, ch=2)
                _u, v = self.local(roi, z=top, origin=(cx, cy), angle_deg=ang)
                return _mul(c, 1.0 + 0.1 * _stripe(v, 0.3 if material == "brick" else 1.2, self.gsd))

            self.fill(o.polygon, colour, z=top)

    def tree_shadow(self, o: WorldObject) -> None:
        """A crown's shadow: the crown outline swept from its lower to its upper height along the sun."""
        sx, sy = self.shadow_vec
        ring = np.asarray(o.polygon.exterior.coords)[:-1]
        h = o.height_m
        pts = np.vstack([ring + np.array([sx * h * 0.45, sy * h * 0.45]), ring + np.array([sx * h, sy * h]),
                         ring[::3] * 0.15 + ring.mean(axis=0) * 0.85])
        px = self.px(pts)
        if not np.all(np.isfinite(px)):
            return
        hull = cv2.convexHull(px.astype(np.float32)).reshape(-1, 2).astype(float)
        self.darken([hull], 0.42, soften_px=min(4.0, 0.3 / self.gsd))

    def m_tree(self, o: WorldObject) -> None:
        rng = self.rng(o)
        col = _rgb(*rng.choice([(44, 76, 34), (56, 92, 38), (70, 102, 44), (38, 64, 32), (60, 84, 40), (74, 96, 48)]))
        c0 = o.polygon.centroid
        radius = math.sqrt(o.polygon.area / math.pi)
        # Crowns are drawn a little above the ground (their lean in off-nadir views), not at the treetop.
        top = o.height_m * 0.5
        sx, sy = self.sun.towards
        rings = self.rings_px(self._cached_geom(o, "crown", lambda p: p.buffer(radius * 0.12)), top)
        if any(not np.all(np.isfinite(r)) for r in rings):
            return
        soft_px = max(0.5, 0.35 * radius / self.gsd * 0.25)
        roi = _roi(rings, self.w, self.h, 1 + 3 * soft_px)
        if roi is None:
            return
        cover = _soft(_mask(roi, rings), soft_px)
        u, v = self.local(roi, z=top, origin=(c0.x, c0.y), angle_deg=0.0)
        leaves = self.noise("meso", roi, (o.style % 3))
        # Leafy outline: the soft crown mask cut by clumpy noise.
        cover = np.clip((cover - 0.5) * 2.5 + 0.5 + 0.3 * leaves, 0.0, 1.0)
        r2 = (u * u + v * v) / (radius * radius)
        lit = (u * sx + v * sy) / radius
        shade = np.clip(1.05 - 0.35 * r2 + 0.25 * lit, 0.45, 1.3)
        clumps = 1.0 + 0.2 * self.noise("micro", roi, 0) + 0.15 * leaves
        _blend(self.canvas[roi.sl], _shade(col, shade * clumps, roi.shape), cover)

    # ---- veils and fire
    def soft_alpha(self, rings: list[np.ndarray], soft_px: float) -> tuple[_Roi, np.ndarray, int] | None:
        """Coverage of a polygon blurred by ``soft_px``, computed on a grid coarsened by f (returned).

        Returns the full-resolution window, the coarse alpha (sample (i, j) at full pixel
        (x0 + f//2 + f·j, y0 + f//2 + f·i), see ``_grid``) and f.
        """
        if any(not np.all(np.isfinite(r)) for r in rings):
            return None
        roi = _roi(rings, self.w, self.h, 1 + 3 * soft_px)
        if roi is None:
            return None
        f = max(1, min(16, int(soft_px / 2.5)))
        ys = slice(roi.y0 + f // 2, roi.y1, f)
        xs = slice(roi.x0 + f // 2, roi.x1, f)
        sh, sw = len(range(ys.start, ys.stop, f)), len(range(xs.start, xs.stop, f))
        if sh == 0 or sw == 0:  # a sliver at the frame edge narrower than one coarse sample
            return None
        m = np.zeros((sh, sw), np.uint8)
        origin = (roi.x0 + f // 2 + 0.5, roi.y0 + f // 2 + 0.5)
        cv2.fillPoly(m, [np.round((r - origin) / f * 16).astype(np.int32) for r in rings], 255, cv2.LINE_AA, 4)
        alpha = m.astype(np.float32) * np.float32(1 / 255)
        if soft_px / f > 0.3:
            alpha = cv2.GaussianBlur(alpha, (0, 0), soft_px / f)
        return roi, alpha, f

    def upscale(self, small: np.ndarray, roi: _Roi, f: int) -> np.ndarray:
        if f == 1:
            return small
        m = np.array([[1.0 / f, 0.0, -(f // 2) / f], [0.0, 1.0 / f, -(f // 2) / f]])
        return cv2.warpAffine(small, m, (roi.shape[1], roi.shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    def _veil(self, o: WorldObject, *, col: np.ndarray, strength: float, soft_m: float, turbulence: float,
              shadow_height_m: float = 0.0) -> None:
        cx, cy, ang, _length, _width = self.frame_of(o)
        soft_px = soft_m / self.gsd
        if shadow_height_m > 0:
            sx, sy = self.shadow_vec
            moved = shapely.affinity.translate(o.polygon, sx * shadow_height_m, sy * shadow_height_m)
            got = self.soft_alpha(self.rings_px(moved), soft_px)
            if got is not None:
                roi, a, f = got
                a = self.upscale(a * np.float32(strength * 0.45), roi, f)
                region = self.canvas[roi.sl]
                region[:] = _mul(np.ascontiguousarray(region), 1.0 - a)
        got = self.soft_alpha(self.rings_px(o.polygon), soft_px)
        if got is None:
            return
        roi, alpha, f = got
        m = self.local_h(z=0.0, origin=(cx, cy), angle_deg=ang) @ self.view.h0 @ _grid(roi.x0, roi.y0, f)
        wisps = texture.sample_warped(texture.meso_tile(), m, alpha.shape[1], alpha.shape[0], gsd_m=self.gsd * f, scale=8.0)
        if wisps is not None:
            alpha = alpha * np.clip(1.0 + turbulence * wisps[..., 0] + 0.5 * turbulence * wisps[..., 1], 0.2, 1.8)
        alpha = self.upscale(np.clip(alpha * np.float32(strength), 0, 0.97), roi, f)
        _blend(self.canvas[roi.sl], col, alpha)

    def m_smoke(self, o: WorldObject) -> None:
        rng = self.rng(o)
        col = _rgb(*rng.choice([(205, 205, 200), (176, 176, 172), (140, 140, 138), (118, 116, 114), (190, 188, 182)]))
        _, _, _, _length, width = self.frame_of(o)
        self._veil(o, col=col, strength=float(rng.uniform(0.6, 0.85)), soft_m=max(0.8, width * 0.12),
                   turbulence=0.45, shadow_height_m=float(rng.uniform(6, 14)))

    def m_steam(self, o: WorldObject) -> None:
        _, _, _, _length, width = self.frame_of(o)
        self._veil(o, col=_rgb(244, 246, 248), strength=0.9, soft_m=max(0.5, width * 0.1), turbulence=0.25,
                   shadow_height_m=12.0)

    def m_haze(self, o: WorldObject) -> None:
        _, _, _, _length, width = self.frame_of(o)
        self._veil(o, col=_rgb(214, 220, 226), strength=0.3, soft_m=max(1.0, width * 0.25), turbulence=0.3)

    def m_open_fire(self, o: WorldObject) -> None:
        rng = self.rng(o)
        radius = math.sqrt(o.polygon.area / math.pi)
        rings = self.rings_px(o.polygon)
        if any(not np.all(np.isfinite(r)) for r in rings):
            return
        glow_px = 1.2 * radius / self.gsd
        roi = _roi(rings, self.w, self.h, 1 + 3 * glow_px)
        if roi is None:
            return
        mask = _mask(roi, rings)
        region = self.canvas[roi.sl]
        # Charred ground and embers just around the flames, then the flames, then the glow.
        char = _soft(mask, max(0.7, 0.5 / self.gsd))
        _blend(region, _rgb(40, 30, 24), np.clip(char * 1.6, 0, 0.85))
        heat = _soft(mask, max(0.6, 0.3 * radius / self.gsd))
        flames = self.tile(texture.macro_tile(), roi, origin=(o.style % 1000, 0.0), scale=0.04)
        wobble = 0.0 if flames is None else cv2.GaussianBlur(flames[..., 0], (0, 0), 2.0)
        heat = np.clip(heat * (1.0 + 0.35 * wobble) * float(rng.uniform(1.15, 1.45)), 0, 1.2)
        stops = np.array([0.0, 0.25, 0.5, 0.75, 0.95, 1.2], np.float32)
        ramp = np.array([(120, 24, 8), (220, 70, 14), (255, 128, 24), (255, 190, 60), (255, 236, 150), (255, 252, 228)],
                        np.float32) / 255
        colour = cv2.merge([np.interp(heat, stops, ramp[:, k]).astype(np.float32) for k in range(3)])
        _blend(region, colour, np.clip(heat * 2.2 - 0.15, 0, 1))
        glow = _soft(mask, glow_px)
        region += _shade(_rgb(255, 130, 40) * 0.5, glow, roi.shape)

def paint(world: World, view: View, at: datetime, sun: Sun) -> np.ndarray:
    """Albedo-and-shading raster (float32 RGB, ~0..1) of the world state at ``at`` through ``view``."""
    return _Painter(world, view, at, sun).paint()
