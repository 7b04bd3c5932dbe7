"""Flat land-cover materials: yards, fields, bare and covered soil, burn scars, dumps and construction sites."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry import Polygon

from sim import texture
from sim.paint.raster import (
    _blend,
    _lerp,
    _line,
    _mul,
    _rgb,
    _Roi,
    _shade,
    _soft,
    _stripe,
)
from sim.world import WorldObject, blob, rect

if TYPE_CHECKING:
    from sim.paint.painter import Painter


def paint_yard(painter: Painter, o: WorldObject) -> None:
    cx, cy, ang, _, _ = painter.frame_of(o)

    def colour(roi: _Roi) -> np.ndarray:
        col = painter.varied(_rgb(158, 156, 148), roi, meso=0.1, micro=0.05, ch=1)
        u, v = painter.local(roi, z=0, origin=(cx, cy), angle_deg=ang)
        joints = np.maximum(_line(np.mod(u, 6.0) - 3.0, 0.05, painter.gsd), _line(np.mod(v, 6.0) - 3.0, 0.05, painter.gsd))
        # Joints are at the cell centre offset; flip so lines sit on the 6 m grid.
        return _mul(col, 1.0 - 0.15 * joints)

    painter.fill(o.polygon, colour)


def paint_field(painter: Painter, o: WorldObject) -> None:
    cx, cy, ang, _, _ = painter.frame_of(o)
    rng = painter.rng(o)
    period = float(rng.uniform(0.7, 1.6))
    crop_frac = float(rng.choice([0.55, 0.8, 1.0]))
    crop = _rgb(*rng.choice([(70, 120, 50), (95, 140, 60), (60, 105, 55), (120, 150, 70)]))
    soil = _rgb(125, 100, 72)

    def colour(roi: _Roi) -> np.ndarray:
        _u, v = painter.local(roi, z=0, origin=(cx, cy), angle_deg=ang)
        rows = 0.5 + _stripe(v, period, painter.gsd) * 0.9
        s = np.clip(crop_frac * (0.55 + 0.6 * rows) + 0.1 * painter.noise("meso", roi, 2), 0, 1)
        col = _lerp(s, soil, crop)
        return _mul(col, 1.0 + 0.07 * painter.noise("micro", roi, 1) + 0.05 * painter.noise("macro", roi, 2))

    painter.fill(o.polygon, colour)


def paint_ploughed_field(painter: Painter, o: WorldObject) -> None:
    cx, cy, ang, _, _ = painter.frame_of(o)
    rng = painter.rng(o)
    period = float(rng.uniform(0.45, 0.9))
    soil = _rgb(*rng.choice([(128, 98, 70), (140, 108, 76), (115, 92, 70)]))

    def colour(roi: _Roi) -> np.ndarray:
        _u, v = painter.local(roi, z=0, origin=(cx, cy), angle_deg=ang)
        furrow = 1.0 + 0.18 * _stripe(v, period, painter.gsd)
        col = painter.varied(soil, roi, meso=0.08, micro=0.08, ch=2)
        return _mul(col, furrow)

    painter.fill(o.polygon, colour)


def paint_covered_soil(painter: Painter, o: WorldObject) -> None:
    cx, cy, ang, _, _ = painter.frame_of(o)
    net = _rgb(52, 112, 72)
    soil = _rgb(128, 102, 74)

    def colour(roi: _Roi) -> np.ndarray:
        u, v = painter.local(roi, z=0, origin=(cx, cy), angle_deg=ang + 20)
        mesh = 1.0 + 0.25 * (_stripe(u, 0.08, painter.gsd) + _stripe(v, 0.08, painter.gsd))
        folds = 1.0 + 0.15 * painter.noise("meso", roi, 1) + 0.1 * _stripe(u + 0.3 * v, 2.3, painter.gsd)
        col = _shade(net, mesh * folds, roi.shape)
        gap = painter.noise("meso", roi, 2)
        if isinstance(gap, np.ndarray):
            _blend(col, soil, np.clip((gap - 1.4) * 2.0, 0, 1))
        return col

    painter.fill(o.polygon, colour)


def paint_bare_soil(painter: Painter, o: WorldObject) -> None:
    rng = painter.rng(o)
    soil = _rgb(*rng.choice([(168, 112, 72), (150, 116, 82), (172, 138, 96), (140, 100, 70), (160, 120, 85)]))
    _cx, _cy, _ang, _length, _width = painter.frame_of(o)
    tracks = painter.tracks(o, 3)

    def colour(roi: _Roi) -> np.ndarray:
        col = painter.varied(soil, roi, macro=0.08, meso=0.14, micro=0.1, ch=2)
        weeds = painter.noise("micro", roi, 1)
        patch = painter.noise("meso", roi, 1)
        if isinstance(weeds, np.ndarray) and isinstance(patch, np.ndarray):
            grassy = np.clip((weeds - 1.3) * 1.5, 0, 1) * np.clip(patch + 0.3, 0, 1)
            _blend(col, _rgb(92, 112, 56), grassy * 0.8)
        painter.draw_tracks(col, roi, tracks, _rgb(120, 88, 60))
        return col

    painter.fill(o.polygon, colour, soften_px=min(3.0, 0.3 / painter.gsd))


def paint_burn_scar(painter: Painter, o: WorldObject) -> None:
    rng = painter.rng(o)
    char = _rgb(*rng.choice([(30, 28, 26), (40, 36, 33), (24, 24, 24)]))
    soft = min(3.0, 0.6 / painter.gsd)

    def colour(roi: _Roi) -> np.ndarray:
        col = painter.varied(char, roi, macro=0.1, meso=0.25, micro=0.2, ch=1)
        ash = painter.noise("meso", roi, 0)
        if isinstance(ash, np.ndarray):
            _blend(col, _rgb(105, 102, 98), np.clip((ash - 0.9) * 0.9, 0, 0.7))
        return col

    res = painter.fill(o.polygon, colour, soften_px=soft * 0.5)
    if res is None:
        return
    roi, alpha = res
    # A scorched brown fringe where the fire died out at the edge.
    inner = _soft(alpha, max(1.0, 1.2 / painter.gsd))
    fringe = np.clip(alpha - inner, 0, 1) * 1.6
    _blend(painter.canvas[roi.sl], _rgb(92, 70, 46), np.clip(fringe, 0, 0.8))


def paint_garbage_dump(painter: Painter, o: WorldObject) -> None:
    cx, cy, ang, length, width = painter.frame_of(o)
    rng = painter.rng(o)
    radius = max(width, 1.0) / 2
    # Drawn once per object, not per block: every block must sample the same texture placement.
    shift, turn = float(rng.uniform(0, 50)), float(rng.uniform(0, 360))

    def colour(roi: _Roi) -> np.ndarray:
        clutter = painter.tile(texture.clutter_tile(), roi, origin=(cx + shift, cy), angle_deg=turn)
        base = painter.varied(_rgb(118, 108, 94), roi, meso=0.1, micro=0.1, ch=1)
        if clutter is None:
            col = base
            _blend(col, _rgb(160, 152, 140), 0.4)
        else:
            # Dirt and soil show between the heaped items in places.
            col = clutter
            dirt = painter.noise("meso", roi, 2)
            _blend(col, base, np.clip(0.2 + 0.25 * dirt, 0.0, 0.7) if isinstance(dirt, np.ndarray) else 0.2)
        u, v = painter.local(roi, z=0, origin=(cx, cy), angle_deg=ang)
        r2 = (u / max(length / 2, 1.0)) ** 2 + (v / radius) ** 2
        sx, sy = painter.sun.towards
        a = math.radians(ang)
        slope = (u * (sx * math.cos(a) + sy * math.sin(a)) + v * (-sx * math.sin(a) + sy * math.cos(a))) / max(radius, 1)
        shade = np.clip(1.05 - 0.25 * r2 + 0.15 * slope, 0.6, 1.2)
        return _mul(col, shade)

    painter.fill(o.polygon, colour, soften_px=min(2.0, 0.12 / painter.gsd))


def paint_construction_site(painter: Painter, o: WorldObject) -> None:
    rng = painter.rng(o)
    earth = _rgb(*rng.choice([(176, 128, 86), (160, 120, 84), (186, 146, 100), (150, 108, 74)]))
    tracks = painter.tracks(o, 6)

    cx, cy, ang, _, _ = painter.frame_of(o)

    def colour(roi: _Roi) -> np.ndarray:
        col = painter.varied(earth, roi, macro=0.08, meso=0.14, micro=0.1, ch=0)
        painter.draw_tracks(col, roi, tracks, _rgb(128, 92, 62))
        # Scattered building materials, pallets and debris in patches across the site.
        stuff = painter.tile(texture.clutter_tile(), roi, origin=(cx, cy), angle_deg=ang, scale=1.6)
        patch = painter.noise("meso", roi, 1)
        if stuff is not None and isinstance(patch, np.ndarray):
            _blend(col, stuff, np.clip((patch - 0.9) * 1.5, 0, 0.9))
        return col

    painter.fill(o.polygon, colour)
    for kind, poly, height, col in site_plan(painter, o):
        site_element(painter, o, kind, poly, height, col)
    fence = painter.cached_geom(o, "fence", lambda p: p.difference(p.buffer(-0.5)))
    if not fence.is_empty:
        fc = _rgb(*rng.choice([(40, 96, 176), (56, 128, 78), (220, 222, 220)]))
        painter.fill(fence, lambda roi: painter.varied(fc, roi, meso=0.05, micro=0.05))


def site_plan(painter: Painter, o: WorldObject) -> list[tuple[str, Polygon, float, np.ndarray]]:
    """Deterministic layout inside a construction site: slabs, rebar, machines, piles, huts, crane."""
    key = ("site", o.id)
    cache = painter.world._cache
    if key in cache:
        return cache[key]
    o = painter.world.by_id.get(o.id, o)
    rng = painter.rng(o, 11)
    cx, cy, ang, length, width = painter.frame_of(o)
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


def site_shadows(painter: Painter, o: WorldObject) -> None:
    for kind, poly, height, _ in site_plan(painter, o):
        if kind == "crane":
            # The jib hangs ~25 m up: its shadow falls well away from it.
            sx, sy = painter.shadow_vec
            moved = shapely.affinity.translate(poly, sx * 25, sy * 25)
            painter.darken(painter.rings_px(moved), 0.4)
        elif height > 0:
            painter.shadow(poly, height, strength=0.5)


def site_element(painter: Painter, o: WorldObject, kind: str, poly: Polygon, height: float, col: np.ndarray) -> None:
    cx, cy, ang, _, _ = painter.frame_of(o)
    gsd = painter.gsd
    if kind in ("rebar", "frame", "pit"):
        def colour(roi: _Roi) -> np.ndarray:
            c = painter.varied(col if kind != "pit" else _rgb(140, 100, 70), roi, meso=0.1, micro=0.08, ch=2)
            u, v = painter.local(roi, z=0, origin=(cx, cy), angle_deg=ang)
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

        painter.fill(poly, colour)
    elif kind in ("machine", "hut"):
        painter.fill(poly, lambda roi: painter.varied(col, roi, meso=0.05, micro=0.05), z=height)
        if kind == "machine":
            c = poly.centroid
            rng = np.random.default_rng([o.style, int(c.x * 10) & 0xFFFF])
            th = math.radians(float(rng.uniform(0, 360)))
            arm = rect(c.x + 3.5 * math.cos(th), c.y + 3.5 * math.sin(th), 4.5, 0.6, math.degrees(th))
            painter.fill(arm, col * 0.85, z=height)
            cab = rect(c.x, c.y, 1.8, 1.6, math.degrees(th))
            painter.fill(cab, _rgb(60, 62, 66), z=height + 0.5)
    elif kind == "bars":
        def colour(roi: _Roi) -> np.ndarray:
            u, v = painter.local(roi, z=0, origin=(cx, cy), angle_deg=ang)
            c = painter.varied(col, roi, meso=0.1, micro=0.05)
            return _mul(c, 1.0 + 0.3 * _stripe(u + v, 0.12, gsd))

        painter.fill(poly, colour)
    elif kind == "crane":
        c0 = poly.centroid

        def colour(roi: _Roi) -> np.ndarray:
            u, _ = painter.local(roi, z=0, origin=(c0.x, c0.y), angle_deg=ang)
            lattice = 0.6 + 0.4 * np.abs(_stripe(u, 1.4, gsd))
            return _shade(col, lattice, roi.shape)

        painter.fill(poly, colour, alpha_scale=0.9)
    else:
        painter.fill(poly, lambda roi: painter.varied(col, roi, meso=0.12, micro=0.12), soften_px=min(2.0, 0.2 / gsd))
