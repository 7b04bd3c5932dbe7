"""Pixel helpers shared by the painter and its materials: regions of interest, masks, blends, colours."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from shapely.geometry import Polygon


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
