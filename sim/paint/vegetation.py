"""Trees: crowns with their shadows."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

from sim.paint.raster import (
    _blend,
    _mask,
    _rgb,
    _roi,
    _shade,
    _soft,
)
from sim.world import WorldObject

if TYPE_CHECKING:
    from sim.paint.painter import Painter


def tree_shadow(painter: Painter, o: WorldObject) -> None:
    """A crown's shadow: the crown outline swept from its lower to its upper height along the sun."""
    sx, sy = painter.shadow_vec
    ring = np.asarray(o.polygon.exterior.coords)[:-1]
    h = o.height_m
    pts = np.vstack([ring + np.array([sx * h * 0.45, sy * h * 0.45]), ring + np.array([sx * h, sy * h]),
                     ring[::3] * 0.15 + ring.mean(axis=0) * 0.85])
    px = painter.px(pts)
    if not np.all(np.isfinite(px)):
        return
    hull = cv2.convexHull(px.astype(np.float32)).reshape(-1, 2).astype(float)
    painter.darken([hull], 0.42, soften_px=min(4.0, 0.3 / painter.gsd))


def paint_tree(painter: Painter, o: WorldObject) -> None:
    rng = painter.rng(o)
    col = _rgb(*rng.choice([(44, 76, 34), (56, 92, 38), (70, 102, 44), (38, 64, 32), (60, 84, 40), (74, 96, 48)]))
    c0 = o.polygon.centroid
    radius = math.sqrt(o.polygon.area / math.pi)
    # Crowns are drawn a little above the ground (their lean in off-nadir views), not at the treetop.
    top = o.height_m * 0.5
    sx, sy = painter.sun.towards
    rings = painter.rings_px(painter.cached_geom(o, "crown", lambda p: p.buffer(radius * 0.12)), top)
    if any(not np.all(np.isfinite(r)) for r in rings):
        return
    soft_px = max(0.5, 0.35 * radius / painter.gsd * 0.25)
    roi = _roi(rings, painter.w, painter.h, 1 + 3 * soft_px)
    if roi is None:
        return
    cover = _soft(_mask(roi, rings), soft_px)
    u, v = painter.local(roi, z=top, origin=(c0.x, c0.y), angle_deg=0.0)
    leaves = painter.noise("meso", roi, (o.style % 3))
    # Leafy outline: the soft crown mask cut by clumpy noise.
    cover = np.clip((cover - 0.5) * 2.5 + 0.5 + 0.3 * leaves, 0.0, 1.0)
    r2 = (u * u + v * v) / (radius * radius)
    lit = (u * sx + v * sy) / radius
    shade = np.clip(1.05 - 0.35 * r2 + 0.25 * lit, 0.45, 1.3)
    clumps = 1.0 + 0.2 * painter.noise("micro", roi, 0) + 0.15 * leaves
    _blend(painter.canvas[roi.sl], _shade(col, shade * clumps, roi.shape), cover)
