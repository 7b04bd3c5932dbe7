"""Tileable procedural textures for the twin's renderer, sampled in ground coordinates.

Every tile is periodic, so a frame samples it with ``BORDER_WRAP`` through the frame's
pixel → ground homography; each tile carries a mip pyramid so coarse frames do not alias.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import cv2
import numpy as np


@dataclass(frozen=True)
class Tile:
    """A periodic texture with its mip levels; level k has texels of ``texel_m * 2**k`` metres."""

    levels: tuple[np.ndarray, ...]
    texel_m: float

    @cached_property
    def padded(self) -> tuple[np.ndarray, ...]:
        """Levels with one wrapped row and column appended, so lookups in [0, size) never hit a border."""
        return tuple(np.pad(lv, ((0, 1), (0, 1)) + ((0, 0),) * (lv.ndim - 2), mode="wrap") for lv in self.levels)

    @property
    def period_m(self) -> float:
        """Repeat distance; the same at every mip level."""
        return self.levels[0].shape[1] * self.texel_m

    def level_for(self, gsd_m: float) -> int | None:
        """Mip level whose texel is not much finer than a pixel; None when even the coarsest is too fine."""
        if gsd_m <= self.texel_m * 1.5:
            return 0
        k = math.floor(math.log2(gsd_m / (self.texel_m * 1.5))) + 1
        return k if k < len(self.levels) else None


def _pyramid(base: np.ndarray, min_size: int = 4) -> tuple[np.ndarray, ...]:
    levels = [base]
    pad = 4
    while levels[-1].shape[0] >= 2 * min_size:
        # Wrap-padding keeps every level periodic (pyrDown has no wrapping border mode).
        prev = levels[-1]
        wide = np.pad(prev, ((pad, pad), (pad, pad)) + ((0, 0),) * (prev.ndim - 2), mode="wrap")
        levels.append(np.ascontiguousarray(cv2.pyrDown(wide)[pad // 2 : -pad // 2, pad // 2 : -pad // 2]))
    return tuple(levels)


def fractal_noise(size: int, *, channels: int, beta: float, seed: int) -> np.ndarray:
    """Periodic 1/f^beta noise, zero mean and unit standard deviation per channel (float32)."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2.0)
    amp[0, 0] = 0.0
    out = np.empty((size, size, channels), np.float32)
    for c in range(channels):
        white = rng.standard_normal((size, size))
        field = np.fft.irfft2(np.fft.rfft2(white) * amp, s=(size, size))
        out[..., c] = (field - field.mean()) / (field.std() + 1e-12)
    return out


@lru_cache(maxsize=1)
def macro_tile() -> Tile:
    """Landscape-scale variation (patches of tens to hundreds of metres)."""
    return Tile(_pyramid(fractal_noise(256, channels=3, beta=2.6, seed=101)), texel_m=2.0)


@lru_cache(maxsize=1)
def meso_tile() -> Tile:
    """Metre-scale mottling (clumps, stains, tyre-worn patches)."""
    return Tile(_pyramid(fractal_noise(512, channels=3, beta=2.0, seed=202)), texel_m=0.25)


@lru_cache(maxsize=1)
def micro_tile() -> Tile:
    """Centimetre grain (grass blades, gravel, leaves)."""
    return Tile(_pyramid(fractal_noise(512, channels=1, beta=1.2, seed=303)[..., 0]), texel_m=0.02)


_CLUTTER_PALETTE = np.array(
    [
        # Mostly white and grey plastic, cardboard and rubble, with some coloured bags and sheets.
        (235, 235, 228), (220, 220, 215), (245, 245, 240), (200, 200, 196), (228, 226, 218), (40, 40, 42),
        (60, 58, 56), (150, 120, 90), (170, 140, 100), (120, 110, 100), (140, 132, 120), (90, 70, 55),
        (180, 180, 180), (30, 90, 190), (60, 140, 215), (200, 40, 40), (230, 120, 40), (40, 150, 70),
        (230, 210, 60), (230, 150, 170), (20, 60, 120),
    ],
    np.float32,
) / 255.0


@lru_cache(maxsize=1)
def clutter_tile() -> Tile:
    """Heaped mixed waste: bags, boards, plastic sheets and debris of many colours (RGB 0..1)."""
    rng = np.random.default_rng(404)
    size = 512
    img = np.empty((size, size, 3), np.float32)
    img[:] = (0.42, 0.38, 0.33)
    # Items are drawn three times shifted by the tile size so the tile wraps seamlessly.
    for _ in range(2600):
        colour = _CLUTTER_PALETTE[rng.integers(len(_CLUTTER_PALETTE))] * rng.uniform(0.75, 1.1)
        cx, cy = rng.uniform(0, size, 2)
        r = float(rng.uniform(2, 14))
        n = int(rng.integers(5, 9))
        t = np.linspace(0, 2 * math.pi, n, endpoint=False) + rng.uniform(-0.3, 0.3, n) + rng.uniform(0, 6.3)
        rr = r * rng.uniform(0.6, 1.15, n)
        stretch = float(rng.uniform(1.0, 2.5))
        box = np.column_stack([rr * np.cos(t) * stretch, rr * np.sin(t)]).astype(np.float32)
        shade = float(rng.uniform(0.55, 0.8))
        for ox in (-size, 0, size):
            for oy in (-size, 0, size):
                pts = box + np.array([cx + ox, cy + oy], np.float32)
                if pts[:, 0].max() < 0 or pts[:, 0].min() > size or pts[:, 1].max() < 0 or pts[:, 1].min() > size:
                    continue
                # A dark rim under each item reads as the gaps and shadows inside a heap.
                cv2.fillPoly(img, [np.round((pts + 1.2) * 16).astype(np.int32)],
                             tuple(float(c) * shade * 0.5 for c in colour), cv2.LINE_AA, 4)
                cv2.fillPoly(img, [np.round(pts * 16).astype(np.int32)], tuple(float(c) for c in colour),
                             cv2.LINE_AA, 4)
    grain = fractal_noise(size, channels=1, beta=1.0, seed=405)
    img *= 1.0 + 0.06 * grain
    return Tile(_pyramid(np.clip(img, 0, 1)), texel_m=0.025)


#: Largest texel window ``sample_warped`` gathers for one warp; larger rasters are split into windows.
_MOSAIC_TEXELS = 4_000_000
#: remap/warpPerspective keep integer source coordinates in 16 bits.
_MOSAIC_SIDE = 32_000


def sample_warped(tile: Tile, m: np.ndarray, width: int, height: int, *, gsd_m: float,
                  scale: float = 1.0) -> np.ndarray | None:
    """The tile over a ``width`` × ``height`` raster whose pixel (i, j) lies at tile metres ``m @ (i, j, 1)``.

    Same result as :func:`sample` on per-pixel coordinates, but one ``warpPerspective`` from the
    window of texels the raster touches replaces building, wrapping and remapping two coordinate
    maps; a raster whose texel window would be too large is done in pieces.
    """
    level = tile.level_for(gsd_m / scale)
    if level is None:
        return None
    texel = tile.texel_m * scale * 2**level
    t = np.diag([1.0 / texel, -1.0 / texel, 1.0]) @ np.asarray(m, float)
    return _warp_window(tile, level, t, 0, 0, width, height)


def _warp_window(tile: Tile, level: int, t: np.ndarray, c0: int, r0: int, c1: int, r1: int) -> np.ndarray:
    """Output pixels [r0, r1) × [c0, c1) of the warp ``t``; halves the longer side while the texel window is too big."""
    lv = tile.levels[level]
    size = lv.shape[0]
    corners = np.array([[c0, r0, 1.0], [c1, r0, 1.0], [c1, r1, 1.0], [c0, r1, 1.0]]) @ t.T
    if np.all(corners[:, 2] > 0):
        cx, cy = corners[:, 0] / corners[:, 2], corners[:, 1] / corners[:, 2]
        x0, y0 = math.floor(cx.min()) - 1, math.floor(cy.min()) - 1
        nx, ny = math.ceil(cx.max()) + 2 - x0, math.ceil(cy.max()) + 2 - y0
        if nx * ny <= _MOSAIC_TEXELS and max(nx, ny) <= _MOSAIC_SIDE:
            # Just the texels this window can touch, gathered from the periodic tile.
            top, left = -y0 % size, -x0 % size
            mosaic = cv2.copyMakeBorder(lv, top, max(0, ny - size - top) + 1, left, max(0, nx - size - left) + 1,
                                        cv2.BORDER_WRAP)[:ny, :nx]
            shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
            offset = np.array([[1.0, 0.0, c0], [0.0, 1.0, r0], [0.0, 0.0, 1.0]])
            return cv2.warpPerspective(mosaic, shift @ t @ offset, (c1 - c0, r1 - r0),
                                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    if max(c1 - c0, r1 - r0) >= 32:
        if c1 - c0 >= r1 - r0:
            mid = (c0 + c1) // 2
            return np.concatenate([_warp_window(tile, level, t, c0, r0, mid, r1),
                                   _warp_window(tile, level, t, mid, r0, c1, r1)], axis=1)
        mid = (r0 + r1) // 2
        return np.concatenate([_warp_window(tile, level, t, c0, r0, c1, mid),
                               _warp_window(tile, level, t, c0, mid, c1, r1)], axis=0)
    # A small window that still sees a huge stretch of ground (a grazing view): wrap per-pixel coordinates.
    xs = np.arange(c0, c1, dtype=np.float64)
    ys = np.arange(r0, r1, dtype=np.float64)[:, None]
    wq = t[2, 0] * xs + t[2, 1] * ys + t[2, 2]
    mx = ((t[0, 0] * xs + t[0, 1] * ys + t[0, 2]) / wq) % size
    my = ((t[1, 0] * xs + t[1, 1] * ys + t[1, 2]) / wq) % size
    return _lookup(tile, level, mx.astype(np.float32), my.astype(np.float32))


def sample(tile: Tile, x_m: np.ndarray, y_m: np.ndarray, *, gsd_m: float, scale: float = 1.0) -> np.ndarray | None:
    """The tile's value at ground points (metres east/north of the tile's anchor), mip-mapped for ``gsd_m``.

    None when even the coarsest level is much finer than a pixel (it would average out to zero).
    """
    level = tile.level_for(gsd_m / scale)
    if level is None:
        return None
    size = tile.levels[level].shape[0]
    texel = tile.texel_m * scale * 2**level
    mx = np.asarray(x_m, np.float32) * np.float32(1.0 / texel)
    my = np.asarray(y_m, np.float32) * np.float32(-1.0 / texel)
    # Reduce to one period first: remap's wrapping border is many times slower than in-range lookups.
    for m in (mx, my):
        q = m * np.float32(1.0 / size)
        np.floor(q, out=q)
        q *= np.float32(size)
        m -= q
    return _lookup(tile, level, mx, my)


def _lookup(tile: Tile, level: int, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """Bilinear lookup at texel coordinates already reduced to one period."""
    return cv2.remap(tile.padded[level], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
