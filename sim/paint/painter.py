"""The painter: fills the world's polygons into a raster through a view, in scene order.

Each object is drawn by its material (:data:`sim.paint.materials.MATERIALS`); this module owns
the frame-wide noise fields, projection helpers, generic fills, shadows and walls, and the order
in which land, water, roads, shadows, structures, trees, veils and fire are laid down."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import cv2
import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

from sim import texture
from sim.paint.land import site_shadows
from sim.paint.materials import MATERIALS
from sim.paint.raster import (
    _blend,
    _blocks,
    _c3,
    _grid,
    _lerp,
    _mask,
    _mask8,
    _mul,
    _ones,
    _rgb,
    _rings,
    _Roi,
    _roi,
    _shade,
    _soft,
    _translation,
)
from sim.paint.structures import paint_rooftop_addition
from sim.paint.vegetation import paint_tree, tree_shadow
from sim.paint.veils import paint_open_fire
from sim.paint.view import Sun, View
from sim.world import World, WorldObject

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


class Painter:
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
            MATERIALS[o.kind](self, o)
        self.flush_marks()
        raised = [o for o in objs if o.kind in _STRUCTURES or o.kind == "tree"]
        for o in raised:
            if o.kind == "tree":
                tree_shadow(self, o)
            else:
                self.shadow(o.polygon, o.height_m, strength=0.5)
        for o in flat:
            if o.kind == "construction_site":
                site_shadows(self, o)
        children: dict[str, list[WorldObject]] = {}
        for o in objs:
            if o.kind == "rooftop_addition" and o.parent_id:
                children.setdefault(o.parent_id, []).append(o)
        for o in sorted((o for o in objs if o.kind in _STRUCTURES), key=lambda o: (o.height_m, o.id)):
            MATERIALS[o.kind](self, o)
            for child in children.pop(o.id, []):
                paint_rooftop_addition(self, child)
        for orphans in children.values():
            for child in orphans:
                paint_rooftop_addition(self, child)
        for o in objs:
            if o.kind == "tree":
                paint_tree(self, o)
        for o in objs:
            if o.kind in _VEILS:
                MATERIALS[o.kind](self, o)
        for o in objs:
            if o.kind == "open_fire":
                paint_open_fire(self, o)
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

    def varied(self, base: np.ndarray, roi: _Roi, *, macro: float = 0.06, meso: float = 0.08, micro: float = 0.06,
                ch: int = 0) -> np.ndarray:
        k: np.ndarray | float = 1.0
        for name, weight in (("macro", macro), ("meso", meso), ("micro", micro)):
            n = self.noise(name, roi, ch)
            if isinstance(n, np.ndarray):
                k = cv2.addWeighted(n, weight, k, 1.0, 0.0) if isinstance(k, np.ndarray) else cv2.scaleAdd(n, weight, _ones(n.shape))
        return _shade(base, k, roi.shape)

    def tracks(self, o: WorldObject, n: int) -> list[np.ndarray]:
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

    def draw_tracks(self, col: np.ndarray, roi: _Roi, tracks: list[np.ndarray], colour: np.ndarray) -> None:
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

    def cached_geom(self, o: WorldObject, name: str, make: Callable[[Polygon], Polygon]) -> Polygon:
        key = (name, o.id)
        cache = self.world._cache
        if key not in cache:
            g = make(self.world.by_id.get(o.id, o).polygon)
            if g.geom_type == "MultiPolygon":
                g = max(g.geoms, key=lambda p: p.area)
            cache[key] = g
        return cache[key]

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


def paint(world: World, view: View, at: datetime, sun: Sun) -> np.ndarray:
    """Albedo-and-shading raster (float32 RGB, ~0..1) of the world state at ``at`` through ``view``."""
    return Painter(world, view, at, sun).paint()
