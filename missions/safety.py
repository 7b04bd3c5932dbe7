"""Safety and feasibility: no-fly routing, sortie splitting, geofence, coverage and the final plan check.

Geometry here is metric (the dock's UTM zone). A plan that fails ``check_plan`` is never
handed to flight/: the planner refuses with the reasons instead.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, shape
from shapely.ops import unary_union

from dockpatrol.camera import CameraModel
from dockpatrol.errors import InvalidInput
from dockpatrol.geo import LocalProjection
from missions.areas import fmt_lonlat, to_metric
from missions.estimate import FlightModel, FlightTrace, trace
from missions.types import Dock, FenceVertex, MavCmd, MissionPlan, NoFlyZone

#: The altitude ceiling above the dock for every mission (the 120 m rule of small-drone regulations).
CEILING_M = 120.0
DEFAULT_RESERVE = 0.25
#: Items one vehicle stores, home included (ArduCopter SITL: 650; real boards vary).
DEFAULT_MAX_ITEMS = 650

Describe = Callable[[np.ndarray], str]


def usable_endurance_s(dock: Dock, reserve_fraction: float = DEFAULT_RESERVE) -> float:
    """Flight time one battery allows once the reserve is set aside."""
    return dock.endurance_s * (1.0 - reserve_fraction)


# --- routing around no-fly zones ---------------------------------------------------------------


class Router:
    """Shortest horizontal path between two points that stays ``clearance_m`` clear of no-fly zones.

    A visibility graph over the vertices of the zones grown by the clearance (mitred, so every
    graph edge along a grown outline stays outside the clearance band); A* with visibility
    tested lazily, one vectorised shapely call per expanded node.
    """

    def __init__(self, zones_m: Sequence[Polygon], *, clearance_m: float, describe: Describe | None = None) -> None:
        self.clearance_m = clearance_m
        self.describe = describe or (lambda p: f"({p[0]:.0f} m, {p[1]:.0f} m)")
        self.zones = unary_union(list(zones_m)) if zones_m else Polygon()
        if self.zones.is_empty:
            self.keepout = Polygon()
            self._block = Polygon()
            self._nodes = np.zeros((0, 2))
        else:
            #: what survey lines are clipped by
            self.keepout = self.zones.buffer(clearance_m)
            # a little smaller than the keepout, so points on its edge can still be routed from
            self._block = self.zones.buffer(max(clearance_m - 0.5, clearance_m * 0.9))
            tol = max(1.0, clearance_m / 2.0)
            grown = self.zones.buffer(clearance_m + 1.0 + tol, join_style="mitre", mitre_limit=3.0).simplify(tol)
            rings = []
            for poly in getattr(grown, "geoms", [grown]):
                rings.append(np.asarray(poly.exterior.coords)[:-1])
                rings.extend(np.asarray(r.coords)[:-1] for r in poly.interiors)
            self._nodes = np.concatenate(rings) if rings else np.zeros((0, 2))
        shapely.prepare(self._block)
        self._visible: dict[int, np.ndarray] = {}

    @property
    def has_zones(self) -> bool:
        return not self.zones.is_empty

    def blocked(self, point: np.ndarray) -> bool:
        """True when the point lies within the clearance band of a zone (or inside one)."""
        return self.has_zones and bool(self._block.intersects(Point(point)))

    def clear(self, a: np.ndarray, b: np.ndarray) -> bool:
        """True when the straight leg a→b keeps clear of every zone."""
        if not self.has_zones:
            return True
        if a[0] == b[0] and a[1] == b[1]:
            return not self.blocked(a)
        return not self._block.intersects(LineString([a, b]))

    def _visible_from(self, points: np.ndarray, origin: np.ndarray) -> np.ndarray:
        segs = shapely.linestrings(np.stack([np.broadcast_to(origin, points.shape), points], axis=1))
        return ~shapely.intersects(self._block, segs)

    def route(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Waypoints from a to b (both included) around the zones; InvalidInput when none exists."""
        a = np.asarray(a, dtype=float)
        b = np.asarray(b, dtype=float)
        if self.clear(a, b):
            return np.array([a, b])
        for p in (a, b):
            if self.blocked(p):
                raise InvalidInput(f"{self.describe(p)} is within {self.clearance_m:g} m of a no-fly zone")
        nodes = self._nodes
        n = len(nodes)
        goal = n + 1
        to_goal = self._visible_from(nodes, b) if n else np.zeros(0, dtype=bool)

        def neighbours(k: int) -> list[tuple[int, float]]:
            if k == n:
                vis = self._visible_from(nodes, a)
                out = [(int(j), float(np.hypot(*(nodes[j] - a)))) for j in np.flatnonzero(vis)]
                return out
            if k not in self._visible:
                vis = self._visible_from(nodes, nodes[k])
                vis[k] = False
                self._visible[k] = np.flatnonzero(vis)
            out = [(int(j), float(np.hypot(*(nodes[j] - nodes[k])))) for j in self._visible[k]]
            if to_goal[k]:
                out.append((goal, float(np.hypot(*(b - nodes[k])))))
            return out

        def pos(k: int) -> np.ndarray:
            return a if k == n else b if k == goal else nodes[k]

        best = {n: 0.0}
        prev: dict[int, int] = {}
        heap = [(float(np.hypot(*(b - a))), 0.0, n)]
        done: set[int] = set()
        while heap:
            _, g, k = heapq.heappop(heap)
            if k in done:
                continue
            if k == goal:
                path = [goal]
                while path[-1] != n:
                    path.append(prev[path[-1]])
                return np.array([pos(j) for j in reversed(path)])
            done.add(k)
            for j, w in neighbours(k):
                ng = g + w
                if ng < best.get(j, math.inf) - 1e-9:
                    best[j] = ng
                    prev[j] = k
                    heapq.heappush(heap, (ng + float(np.hypot(*(b - pos(j)))), ng, j))
        raise InvalidInput(
            f"no route from {self.describe(a)} to {self.describe(b)} keeps {self.clearance_m:g} m clear "
            "of the no-fly zones"
        )


# --- polylines ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """A polyline with the numbers the sortie packer needs, computed once."""

    xy: np.ndarray
    length_m: float
    turns: int
    first_dir: np.ndarray | None
    last_dir: np.ndarray | None

    @classmethod
    def of(cls, xy: np.ndarray, *, turn_cos: float) -> _Line:
        xy = _dedup(np.asarray(xy, dtype=float))
        d = np.diff(xy, axis=0)
        seg = np.hypot(d[:, 0], d[:, 1]) if len(d) else np.zeros(0)
        if not len(seg):
            return cls(xy, 0.0, 0, None, None)
        u = d / seg[:, None]
        cosines = (u[:-1] * u[1:]).sum(axis=1)
        return cls(xy, float(seg.sum()), int((cosines < turn_cos).sum()), u[0], u[-1])


def _dedup(xy: np.ndarray) -> np.ndarray:
    """Drop vertices closer than 1 mm to the previous one (flight items would be zero-length legs)."""
    if len(xy) < 2:
        return xy
    keep = np.ones(len(xy), dtype=bool)
    keep[1:] = np.hypot(*np.diff(xy, axis=0).T) > 1e-3
    return xy[keep]


def _junction(u: np.ndarray | None, v: np.ndarray | None, turn_cos: float) -> int:
    return int(u is not None and v is not None and float(u @ v) < turn_cos)


def cut_polyline(xy: np.ndarray, distance_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Split a polyline at a distance along it; both halves include the cut point."""
    d = np.hypot(*np.diff(xy, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(d)])
    s = min(max(distance_m, 0.0), cum[-1])
    k = int(np.searchsorted(cum, s, side="right")) - 1
    k = min(k, len(d) - 1)
    t = (s - cum[k]) / d[k] if d[k] > 0 else 0.0
    p = xy[k] + t * (xy[k + 1] - xy[k])
    return np.vstack([xy[: k + 1], p]), np.vstack([p, xy[k + 1 :]])


# --- sorties -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SortiePath:
    """One battery's flight in metres: transit out, the camera-on body, transit back (home at both ends)."""

    out: np.ndarray
    body: np.ndarray
    back: np.ndarray


@dataclass(frozen=True)
class SortieBudget:
    """What one sortie may use: time (after reserve), mission items, and how time is spent."""

    usable_s: float
    speed_m_s: float
    altitude_m: float
    max_items: int
    model: FlightModel
    #: items besides waypoints: takeoff, speed, trigger on, trigger off, RTL
    fixed_items: int = 5

    @property
    def fixed_s(self) -> float:
        m = self.model
        return m.overhead_s + self.altitude_m / m.climb_m_s + self.altitude_m / m.descent_m_s


def pack_sorties(
    pieces: Sequence[np.ndarray], *, home: np.ndarray, router: Router, budget: SortieBudget,
    min_piece_m: float, dock_name: str,
) -> list[SortiePath]:
    """Greedily pack camera-on pieces, in flying order, into sorties that each fit one battery and item limit.

    A piece too long for one battery is cut where the battery runs out; the next sortie resumes there.
    """
    turn_cos = math.cos(math.radians(budget.model.turn_threshold_deg))
    home = np.asarray(home, dtype=float)
    back_cache: dict[tuple[float, float], _Line] = {}

    def back_from(p: np.ndarray) -> _Line:
        key = (float(p[0]), float(p[1]))
        if key not in back_cache:
            back_cache[key] = _Line.of(router.route(p, home), turn_cos=turn_cos)
        return back_cache[key]

    def cost(out: _Line, body: _Line, back: _Line) -> tuple[float, int]:
        turns = (out.turns + body.turns + back.turns + _junction(out.last_dir, body.first_dir, turn_cos)
                 + _junction(body.last_dir, back.first_dir, turn_cos))
        if body.first_dir is None:
            turns += _junction(out.last_dir, back.first_dir, turn_cos)
        t = budget.fixed_s + (out.length_m + body.length_m + back.length_m) / budget.speed_m_s
        t += turns * budget.model.turn_s
        items = budget.fixed_items + max(len(out.xy) - 2, 0) + len(body.xy) + max(len(back.xy) - 2, 0)
        return t, items

    def fits(out: _Line, body_xy: np.ndarray) -> bool:
        body = _Line.of(body_xy, turn_cos=turn_cos)
        t, items = cost(out, body, back_from(body.xy[-1]))
        return t <= budget.usable_s - 1.0 and items <= budget.max_items - 1

    queue = [np.asarray(p, dtype=float) for p in pieces if len(p) >= 2]
    queue.reverse()  # pop() from the end = next piece in flying order
    sorties: list[SortiePath] = []
    out: _Line | None = None
    body_xy: np.ndarray | None = None

    def close() -> None:
        nonlocal out, body_xy
        assert out is not None and body_xy is not None
        sorties.append(SortiePath(out=out.xy, body=body_xy, back=back_from(body_xy[-1]).xy))
        out, body_xy = None, None

    while queue:
        piece = queue.pop()
        if body_xy is None:
            out = _Line.of(router.route(home, piece[0]), turn_cos=turn_cos)
            if fits(out, piece):
                body_xy = piece
                continue
            head, tail = _longest_prefix(piece, lambda xy, o=out: fits(o, xy))
            length = float(np.hypot(*np.diff(head, axis=0).T).sum()) if head is not None else 0.0
            if head is None or length < min_piece_m:
                t0, _ = cost(out, _Line.of(piece[:1], turn_cos=turn_cos), back_from(piece[0]))
                raise InvalidInput(
                    f"{router.describe(piece[0])} is out of reach: flying there from dock {dock_name} and back "
                    f"takes {t0 / 60:.1f} min by the shortest legal route, and one battery allows "
                    f"{budget.usable_s / 60:.1f} min with the reserve kept"
                )
            body_xy = head
            close()
            queue.append(tail)
            continue
        assert out is not None
        link = router.route(body_xy[-1], piece[0])
        candidate = np.vstack([body_xy, link[1:-1], piece])
        if fits(out, candidate):
            body_xy = candidate
        else:
            close()
            queue.append(piece)
    if body_xy is not None:
        close()
    return sorties


def _longest_prefix(
    piece: np.ndarray, ok: Callable[[np.ndarray], bool]
) -> tuple[np.ndarray | None, np.ndarray]:
    """Longest head of a polyline that satisfies ``ok`` (bisection on length), and the remaining tail."""
    total = float(np.hypot(*np.diff(piece, axis=0).T).sum())
    head0, _ = cut_polyline(piece, 0.0)
    if not ok(head0):
        return None, piece
    lo, hi = 0.0, total
    while hi - lo > 0.5:
        mid = (lo + hi) / 2
        if ok(cut_polyline(piece, mid)[0]):
            lo = mid
        else:
            hi = mid
    return cut_polyline(piece, lo)


# --- geofence ----------------------------------------------------------------------------------


def _simplify_outward(poly: Polygon, *, max_vertices: int, start_tol_m: float = 1.0,
                      max_tol_m: float = 50.0) -> Polygon:
    """Fewer vertices without shrinking: grow by the tolerance, then simplify by it."""
    tol = start_tol_m
    best = Polygon(poly.exterior)
    while True:
        simple = Polygon(Polygon(poly.exterior).buffer(tol, join_style="mitre").simplify(tol).exterior)
        best = simple
        if len(simple.exterior.coords) - 1 <= max_vertices or tol >= max_tol_m:
            return best
        tol *= 2


class FenceBuilder:
    """Fences for the sorties of one plan: the parts every sortie shares are grown and simplified once."""

    def __init__(self, *, keep_in: Sequence[Polygon], zones_m: Sequence[Polygon], projection: LocalProjection,
                 margin_m: float, max_vertices: int = 40, max_exclusion_growth_m: float = 5.0) -> None:
        self.projection = projection
        self.margin_m = margin_m
        self.max_vertices = max_vertices
        self._keep_in = unary_union([g.buffer(margin_m) for g in keep_in]) if keep_in else Polygon()
        self._exclusions = [
            _simplify_outward(part, max_vertices=max_vertices, max_tol_m=max_exclusion_growth_m / 2)
            for z in zones_m for part in getattr(z, "geoms", [z])
        ]

    def fence(self, path_m: np.ndarray) -> tuple[FenceVertex, ...]:
        """Fence for one sortie: an inclusion polygon (the areas and the flown path grown by the margin) and
        the no-fly zones near it as exclusions; vertices clockwise as QGC writes them."""
        m = self.margin_m
        flown = LineString(path_m).buffer(m) if len(path_m) > 1 else Point(path_m[0]).buffer(m)
        region = flown.union(self._keep_in) if not self._keep_in.is_empty else flown
        if isinstance(region, MultiPolygon):
            region = region.convex_hull
        inclusion = _simplify_outward(region, max_vertices=self.max_vertices, max_tol_m=m / 2)
        polygons: list[tuple[Polygon, bool]] = [(inclusion, True)]
        near = inclusion.buffer(m)
        polygons += [(ex, False) for ex in self._exclusions if ex.intersects(near)]
        fence = []
        for idx, (poly, inclusion_flag) in enumerate(polygons):
            ring = shapely.geometry.polygon.orient(poly, sign=-1.0).exterior
            xy = np.asarray(ring.coords)[:-1]
            lon, lat = self.projection.to_lonlat(xy[:, 0], xy[:, 1])
            fence.extend(
                FenceVertex(lat=float(la), lon=float(lo), polygon_index=idx, vertex_count=len(xy),
                            inclusion=inclusion_flag)
                for lo, la in zip(np.atleast_1d(lon), np.atleast_1d(lat), strict=True)
            )
        return tuple(fence)


def fence_polygons(fence: Sequence[FenceVertex]) -> list[tuple[Polygon, bool]]:
    """The fence's polygons in lon/lat with their inclusion flag."""
    groups: dict[int, list[FenceVertex]] = {}
    for v in fence:
        groups.setdefault(v.polygon_index, []).append(v)
    out = []
    for _, vs in sorted(groups.items()):
        if len(vs) >= 3:
            out.append((Polygon([(v.lon, v.lat) for v in vs]), vs[0].inclusion))
    return out


# --- coverage ----------------------------------------------------------------------------------


def frame_swaths(triggers: np.ndarray, *, along_m: float, across_m: float) -> list[Polygon]:
    """Footprint union of each run of frames shot along one straight leg, as one rectangle per run.

    Frames on a straight leg closer than their own length overlap, so their union is exactly
    the rectangle from the first frame's back edge to the last frame's front edge.
    """
    if not len(triggers):
        return []
    h = triggers[:, 2]
    u = np.column_stack([np.cos(h), np.sin(h)])
    step = np.diff(triggers[:, :2], axis=0)
    same = np.abs(np.diff(h)) < 1e-9
    cross = np.abs(step[:, 0] * u[:-1, 1] - step[:, 1] * u[:-1, 0])
    ahead = (step * u[:-1]).sum(axis=1)
    joined = same & (cross < 1e-3) & (ahead >= -1e-6) & (ahead <= along_m)
    breaks = np.flatnonzero(~joined) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks - 1, [len(triggers) - 1]])
    p0 = triggers[starts, :2] - u[starts] * (along_m / 2)
    p1 = triggers[ends, :2] + u[starts] * (along_m / 2)
    n = np.column_stack([-u[starts, 1], u[starts, 0]]) * (across_m / 2)
    corners = np.stack([p0 - n, p1 - n, p1 + n, p0 + n], axis=1)
    return list(shapely.polygons(corners))


def frame_footprints(triggers: np.ndarray, *, along_m: float, across_m: float) -> list[Polygon]:
    """One rectangle per frame (metric), the camera's image top pointing along the track."""
    h = triggers[:, 2]
    u = np.column_stack([np.cos(h), np.sin(h)]) * (along_m / 2)
    n = np.column_stack([-np.sin(h), np.cos(h)]) * (across_m / 2)
    c = triggers[:, :2]
    corners = np.stack([c - u - n, c + u - n, c + u + n, c - u + n], axis=1)
    return list(shapely.polygons(corners))


def plan_trace(plan: MissionPlan, *, projection: LocalProjection | None = None,
               model: FlightModel = FlightModel()) -> FlightTrace:
    """The flight trace of a plan (speed from its DO_CHANGE_SPEED, else 10 m/s)."""
    speed = next((it.params[1] for it in plan.items if it.command == MavCmd.DO_CHANGE_SPEED and it.params[1] > 0),
                 10.0)
    return trace(plan.items, home_lon=plan.home_lon, home_lat=plan.home_lat, speed_m_s=speed, model=model,
                 projection=projection)


def coverage_fraction(
    plans: Sequence[MissionPlan], target_lonlat: Polygon | MultiPolygon, *, camera: CameraModel | None = None,
    projection: LocalProjection | None = None,
) -> float:
    """Share of the target covered by the union of all the plans' frame footprints (nadir, flat ground)."""
    if not plans:
        return 0.0
    proj = projection or LocalProjection.around(plans[0].home_lon, plans[0].home_lat)
    target = to_metric(target_lonlat, proj)
    if target.area <= 0:
        return 1.0
    swaths: list[Polygon] = []
    for plan in plans:
        cam = camera or plan.camera
        t = plan_trace(plan, projection=proj)
        across, along = cam.footprint_m(plan.altitude_m or t.max_altitude_m)
        swaths.extend(frame_swaths(t.triggers, along_m=along, across_m=across))
    if not swaths:
        return 0.0
    covered = shapely.union_all(swaths).intersection(target).area
    return float(min(covered / target.area, 1.0))


# --- the final check ---------------------------------------------------------------------------


def zones_metric(no_fly: Sequence[NoFlyZone], projection: LocalProjection) -> list[Polygon]:
    """No-fly zone polygons in the projection's metres."""
    return [to_metric(shape(z.polygon), projection) for z in no_fly]


def check_plan(
    plan: MissionPlan, *, dock: Dock, no_fly: Sequence[NoFlyZone] = (), ceiling_m: float = CEILING_M,
    reserve_fraction: float = DEFAULT_RESERVE, max_items: int = DEFAULT_MAX_ITEMS,
    model: FlightModel = FlightModel(), flight_trace: FlightTrace | None = None,
    zones_m: Sequence[Polygon] | None = None,
) -> list[str]:
    """Every safety rule the plan breaks, one sentence each; empty when it may fly.

    ``flight_trace`` and ``zones_m`` (in the home's UTM zone) may be passed by a caller that has them.
    """
    problems: list[str] = []
    label = f"sortie {plan.sortie}/{plan.sorties}" if plan.sorties > 1 else "plan"
    items = plan.items
    if not items or items[0].command != MavCmd.NAV_TAKEOFF:
        problems.append(f"{label}: the first item must be NAV_TAKEOFF")
    if not items or items[-1].command not in (MavCmd.NAV_RETURN_TO_LAUNCH, MavCmd.NAV_LAND):
        problems.append(f"{label}: must end with NAV_RETURN_TO_LAUNCH or NAV_LAND (a copter hovers after its "
                        "last waypoint)")
    if len(items) + 1 > max_items:
        problems.append(f"{label}: {len(items)} items plus home exceed the vehicle's {max_items}-item limit")
    for k, it in enumerate(items, start=1):
        if it.is_nav and it.altitude_m > ceiling_m + 1e-6:
            problems.append(f"{label}: item {k} flies at {it.altitude_m:.1f} m, above the {ceiling_m:g} m ceiling")
    proj = LocalProjection.around(plan.home_lon, plan.home_lat)
    t = flight_trace or plan_trace(plan, projection=proj, model=model)
    zones = list(zones_m) if zones_m is not None else zones_metric(no_fly, proj)
    path = LineString(t.xy_m) if len(t.xy_m) > 1 else Point(t.xy_m[0])
    for z, zone in zip(zones, no_fly, strict=True):
        if path.intersects(z):
            hit = path.intersection(z).representative_point()
            lon, lat = proj.to_lonlat(hit.x, hit.y)
            problems.append(f"{label}: the route enters no-fly zone {zone.name!r} at {fmt_lonlat(float(lon), float(lat))}")
    if t.max_distance_m > dock.max_range_m + 1e-6:
        problems.append(f"{label}: reaches {t.max_distance_m / 1000:.2f} km from dock {dock.id}, beyond its "
                        f"{dock.max_range_m / 1000:.2f} km range")
    usable = usable_endurance_s(dock, reserve_fraction)
    if t.duration_s > usable + 1e-6:
        problems.append(f"{label}: needs {t.duration_s / 60:.1f} min, more than the {usable / 60:.1f} min dock "
                        f"{dock.id}'s battery allows with {reserve_fraction:.0%} reserve")
    fence = fence_polygons(plan.fence)
    inclusions = [to_metric(p, proj) for p, inc in fence if inc]
    exclusions = [to_metric(p, proj) for p, inc in fence if not inc]
    if inclusions:
        inside = unary_union(inclusions).buffer(0.5)
        if not inside.covers(path):
            problems.append(f"{label}: the route leaves its own inclusion fence")
    for ex in exclusions:
        if path.intersects(ex):
            problems.append(f"{label}: the route crosses one of its own exclusion fences")
    return problems
