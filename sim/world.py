"""The twin's district: a seeded, georeferenced vector world with ground truth over time.

Land cover, roads, water, buildings and trees form the background; violation objects of the
nine taxonomy classes and look-alike distractors each carry a UTM polygon and the interval in
which they exist, so the world has states for change detection and re-inspection.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property

import numpy as np
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box, mapping

from dockpatrol.errors import InvalidInput, NotFound
from dockpatrol.geo import LocalProjection, check_lonlat
from dockpatrol.taxonomy import CLASS_NAMES

DEFAULT_EPOCH = datetime(2026, 1, 5, tzinfo=UTC)
#: Background kinds: drawn, never labelled.
BACKGROUND_KINDS: tuple[str, ...] = ("field", "yard", "river", "pond", "road", "building", "tree")
#: Look-alikes of violation classes (blue pools vs steel roofs, steam/haze vs smoke, red roofs vs
#: fire, muddy water vs discharge, ploughed fields and covered soil vs bare soil, greenhouses).
DISTRACTOR_KINDS: tuple[str, ...] = (
    "pool", "steam", "haze", "red_roof", "muddy_water", "covered_soil", "greenhouse", "ploughed_field",
)
#: Kinds with a height that cast shadows and show walls.
RAISED_KINDS: frozenset[str] = frozenset(
    {"building", "red_roof", "steel_shed", "rooftop_addition", "greenhouse", "tree"}
)
#: Time of day the default demo views are rendered at (noon in Guangdong on the epoch day).
DEMO_OFFSET = timedelta(hours=4)


@dataclass(frozen=True)
class WorldObject:
    """One thing on the ground: UTM polygon, class or kind, and the interval [appears_at, removed_at)."""

    id: str
    kind: str
    polygon: Polygon
    appears_at: datetime
    removed_at: datetime | None
    is_violation: bool
    height_m: float = 0.0
    base_z_m: float = 0.0
    style: int = 0
    parent_id: str | None = None

    def present_at(self, at: datetime) -> bool:
        """True while the object exists at ``at``."""
        return self.appears_at <= at and (self.removed_at is None or at < self.removed_at)


@dataclass(frozen=True)
class World:
    """A generated district: its projection, objects and the parameters that reproduce it."""

    seed: int
    center_lon: float
    center_lat: float
    size_m: float
    epoch: datetime
    projection: LocalProjection
    objects: tuple[WorldObject, ...]
    ground_amsl_m: float = 8.0
    _cache: dict = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def generate(
        cls, *, seed: int, center_lon: float = 113.15, center_lat: float = 23.03, size_m: float = 2000.0,
        epoch: datetime = DEFAULT_EPOCH,
    ) -> World:
        """Build the district deterministically from ``seed`` around (center_lon, center_lat)."""
        check_lonlat(center_lon, center_lat, where="world centre")
        if not 200.0 <= size_m <= 10_000.0:
            raise InvalidInput(f"world size_m must be within 200..10000 m, got {size_m}")
        if epoch.tzinfo is None:
            raise InvalidInput("world epoch must be timezone-aware (UTC)")
        projection = LocalProjection.around(center_lon, center_lat)
        cx, cy = (float(v) for v in projection.to_metric(center_lon, center_lat))
        objects = _Builder(seed=seed, cx=cx, cy=cy, size_m=size_m, epoch=epoch).build()
        return cls(seed, center_lon, center_lat, size_m, epoch, projection, tuple(objects))

    @cached_property
    def center_m(self) -> tuple[float, float]:
        x, y = self.projection.to_metric(self.center_lon, self.center_lat)
        return float(x), float(y)

    @cached_property
    def bounds_array(self) -> np.ndarray:
        """(n, 4) minx, miny, maxx, maxy of every object, for fast window queries."""
        if not self.objects:
            return np.zeros((0, 4))
        return np.array([o.polygon.bounds for o in self.objects], dtype=float)

    @cached_property
    def by_id(self) -> dict[str, WorldObject]:
        return {o.id: o for o in self.objects}

    def get(self, object_id: str) -> WorldObject | None:
        return self.by_id.get(object_id)

    def require(self, object_id: str) -> WorldObject:
        obj = self.get(object_id)
        if obj is None:
            raise NotFound(f"world object {object_id!r} does not exist")
        return obj

    def objects_in(self, bounds_m: tuple[float, float, float, float]) -> list[WorldObject]:
        """Objects whose bounding box meets the UTM window (minx, miny, maxx, maxy), in world order."""
        b = self.bounds_array
        if len(b) == 0:
            return []
        hit = (b[:, 0] <= bounds_m[2]) & (b[:, 2] >= bounds_m[0]) & (b[:, 1] <= bounds_m[3]) & (b[:, 3] >= bounds_m[1])
        return [self.objects[i] for i in np.flatnonzero(hit)]

    def violations_at(self, at: datetime) -> list[WorldObject]:
        """Violation objects that exist at ``at``."""
        return [o for o in self.objects if o.is_violation and o.present_at(at)]

    def with_removed(self, object_id: str, at: datetime) -> World:
        """The same world in which ``object_id`` was removed (fixed) at ``at``."""
        obj = self.require(object_id)
        if at.tzinfo is None:
            raise InvalidInput("removal time must be timezone-aware (UTC)")
        if at < obj.appears_at:
            raise InvalidInput(f"object {object_id} appears at {obj.appears_at.isoformat()}, cannot be removed before")
        removed_at = at if obj.removed_at is None else min(at, obj.removed_at)
        objects = tuple(replace(o, removed_at=removed_at) if o.id == object_id else o for o in self.objects)
        return replace(self, objects=objects, _cache={})

    def to_geojson(self) -> dict:
        """Every object as a lon/lat GeoJSON Feature with class, violation flag and epoch interval."""
        features = []
        for o in self.objects:
            features.append({
                "type": "Feature",
                "id": o.id,
                "geometry": mapping(_to_lonlat_polygon(o.polygon, self.projection)),
                "properties": {
                    "id": o.id,
                    "class": o.kind,
                    "is_violation": o.is_violation,
                    "appears_at": o.appears_at.isoformat(),
                    "removed_at": o.removed_at.isoformat() if o.removed_at else None,
                    "height_m": round(o.height_m, 2),
                    "base_z_m": round(o.base_z_m, 2),
                    "parent_id": o.parent_id,
                },
            })
        return {
            "type": "FeatureCollection",
            "properties": {
                "generator": "dockpatrol.sim.world",
                "synthetic": True,
                "seed": self.seed,
                "center": [self.center_lon, self.center_lat],
                "size_m": self.size_m,
                "epoch": self.epoch.isoformat(),
                "crs_metric": f"EPSG:{self.projection.epsg}",
            },
            "features": features,
        }

    def hotspots(self, *, at: datetime | None = None, cell_m: float = 40.0, limit: int = 10) -> list[tuple[float, float]]:
        """(lon, lat) of points with many distinct violation classes present at ``at`` (default: demo time)."""
        at = at or self.epoch + DEMO_OFFSET
        cells: dict[tuple[int, int], set[str]] = {}
        counts: dict[tuple[int, int], int] = {}
        for o in self.violations_at(at):
            c = o.polygon.centroid
            # Each object votes for its cell and the neighbours so clusters across cell borders count.
            ix, iy = math.floor(c.x / cell_m), math.floor(c.y / cell_m)
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    key = (ix + dx, iy + dy)
                    cells.setdefault(key, set()).add(o.kind)
                    counts[key] = counts.get(key, 0) + (2 if dx == dy == 0 else 1)
        ranked = sorted(cells, key=lambda k: (-len(cells[k]), -counts[k], k))[:limit]
        out = []
        for ix, iy in ranked:
            lon, lat = self.projection.to_lonlat((ix + 0.5) * cell_m, (iy + 0.5) * cell_m)
            out.append((float(lon), float(lat)))
        return out


def _to_lonlat_polygon(poly: Polygon, projection: LocalProjection) -> Polygon:
    def ring(coords: Iterable) -> list[tuple[float, float]]:
        xy = np.asarray(coords, dtype=float)
        lon, lat = projection.to_lonlat(xy[:, 0], xy[:, 1])
        return [(round(float(a), 8), round(float(b), 8)) for a, b in zip(lon, lat, strict=True)]

    return Polygon(ring(poly.exterior.coords), [ring(i.coords) for i in poly.interiors])


def blob(cx: float, cy: float, radius_m: float, rng: np.random.Generator, *, n: int = 28,
         roughness: float = 0.25, elongation: float = 1.0, angle_deg: float = 0.0) -> Polygon:
    """An irregular closed outline around (cx, cy): a circle with a few random harmonics."""
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    r = np.ones(n)
    for k in range(2, 6):
        r += roughness / k * rng.uniform(0.4, 1.0) * np.cos(k * t + rng.uniform(0, 2 * math.pi))
    r = np.maximum(r, 0.35) * radius_m
    x, y = r * np.cos(t) * elongation, r * np.sin(t) / elongation
    a = math.radians(angle_deg)
    xs, ys = cx + x * math.cos(a) - y * math.sin(a), cy + x * math.sin(a) + y * math.cos(a)
    return Polygon(np.column_stack([xs, ys])).buffer(0)


def rect(cx: float, cy: float, w: float, h: float, angle_deg: float) -> Polygon:
    """A w × h rectangle centred on (cx, cy), its w side turned angle_deg counter-clockwise from east."""
    a = math.radians(angle_deg)
    ux, uy = math.cos(a), math.sin(a)
    vx, vy = -uy, ux
    pts = [(cx + sx * w / 2 * ux + sy * h / 2 * vx, cy + sx * w / 2 * uy + sy * h / 2 * vy)
           for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    return Polygon(pts)


def plume(x0: float, y0: float, *, length_m: float, width_m: float, angle_deg: float,
          rng: np.random.Generator) -> Polygon:
    """A drifting plume from (x0, y0): narrow at the source, widening and wavering downwind."""
    n = 14
    s = np.linspace(0.0, 1.0, n)
    half = width_m / 2 * (0.18 + 0.82 * np.sqrt(s)) * (1 + 0.15 * rng.standard_normal(n))
    bend = length_m * 0.08 * np.sin(s * math.pi * rng.uniform(0.5, 1.5) + rng.uniform(0, 6.28))
    xs = s * length_m
    upper = np.column_stack([xs, bend + half])
    lower = np.column_stack([xs, bend - np.abs(half[::-1][::-1]) * rng.uniform(0.8, 1.1)])
    pts = np.vstack([lower, upper[::-1]])
    poly = Polygon(pts).buffer(width_m * 0.08).buffer(0)
    poly = affinity.rotate(poly, angle_deg, origin=(0, 0))
    return affinity.translate(poly, x0, y0)


def _overlap_in_time(o: WorldObject, appears_at: datetime, removed_at: datetime | None) -> bool:
    """True when an object and an interval [appears_at, removed_at) share a moment (None: never removed)."""
    return (removed_at is None or o.appears_at < removed_at) and (o.removed_at is None or appears_at < o.removed_at)


class _Builder:
    """Lays out one district; all randomness comes from one seeded generator, in a fixed order."""

    def __init__(self, *, seed: int, cx: float, cy: float, size_m: float, epoch: datetime) -> None:
        self.rng = np.random.default_rng([seed, 20260105])
        self.cx, self.cy, self.size, self.epoch = cx, cy, size_m, epoch
        self.objects: list[WorldObject] = []
        self.counter = 0
        self.half = size_m / 2
        self.extent = box(cx - self.half, cy - self.half, cx + self.half, cy + self.half)
        self.grid_deg = float(self.rng.uniform(-25, 25))
        self.area_km2 = (size_m / 1000.0) ** 2
        self.past = epoch - timedelta(days=3650)

    def add(self, kind: str, poly: Polygon, *, appears_at: datetime | None = None,
            removed_at: datetime | None = None, height_m: float = 0.0, base_z_m: float = 0.0,
            parent_id: str | None = None) -> WorldObject | None:
        poly = poly.intersection(self.extent) if not self.extent.contains(poly) else poly
        if poly.is_empty or poly.area < 0.5:
            return None
        if poly.geom_type != "Polygon":
            poly = max(getattr(poly, "geoms", [poly]), key=lambda g: g.area)
            if poly.geom_type != "Polygon":
                return None
        self.counter += 1
        prefix = kind.replace("_", "")[:4]
        obj = WorldObject(
            id=f"{prefix}-{self.counter:05d}", kind=kind, polygon=poly,
            appears_at=appears_at or self.past, removed_at=removed_at,
            is_violation=kind in CLASS_NAMES, height_m=round(height_m, 2), base_z_m=round(base_z_m, 2),
            style=int(self.rng.integers(0, 2**31 - 1)), parent_id=parent_id,
        )
        self.objects.append(obj)
        return obj

    # -- layout ---------------------------------------------------------------------------------

    def to_world(self, u: float, v: float) -> tuple[float, float]:
        a = math.radians(self.grid_deg)
        return (self.cx + u * math.cos(a) - v * math.sin(a), self.cy + u * math.sin(a) + v * math.cos(a))

    def grid_rect(self, u0: float, v0: float, u1: float, v1: float) -> Polygon:
        return Polygon([self.to_world(u, v) for u, v in ((u0, v0), (u1, v0), (u1, v1), (u0, v1))])

    def build(self) -> list[WorldObject]:
        rng = self.rng
        river = self._river()
        water_keepout = river.buffer(10.0)
        span = self.half * 1.5
        # Main roads every ~300 m, local roads inside each main block.
        main_u = self._lines(-span, span, 280, 360)
        main_v = self._lines(-span, span, 280, 360)
        blocks: list[tuple[Polygon, float]] = []
        for u in main_u:
            self.add("road", self._road(u, -span, u, span, 14.0))
        for v in main_v:
            self.add("road", self._road(-span, v, span, v, 14.0))
        for ua, ub in itertools.pairwise(main_u):
            for va, vb in itertools.pairwise(main_v):
                loc_u = [ua, *self._lines(ua + 60, ub - 60, 80, 140, jitter_only=True), ub]
                loc_v = [va, *self._lines(va + 60, vb - 60, 80, 140, jitter_only=True), vb]
                for u in loc_u[1:-1]:
                    self.add("road", self._road(u, va, u, vb, 7.0))
                for v in loc_v[1:-1]:
                    self.add("road", self._road(ua, v, ub, v, 7.0))
                for i in range(len(loc_u) - 1):
                    for j in range(len(loc_v) - 1):
                        hw_u0 = 7.0 if i == 0 else 3.5
                        hw_u1 = 7.0 if i == len(loc_u) - 2 else 3.5
                        hw_v0 = 7.0 if j == 0 else 3.5
                        hw_v1 = 7.0 if j == len(loc_v) - 2 else 3.5
                        cell = self.grid_rect(loc_u[i] + hw_u0 + 2, loc_v[j] + hw_v0 + 2,
                                              loc_u[i + 1] - hw_u1 - 2, loc_v[j + 1] - hw_v1 - 2)
                        if not cell.intersects(self.extent):
                            continue
                        cell = cell.intersection(self.extent).difference(water_keepout)
                        if cell.geom_type != "Polygon":
                            parts = [g for g in getattr(cell, "geoms", []) if g.geom_type == "Polygon"]
                            if not parts:
                                continue
                            cell = max(parts, key=lambda g: g.area)
                        if cell.area > 900:
                            blocks.append((cell, float(rng.uniform())))
        uses = ("village", "village", "village", "industrial", "farm", "farm", "park", "vacant", "vacant")
        self.blocks: list[tuple[Polygon, str, list[Polygon]]] = []
        for cell, _ in blocks:
            use = uses[int(rng.integers(len(uses)))]
            occupied: list[Polygon] = []
            getattr(self, f"_block_{use}")(cell, occupied)
            self.blocks.append((cell, use, occupied))
        self.river = river
        self._violations()
        return self.objects

    def _lines(self, lo: float, hi: float, dmin: float, dmax: float, *, jitter_only: bool = False) -> list[float]:
        out, pos = [], lo if jitter_only else lo + float(self.rng.uniform(0, dmin))
        while pos <= hi:
            out.append(pos)
            pos += float(self.rng.uniform(dmin, dmax))
        return out

    def _road(self, u0: float, v0: float, u1: float, v1: float, width: float) -> Polygon:
        return LineString([self.to_world(u0, v0), self.to_world(u1, v1)]).buffer(width / 2, cap_style="flat")

    def _river(self) -> Polygon:
        rng = self.rng
        angle = float(rng.uniform(0, 180))
        offset = float(rng.uniform(-0.3, 0.3)) * self.size
        xs = np.linspace(-self.half * 1.6, self.half * 1.6, 90)
        ys = offset + 0 * xs
        for k in range(1, 4):
            ys = ys + rng.uniform(20, 90) / k * np.sin(xs / rng.uniform(150, 400) * k + rng.uniform(0, 6.3))
        a = math.radians(angle)
        pts = [(self.cx + x * math.cos(a) - y * math.sin(a), self.cy + x * math.sin(a) + y * math.cos(a))
               for x, y in zip(xs, ys, strict=True)]
        poly = LineString(pts).buffer(float(rng.uniform(14, 24)))
        self.add("river", poly)
        return poly.intersection(self.extent.buffer(50))

    def _blob_violations(self, kind: str, *, count: int, blocks: tuple[str, ...], radius_m: tuple[float, float],
                         roughness: float, elongation: float, gap_m: float) -> None:
        """Scatter irregular blobs of one violation class over blocks of the given kinds."""
        rng = self.rng
        for _ in range(self._count(count)):
            blk = self._pick_block(blocks)
            if blk is None:
                break
            r = float(rng.uniform(*radius_m))
            poly = self._place(blk[0], blk[2], lambda x, y, r=r: blob(x, y, r, rng, roughness=roughness,
                                                                     elongation=float(rng.uniform(1, elongation)),
                                                                     angle_deg=float(rng.uniform(0, 180))),
                               gap_m=gap_m)
            if poly is not None:
                appears, removed = self._when()
                self.add(kind, poly, appears_at=appears, removed_at=removed)

    def _place(self, cell: Polygon, occupied: list[Polygon], make, *, tries: int = 40, gap_m: float = 1.5):
        """Try random centres in ``cell`` until ``make(x, y)`` fits inside and clear of ``occupied``."""
        minx, miny, maxx, maxy = cell.bounds
        for _ in range(tries):
            x, y = float(self.rng.uniform(minx, maxx)), float(self.rng.uniform(miny, maxy))
            poly = make(x, y)
            if poly is None or not cell.contains(poly):
                continue
            grown = poly.buffer(gap_m)
            if any(grown.intersects(o) for o in occupied):
                continue
            occupied.append(poly)
            return poly
        return None

    def _trees(self, cell: Polygon, occupied: list[Polygon], n: int, *, clustered: bool = True) -> None:
        rng = self.rng
        minx, miny, maxx, maxy = cell.bounds
        centres = [(rng.uniform(minx, maxx), rng.uniform(miny, maxy)) for _ in range(max(1, n // 6))]
        for _ in range(n):
            if clustered:
                bx, by = centres[int(rng.integers(len(centres)))]
                x, y = bx + rng.normal(0, 12), by + rng.normal(0, 12)
            else:
                x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            r = float(rng.uniform(1.8, 4.5))
            if not cell.contains(Point(x, y)):
                continue
            crown = blob(float(x), float(y), r, rng, n=14, roughness=0.35)
            if any(crown.intersects(o) for o in occupied):
                continue
            self.add("tree", crown, height_m=float(rng.uniform(5, 14)))

    def _block_village(self, cell: Polygon, occupied: list[Polygon]) -> None:
        rng = self.rng
        a = self.grid_deg
        minx, miny, maxx, maxy = cell.bounds
        # Rows of houses along the grid axes, with lanes between them.
        ux, uy = math.cos(math.radians(a)), math.sin(math.radians(a))
        c0 = cell.centroid
        span = max(maxx - minx, maxy - miny)
        v = -span / 2
        while v < span / 2:
            depth = float(rng.uniform(9, 15))
            u = -span / 2
            while u < span / 2:
                width = float(rng.uniform(8, 16))
                x = c0.x + (u + width / 2) * ux - (v + depth / 2) * uy
                y = c0.y + (u + width / 2) * uy + (v + depth / 2) * ux
                poly = rect(x, y, width, depth, a + float(rng.normal(0, 1.0)))
                if cell.contains(poly) and rng.uniform() > 0.12:
                    kind = "red_roof" if rng.uniform() < 0.15 else "building"
                    self.add(kind, poly, height_m=float(rng.choice([4, 7, 10, 13, 16, 19])) + float(rng.uniform(-0.5, 0.5)))
                    occupied.append(poly)
                    if rng.uniform() < 0.06:
                        pool = rect(x + (width / 2 + 3.5) * ux, y + (width / 2 + 3.5) * uy, 4.0, min(depth - 2, 9.0), a)
                        if cell.contains(pool) and not any(pool.intersects(o) for o in occupied):
                            self.add("pool", pool)
                            occupied.append(pool)
                u += width + float(rng.uniform(2.0, 5.0))
            v += depth + float(rng.uniform(3.0, 7.0))
        self._trees(cell, occupied, int(cell.area / 600))

    def _block_industrial(self, cell: Polygon, occupied: list[Polygon]) -> None:
        rng = self.rng
        self.add("yard", cell.buffer(-1.0))
        for _ in range(int(rng.integers(2, 6))):
            w, h = float(rng.uniform(30, 80)), float(rng.uniform(20, 45))
            poly = self._place(cell, occupied, lambda x, y, w=w, h=h: rect(x, y, w, h, self.grid_deg), gap_m=6)
            if poly is not None:
                self.add("building", poly, height_m=float(rng.uniform(8, 16)))
                if rng.uniform() < 0.5:
                    c = poly.centroid
                    self.add("steam", blob(c.x + rng.normal(0, 6), c.y + rng.normal(0, 6), float(rng.uniform(4, 9)), rng,
                                           elongation=float(rng.uniform(1.0, 1.8)), angle_deg=float(rng.uniform(0, 360))))
        self._trees(cell, occupied, int(cell.area / 2500), clustered=False)

    def _block_farm(self, cell: Polygon, occupied: list[Polygon]) -> None:
        rng = self.rng
        a = self.grid_deg + float(rng.choice([0, 90]))
        _minx, _miny, _maxx, _maxy = cell.bounds
        for _ in range(int(rng.integers(3, 9))):
            w, h = float(rng.uniform(25, 70)), float(rng.uniform(15, 40))
            kind = str(rng.choice(["field", "field", "field", "ploughed_field", "pond", "pond", "greenhouse", "covered_soil"]))
            poly = self._place(cell, occupied, lambda x, y, w=w, h=h: rect(x, y, w, h, a), gap_m=2.0)
            if poly is None:
                continue
            if kind == "pond":
                kind = "muddy_water" if rng.uniform() < 0.3 else "pond"
                poly = poly.buffer(-2.0).buffer(2.0, join_style="round")
            if kind == "greenhouse":
                self.add(kind, poly, height_m=3.0)
            else:
                self.add(kind, poly)
        self._trees(cell, occupied, int(cell.area / 1500))
        for _ in range(int(rng.integers(0, 3))):
            hut = self._place(cell, occupied, lambda x, y: rect(x, y, 8, 10, a), tries=5)
            if hut is not None:
                self.add("building", hut, height_m=4.0)

    def _block_park(self, cell: Polygon, occupied: list[Polygon]) -> None:
        rng = self.rng
        if rng.uniform() < 0.7:
            r = float(rng.uniform(12, 35))
            pond = self._place(cell, occupied, lambda x, y: blob(x, y, r, rng, roughness=0.35,
                                                                 elongation=float(rng.uniform(1, 1.8)),
                                                                 angle_deg=float(rng.uniform(0, 180))), gap_m=5)
            if pond is not None:
                self.add("muddy_water" if rng.uniform() < 0.2 else "pond", pond)
        if rng.uniform() < 0.3:
            haze = blob(*cell.centroid.coords[0], float(rng.uniform(20, 45)), rng, roughness=0.4,
                        elongation=float(rng.uniform(1, 2)), angle_deg=float(rng.uniform(0, 180)))
            self.add("haze", haze)
        self._trees(cell, occupied, int(cell.area / 180))

    def _block_vacant(self, cell: Polygon, occupied: list[Polygon]) -> None:
        rng = self.rng
        if rng.uniform() < 0.4:
            poly = self._place(cell, occupied, lambda x, y: blob(x, y, float(rng.uniform(10, 25)), rng), gap_m=3)
            if poly is not None:
                self.add("covered_soil", poly)
        self._trees(cell, occupied, int(cell.area / 900))

    # -- violations -----------------------------------------------------------------------------

    def _when(self, *, short_hours: tuple[float, float] | None = None) -> tuple[datetime, datetime | None]:
        """Appearance and removal times around the epoch; short-lived events (fire) last hours."""
        rng = self.rng
        if short_hours is not None:
            day = 0 if rng.uniform() < 0.35 else int(rng.integers(-20, 90))
            start = self.epoch + timedelta(days=day, hours=float(rng.uniform(0.0, 7.0)))
            return start, start + timedelta(hours=float(rng.uniform(*short_hours)))
        appears = self.epoch + timedelta(days=float(rng.uniform(-240, 150)))
        removed = appears + timedelta(days=float(rng.uniform(15, 150))) if rng.uniform() < 0.3 else None
        return appears, removed

    def _pick_block(self, uses: tuple[str, ...]) -> tuple[Polygon, str, list[Polygon]] | None:
        candidates = [b for b in self.blocks if b[1] in uses]
        if not candidates:
            return None
        return candidates[int(self.rng.integers(len(candidates)))]

    def _count(self, per_km2: float) -> int:
        return max(2, round(per_km2 * self.area_km2 * float(self.rng.uniform(0.8, 1.2))))

    def _violations(self) -> None:
        rng = self.rng
        # Additions go on flat roofs (the usual case: a shed or an extra storey on a concrete roof).
        buildings = [o for o in self.objects if o.kind == "building" and 6.0 < o.height_m < 22.0
                     and 60.0 < o.polygon.area < 400.0]
        # steel sheds: in yards, village gaps and vacant land.
        for _ in range(self._count(9)):
            blk = self._pick_block(("village", "industrial", "vacant", "farm"))
            if blk is None:
                break
            w, h = float(rng.uniform(6, 28)), float(rng.uniform(4, 12))
            ang = self.grid_deg + float(rng.choice([0, 90])) + float(rng.normal(0, 3))
            poly = self._place(blk[0], blk[2], lambda x, y, w=w, h=h, ang=ang: rect(x, y, w, h, ang))
            if poly is not None:
                appears, removed = self._when()
                self.add("steel_shed", poly, appears_at=appears, removed_at=removed, height_m=float(rng.uniform(3, 5)))
        # rooftop additions on existing buildings.
        order = rng.permutation(len(buildings))
        for i in order[: self._count(9)]:
            b = buildings[int(i)]
            mrr = b.polygon.minimum_rotated_rectangle
            xy = np.asarray(mrr.exterior.coords)[:4]
            e0, e1 = xy[1] - xy[0], xy[3] - xy[0]
            fu, fv = float(rng.uniform(0.35, 0.7)), float(rng.uniform(0.4, 0.8))
            su, sv = float(rng.uniform(0.05, 0.95 - fu)), float(rng.uniform(0.05, 0.95 - fv))
            corners = [xy[0] + e0 * (su + du * fu) + e1 * (sv + dv * fv) for du, dv in ((0, 0), (1, 0), (1, 1), (0, 1))]
            appears, removed = self._when()
            self.add("rooftop_addition", Polygon(corners), appears_at=appears, removed_at=removed,
                     height_m=float(rng.uniform(2.6, 3.6)), base_z_m=b.height_m, parent_id=b.id)
        # construction sites take most of a vacant or farm block.
        for _ in range(self._count(6)):
            blk = self._pick_block(("vacant", "farm", "vacant", "park"))
            if blk is None:
                break
            w, h = float(rng.uniform(40, 110)), float(rng.uniform(35, 80))
            poly = self._place(blk[0], blk[2], lambda x, y, w=w, h=h: rect(x, y, w, h, self.grid_deg), tries=40, gap_m=3)
            if poly is None:
                poly = self._place(blk[0], blk[2], lambda x, y: rect(x, y, 36, 30, self.grid_deg), tries=40, gap_m=3)
            if poly is not None:
                appears, removed = self._when()
                self.add("construction_site", poly, appears_at=appears, removed_at=removed)
        # garbage dumps: small heaps anywhere on open ground, often by the river.
        self._blob_violations("garbage_dump", count=10, blocks=("village", "vacant", "farm", "park", "industrial"),
                              radius_m=(2.5, 9), roughness=0.45, elongation=1.6, gap_m=1.5)
        # bare soil: uncovered earth patches.
        self._blob_violations("bare_soil", count=12, blocks=("vacant", "farm", "park", "vacant"),
                              radius_m=(7, 24), roughness=0.4, elongation=1.7, gap_m=3)
        # discharge plumes in the river and ponds.
        waters = [o for o in self.objects if o.kind in ("river", "pond")]
        for _ in range(self._count(8)):
            if not waters:
                break
            water = waters[int(rng.integers(len(waters)))]
            boundary = water.polygon.exterior
            p = boundary.interpolate(float(rng.uniform(0, boundary.length)))
            if not self.extent.buffer(-30).contains(p):
                continue
            inward = water.polygon.centroid
            ang = math.degrees(math.atan2(inward.y - p.y, inward.x - p.x)) + float(rng.normal(0, 35))
            pl = plume(p.x, p.y, length_m=float(rng.uniform(15, 60)), width_m=float(rng.uniform(8, 22)),
                       angle_deg=ang, rng=rng).intersection(water.polygon)
            if pl.area > 20:
                appears, removed = self._when()
                # plumes that meet while both exist are one discoloured area to any eye (and any detector):
                # the later one is dropped rather than recorded as a second object nobody could tell apart
                if not any(o.kind == "water_discoloration" and _overlap_in_time(o, appears, removed)
                           and o.polygon.distance(pl) < 3.0 for o in self.objects):
                    self.add("water_discoloration", pl, appears_at=appears, removed_at=removed)
        # burn scars on vegetation.
        self._blob_violations("burn_scar", count=7, blocks=("farm", "park", "vacant"), radius_m=(5, 20),
                              roughness=0.5, elongation=1.8, gap_m=2)
        # open fires (with their smoke; a burn scar is left when the fire is out) and lone smoke.
        for _ in range(self._count(8)):
            blk = self._pick_block(("farm", "park", "vacant", "village"))
            if blk is None:
                break
            r = float(rng.uniform(1.2, 3.5))
            core = self._place(blk[0], blk[2], lambda x, y, r=r: blob(x, y, r, rng, roughness=0.55), gap_m=4)
            if core is None:
                continue
            start, end = self._when(short_hours=(3, 30))
            c = core.centroid
            wind = float(rng.uniform(0, 360))
            self.add("open_fire", core, appears_at=start, removed_at=end)
            if rng.uniform() < 0.85:
                self.add("smoke", plume(c.x, c.y, length_m=float(rng.uniform(20, 60)), width_m=float(rng.uniform(10, 25)),
                                        angle_deg=wind, rng=rng), appears_at=start, removed_at=end)
            if rng.uniform() < 0.6:
                self.add("burn_scar", blob(c.x, c.y, r * float(rng.uniform(2.5, 5)), rng, roughness=0.5),
                         appears_at=end, removed_at=end + timedelta(days=float(rng.uniform(20, 120))))
        for _ in range(self._count(4)):
            blk = self._pick_block(("farm", "park", "vacant", "industrial"))
            if blk is None:
                break
            p = blk[0].representative_point()
            x, y = p.x + float(rng.normal(0, 15)), p.y + float(rng.normal(0, 15))
            start, end = self._when(short_hours=(2, 20))
            self.add("smoke", plume(x, y, length_m=float(rng.uniform(20, 70)), width_m=float(rng.uniform(10, 30)),
                                    angle_deg=float(rng.uniform(0, 360)), rng=rng), appears_at=start, removed_at=end)
