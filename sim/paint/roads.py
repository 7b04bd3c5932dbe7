"""Road material: asphalt and the lane markings, batched into one mask per frame."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

from sim.paint.raster import (
    _rgb,
)
from sim.world import WorldObject

if TYPE_CHECKING:
    from sim.paint.painter import Painter


def paint_road(painter: Painter, o: WorldObject) -> None:
    painter.fill(o.polygon, lambda roi: painter.varied(_rgb(84, 85, 88), roi, macro=0.05, meso=0.06, micro=0.08, ch=0))
    # Markings go into one frame-wide mask, blended once after the last road (flush_marks); this
    # road's surface first wipes the marks of roads painted before it, as painting them in turn would.
    if painter.marks is None:
        painter.marks = np.zeros((painter.h, painter.w), np.uint8)
    rings = painter.rings_px(o.polygon)
    if all(np.all(np.isfinite(r)) for r in rings):
        cv2.fillPoly(painter.marks, [np.round((r - 0.5) * 16).astype(np.int32) for r in rings], 0, cv2.LINE_8, 4)
    marks = [r for r in (painter.px(p) for p in road_marks(painter, o)) if np.all(np.isfinite(r))]
    if marks:
        cv2.fillPoly(painter.marks, [np.round((r - 0.5) * 16).astype(np.int32) for r in marks], 255, cv2.LINE_AA, 4)


def road_marks(painter: Painter, o: WorldObject) -> list[np.ndarray]:
    """Edge lines and (on main roads) a dashed centre line, as UTM rectangles inside the view window."""
    cx, cy, ang, length, width = painter.frame_of(o)
    a = math.radians(ang)
    ux, uy, vx, vy = math.cos(a), math.sin(a), -math.sin(a), math.cos(a)
    wx0, wy0, wx1, wy1 = painter.view.window_m
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
