"""Veils and fire: haze, steam and smoke (soft, semi-transparent) and open flames with their glow."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np
import shapely

from sim import texture
from sim.paint.raster import (
    _blend,
    _grid,
    _mask,
    _mul,
    _rgb,
    _Roi,
    _roi,
    _shade,
    _soft,
)
from sim.world import WorldObject

if TYPE_CHECKING:
    from sim.paint.painter import Painter


def soft_alpha(painter: Painter, rings: list[np.ndarray], soft_px: float) -> tuple[_Roi, np.ndarray, int] | None:
    """Coverage of a polygon blurred by ``soft_px``, computed on a grid coarsened by f (returned).

    Returns the full-resolution window, the coarse alpha (sample (i, j) at full pixel
    (x0 + f//2 + f·j, y0 + f//2 + f·i), see ``_grid``) and f.
    """
    if any(not np.all(np.isfinite(r)) for r in rings):
        return None
    roi = _roi(rings, painter.w, painter.h, 1 + 3 * soft_px)
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


def upscale(painter: Painter, small: np.ndarray, roi: _Roi, f: int) -> np.ndarray:
    if f == 1:
        return small
    m = np.array([[1.0 / f, 0.0, -(f // 2) / f], [0.0, 1.0 / f, -(f // 2) / f]])
    return cv2.warpAffine(small, m, (roi.shape[1], roi.shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _veil(painter: Painter, o: WorldObject, *, col: np.ndarray, strength: float, soft_m: float, turbulence: float,
          shadow_height_m: float = 0.0) -> None:
    cx, cy, ang, _length, _width = painter.frame_of(o)
    soft_px = soft_m / painter.gsd
    if shadow_height_m > 0:
        sx, sy = painter.shadow_vec
        moved = shapely.affinity.translate(o.polygon, sx * shadow_height_m, sy * shadow_height_m)
        got = soft_alpha(painter, painter.rings_px(moved), soft_px)
        if got is not None:
            roi, a, f = got
            a = upscale(painter, a * np.float32(strength * 0.45), roi, f)
            region = painter.canvas[roi.sl]
            region[:] = _mul(np.ascontiguousarray(region), 1.0 - a)
    got = soft_alpha(painter, painter.rings_px(o.polygon), soft_px)
    if got is None:
        return
    roi, alpha, f = got
    m = painter.local_h(z=0.0, origin=(cx, cy), angle_deg=ang) @ painter.view.h0 @ _grid(roi.x0, roi.y0, f)
    wisps = texture.sample_warped(texture.meso_tile(), m, alpha.shape[1], alpha.shape[0], gsd_m=painter.gsd * f, scale=8.0)
    if wisps is not None:
        alpha = alpha * np.clip(1.0 + turbulence * wisps[..., 0] + 0.5 * turbulence * wisps[..., 1], 0.2, 1.8)
    alpha = upscale(painter, np.clip(alpha * np.float32(strength), 0, 0.97), roi, f)
    _blend(painter.canvas[roi.sl], col, alpha)


def paint_smoke(painter: Painter, o: WorldObject) -> None:
    rng = painter.rng(o)
    col = _rgb(*rng.choice([(205, 205, 200), (176, 176, 172), (140, 140, 138), (118, 116, 114), (190, 188, 182)]))
    _, _, _, _length, width = painter.frame_of(o)
    _veil(painter, o, col=col, strength=float(rng.uniform(0.6, 0.85)), soft_m=max(0.8, width * 0.12),
               turbulence=0.45, shadow_height_m=float(rng.uniform(6, 14)))


def paint_steam(painter: Painter, o: WorldObject) -> None:
    _, _, _, _length, width = painter.frame_of(o)
    _veil(painter, o, col=_rgb(244, 246, 248), strength=0.9, soft_m=max(0.5, width * 0.1), turbulence=0.25,
               shadow_height_m=12.0)


def paint_haze(painter: Painter, o: WorldObject) -> None:
    _, _, _, _length, width = painter.frame_of(o)
    _veil(painter, o, col=_rgb(214, 220, 226), strength=0.3, soft_m=max(1.0, width * 0.25), turbulence=0.3)


def paint_open_fire(painter: Painter, o: WorldObject) -> None:
    rng = painter.rng(o)
    radius = math.sqrt(o.polygon.area / math.pi)
    rings = painter.rings_px(o.polygon)
    if any(not np.all(np.isfinite(r)) for r in rings):
        return
    glow_px = 1.2 * radius / painter.gsd
    roi = _roi(rings, painter.w, painter.h, 1 + 3 * glow_px)
    if roi is None:
        return
    mask = _mask(roi, rings)
    region = painter.canvas[roi.sl]
    # Charred ground and embers just around the flames, then the flames, then the glow.
    char = _soft(mask, max(0.7, 0.5 / painter.gsd))
    _blend(region, _rgb(40, 30, 24), np.clip(char * 1.6, 0, 0.85))
    heat = _soft(mask, max(0.6, 0.3 * radius / painter.gsd))
    flames = painter.tile(texture.macro_tile(), roi, origin=(o.style % 1000, 0.0), scale=0.04)
    wobble = 0.0 if flames is None else cv2.GaussianBlur(flames[..., 0], (0, 0), 2.0)
    heat = np.clip(heat * (1.0 + 0.35 * wobble) * float(rng.uniform(1.15, 1.45)), 0, 1.2)
    stops = np.array([0.0, 0.25, 0.5, 0.75, 0.95, 1.2], np.float32)
    ramp = np.array([(120, 24, 8), (220, 70, 14), (255, 128, 24), (255, 190, 60), (255, 236, 150), (255, 252, 228)],
                    np.float32) / 255
    colour = cv2.merge([np.interp(heat, stops, ramp[:, k]).astype(np.float32) for k in range(3)])
    _blend(region, colour, np.clip(heat * 2.2 - 0.15, 0, 1))
    glow = _soft(mask, glow_px)
    region += _shade(_rgb(255, 130, 40) * 0.5, glow, roi.shape)
