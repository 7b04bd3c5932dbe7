"""Buildings and what stands on them: concrete and red-tile roofs, greenhouses, steel sheds, rooftop additions."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np
from shapely.geometry import Polygon

from sim.paint.raster import (
    _blend,
    _const,
    _line,
    _mul,
    _rgb,
    _Roi,
    _roi,
    _stripe,
)
from sim.world import WorldObject, rect

if TYPE_CHECKING:
    from sim.paint.painter import Painter


def _roof_style(painter: Painter, o: WorldObject) -> tuple[str, np.ndarray]:
    key = ("roof", o.id)
    cache = painter.world._cache
    if key not in cache:
        cache[key] = _pick_roof(painter, o)
    return cache[key]


def _pick_roof(painter: Painter, o: WorldObject) -> tuple[str, np.ndarray]:
    rng = painter.rng(o, 3)
    kind = str(rng.choice(["flat", "flat", "flat", "flat", "flat", "dark", "white", "gable"]))
    col = {
        "flat": _rgb(*rng.choice([(172, 170, 162), (178, 168, 150), (150, 150, 150), (160, 162, 154), (186, 180, 168)])),
        "dark": _rgb(*rng.choice([(96, 96, 102), (110, 104, 100)])),
        "white": _rgb(214, 214, 208),
        "gable": _rgb(*rng.choice([(92, 92, 98), (118, 108, 102), (84, 96, 104)])),
    }[kind]
    return kind, col


def paint_building(painter: Painter, o: WorldObject) -> None:
    kind, col = _roof_style(painter, o)
    cx, cy, ang, length, width = painter.frame_of(o)
    top = o.base_z_m + o.height_m
    painter.walls(o.polygon, base_z=o.base_z_m, top_z=top, colour=_rgb(196, 190, 178))
    sx, sy = painter.sun.towards
    a = math.radians(ang)
    # Sun component across the roof's short axis shades the two halves of a gable roof.
    across = -sx * math.sin(a) + sy * math.cos(a)

    def colour(roi: _Roi) -> np.ndarray:
        c = painter.varied(col, roi, macro=0.03, meso=0.08, micro=0.05, ch=1)
        u, v = painter.local(roi, z=top, origin=(cx, cy), angle_deg=ang)
        if kind == "gable":
            c = _mul(c, 1.0 + 0.12 * np.sign(v) * across + 0.05 * _stripe(v, 0.3, painter.gsd))
            _blend(c, col * 1.25, _line(v, 0.15, painter.gsd))
        else:
            edge = np.minimum(length / 2 - np.abs(u), width / 2 - np.abs(v))
            _blend(c, col * 0.72, _line(edge - 0.15, 0.13, painter.gsd))
            stain = painter.noise("macro", roi, 2)
            if isinstance(stain, np.ndarray):
                c = _mul(c, 1.0 - 0.05 * np.clip(stain, 0, 2))
        return c

    painter.fill(o.polygon, colour, z=top)
    if kind in ("flat", "white", "dark"):
        roof_items(painter, o, top)


def roof_items(painter: Painter, o: WorldObject, top: float) -> None:
    key = ("roof_items", o.id)
    cache = painter.world._cache
    if key not in cache:
        o = painter.world.by_id.get(o.id, o)
        rng = painter.rng(o, 5)
        cx, cy, ang, length, width = painter.frame_of(o)
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
    if painter.gsd > 0.4:
        return
    items = cache[key]
    if not items:
        return
    _, roof_col = _roof_style(painter, o)
    sx, sy = painter.shadow_vec
    hulls = []
    for poly, h, _ in items:
        base = np.asarray(poly.exterior.coords)[:-1]
        pts = np.vstack([painter.px(base, top), painter.px(base + np.array([sx * h, sy * h]), top)])
        if np.all(np.isfinite(pts)):
            hulls.append(cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(float))
    if hulls:
        painter.darken(hulls, 0.4)
    tops = []
    for poly, h, col in items:
        c = roof_col * 1.04 if col is None else col
        if h > 2:
            painter.walls(poly, base_z=top, top_z=top + h, colour=c * 0.9)
        tops.append((painter.rings_px(poly, top + h)[0], c))
    paint_polys(painter, tops, background=roof_col)


def paint_polys(painter: Painter, items: list[tuple[np.ndarray, np.ndarray]], *, background: np.ndarray) -> None:
    """Several small flat-coloured pixel polygons in one blend (AA edges fade toward ``background``)."""
    items = [(r, c) for r, c in items if np.all(np.isfinite(r))]
    if not items:
        return
    roi = _roi([r for r, _ in items], painter.w, painter.h)
    if roi is None:
        return
    colour = _const(roi.shape, background)
    cover = np.zeros(roi.shape, np.uint8)
    for ring, c in items:
        fixed = [np.round((ring - (roi.x0 + 0.5, roi.y0 + 0.5)) * 16).astype(np.int32)]
        cv2.fillPoly(colour, fixed, tuple(float(v) for v in c), cv2.LINE_8, 4)
        cv2.fillPoly(cover, fixed, 255, cv2.LINE_AA, 4)
    _blend(painter.canvas[roi.sl], colour, cover.astype(np.float32) * np.float32(1.0 / 255.0))


def paint_red_roof(painter: Painter, o: WorldObject) -> None:
    rng = painter.rng(o, 3)
    col = _rgb(*rng.choice([(172, 76, 54), (160, 70, 52), (186, 92, 60), (150, 62, 48), (196, 104, 70)]))
    cx, cy, ang, length, width = painter.frame_of(o)
    top = o.base_z_m + o.height_m
    painter.walls(o.polygon, base_z=o.base_z_m, top_z=top, colour=_rgb(204, 196, 182))
    sx, sy = painter.sun.towards
    a = math.radians(ang)
    su = sx * math.cos(a) + sy * math.sin(a)
    sv = -sx * math.sin(a) + sy * math.cos(a)

    def colour(roi: _Roi) -> np.ndarray:
        c = painter.varied(col, roi, macro=0.03, meso=0.06, micro=0.06, ch=2)
        u, v = painter.local(roi, z=top, origin=(cx, cy), angle_deg=ang)
        # Hip roof: end facets where |u| beyond the ridge, side facets elsewhere.
        ridge_half = max(0.0, length / 2 - width / 2)
        end = (np.abs(u) - ridge_half) > np.abs(v)
        facet = np.where(end, np.sign(u) * su, np.sign(v) * sv)
        rows = np.where(end, _stripe(u, 0.28, painter.gsd), _stripe(v, 0.28, painter.gsd))
        c = _mul(c, 1.0 + 0.13 * facet + 0.08 * rows)
        ridge = _line(v, 0.12, painter.gsd) * (np.abs(u) <= ridge_half)
        hips = _line((np.abs(u) - ridge_half) - np.abs(v), 0.1, painter.gsd) * (np.abs(u) > ridge_half)
        _blend(c, col * 1.25, np.maximum(ridge, hips))
        return c

    painter.fill(o.polygon, colour, z=top)


def paint_greenhouse(painter: Painter, o: WorldObject) -> None:
    cx, cy, ang, _length, width = painter.frame_of(o)
    top = o.height_m
    painter.walls(o.polygon, base_z=0, top_z=top, colour=_rgb(200, 206, 200))

    def colour(roi: _Roi) -> np.ndarray:
        u, v = painter.local(roi, z=top, origin=(cx, cy), angle_deg=ang)
        arch = 0.82 + 0.18 * np.cos(np.clip(v / max(width / 2, 1), -1, 1) * 1.4)
        ribs = 1.0 - 0.12 * np.maximum(_stripe(u, 1.2, painter.gsd), 0)
        base = painter.varied(_rgb(214, 220, 214), roi, meso=0.04, micro=0.03, ch=0)
        return _mul(base, arch * ribs)

    painter.fill(o.polygon, colour, z=top)


def _steel(painter: Painter, roi: _Roi, *, obj_frame: tuple[float, float, float, float, float], z: float, col: np.ndarray,
           gable: bool, rib_m: float) -> np.ndarray:
    cx, cy, ang, _length, width = obj_frame
    u, v = painter.local(roi, z=z, origin=(cx, cy), angle_deg=ang)
    sx, sy = painter.sun.towards
    a = math.radians(ang)
    sv = -sx * math.sin(a) + sy * math.cos(a)
    c = painter.varied(col, roi, macro=0.02, meso=0.04, micro=0.03, ch=0)
    facet = np.sign(v) * sv if gable else np.full_like(v, 0.5 * sv)
    ribs = _stripe(u, rib_m, painter.gsd)
    # Trapezoidal sheets: narrow bright crests, wide flat pans.
    crest = np.clip(ribs * 2.2 - 1.0, -1.0, 1.0) if isinstance(ribs, np.ndarray) else 0.0
    c = _mul(c, 1.0 + 0.14 * facet + 0.16 * crest)
    if gable:
        _blend(c, np.minimum(col * 1.3 + 0.08, 1.0), _line(v, 0.15, painter.gsd))
    eave = width / 2 - np.abs(v)
    _blend(c, col * 0.6, _line(eave - 0.08, 0.08, painter.gsd))
    return c


def paint_steel_shed(painter: Painter, o: WorldObject) -> None:
    rng = painter.rng(o, 3)
    col = _rgb(*rng.choice([(38, 98, 176), (52, 116, 190), (30, 78, 150), (74, 134, 196), (40, 98, 176),
                            (226, 228, 232), (206, 212, 218), (40, 110, 170), (150, 58, 44)]))
    gable = bool(rng.uniform() < 0.7)
    rib = float(rng.uniform(0.2, 0.3))
    fr = painter.frame_of(o)
    top = o.base_z_m + o.height_m
    painter.walls(o.polygon, base_z=o.base_z_m, top_z=top, colour=col * 0.8)
    painter.fill(o.polygon, lambda roi: _steel(painter, roi, obj_frame=fr, z=top, col=col, gable=gable, rib_m=rib), z=top)


def paint_rooftop_addition(painter: Painter, o: WorldObject) -> None:
    rng = painter.rng(o, 3)
    material = str(rng.choice(["blue", "blue", "white", "brick", "board"]))
    fr = painter.frame_of(o)
    base, top = o.base_z_m, o.base_z_m + o.height_m
    col = {"blue": _rgb(*rng.choice([(40, 100, 178), (56, 120, 192), (32, 84, 160)])),
           "white": _rgb(226, 228, 230), "brick": _rgb(*rng.choice([(158, 84, 62), (176, 104, 74)])),
           "board": _rgb(128, 140, 150)}[material]
    painter.shadow(o.polygon, o.height_m, base_z=base, strength=0.45)
    painter.walls(o.polygon, base_z=base, top_z=top, colour=col * 0.78)
    if material in ("blue", "white"):
        painter.fill(o.polygon, lambda roi: _steel(painter, roi, obj_frame=fr, z=top, col=col, gable=False, rib_m=0.25), z=top)
    else:
        cx, cy, ang, _, _ = fr

        def colour(roi: _Roi) -> np.ndarray:
            c = painter.varied(col, roi, meso=0.08, micro=0.08, ch=2)
            _u, v = painter.local(roi, z=top, origin=(cx, cy), angle_deg=ang)
            return _mul(c, 1.0 + 0.1 * _stripe(v, 0.3 if material == "brick" else 1.2, painter.gsd))

        painter.fill(o.polygon, colour, z=top)
