"""Route planning: survey (lawnmower), corridor scan and orbit, at the altitude that gives the target GSD.

Pure functions from areas, a dock and no-fly zones to MissionPlans in MAVLink's own terms; every
plan leaves here only after ``safety.check_plan`` passed on each of its sorties.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, Point, Polygon
from shapely.ops import unary_union

from dockpatrol.camera import CameraModel
from dockpatrol.errors import InvalidInput
from dockpatrol.geo import LocalProjection, haversine_m
from dockpatrol.taxonomy import Category
from missions.areas import (
    GeoFeature,
    area_from_feature,
    fmt_lonlat,
    misplacement_hint,
    parse_scenarios,
    positive_property,
    to_metric,
    validate_line,
    validate_point,
    validate_polygon,
)
from missions.estimate import FlightModel, trace
from missions.safety import (
    CEILING_M,
    DEFAULT_MAX_ITEMS,
    DEFAULT_RESERVE,
    FenceBuilder,
    Router,
    SortieBudget,
    SortiePath,
    check_plan,
    frame_swaths,
    pack_sorties,
    usable_endurance_s,
    zones_metric,
)
from missions.types import (
    Dock,
    MavCmd,
    MavFrame,
    MissionItem,
    MissionPlan,
    NoFlyZone,
    PatrolArea,
    target_gsd_cm,
)


@dataclass(frozen=True)
class PlanOptions:
    """Knobs of the planner; the defaults suit a dock quadcopter over a built-up district."""

    front_overlap: float = 0.75
    side_overlap: float = 0.65
    #: None: the dock's cruise speed
    speed_m_s: float | None = None
    #: flown past the area's edge before turning, so frames at the edge are shot straight and level
    turnaround_m: float = 10.0
    ceiling_m: float = CEILING_M
    #: clear of rooftops, masts and trees in a built-up district
    min_altitude_m: float = 30.0
    reserve_fraction: float = DEFAULT_RESERVE
    max_items: int = DEFAULT_MAX_ITEMS
    #: horizontal distance kept from every no-fly zone
    clearance_m: float = 15.0
    fence_margin_m: float = 30.0
    #: per fence polygon; autopilots store few fence points
    max_fence_vertices: int = 40
    #: true heading of survey lines (degrees); None: along the area's long axis (fewest turns)
    heading_deg: float | None = None
    min_coverage: float = 0.99
    #: the camera needs this long between shots (storage write); speed is lowered to respect it
    min_trigger_interval_s: float = 1.0
    flight: FlightModel = field(default_factory=FlightModel)

    def __post_init__(self) -> None:
        for name in ("front_overlap", "side_overlap"):
            v = getattr(self, name)
            if not 0.0 <= v < 0.95:
                raise InvalidInput(f"{name} must be within 0..0.95, got {v}")
        if not 0.0 <= self.reserve_fraction < 1.0:
            raise InvalidInput(f"reserve_fraction must be within 0..1, got {self.reserve_fraction}")
        if self.speed_m_s is not None and not 0.5 <= self.speed_m_s <= 25.0:
            raise InvalidInput(f"speed_m_s must be within 0.5..25, got {self.speed_m_s}")
        if not 0 < self.ceiling_m <= CEILING_M:
            raise InvalidInput(f"ceiling_m must be within 0..{CEILING_M:g}, got {self.ceiling_m}")
        if self.clearance_m < 2.0:
            raise InvalidInput(f"clearance_m must be at least 2 m, got {self.clearance_m}")
        if self.max_items < 20:
            raise InvalidInput(f"max_items must be at least 20, got {self.max_items}")


@dataclass(frozen=True)
class PatrolPlan:
    """A patrol as flown: one MissionPlan per sortie, plus what the planner decided and why."""

    kind: str
    sorties: tuple[MissionPlan, ...]
    altitude_m: float
    gsd_cm: float
    target_gsd_cm: float
    trigger_distance_m: float
    line_spacing_m: float
    speed_m_s: float
    coverage_fraction: float
    heading_deg: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def length_m(self) -> float:
        return sum(p.length_m for p in self.sorties)

    @property
    def duration_s(self) -> float:
        return sum(p.duration_s for p in self.sorties)

    @property
    def frame_count(self) -> int:
        return sum(p.frame_count for p in self.sorties)


def altitude_for_gsd(
    camera: CameraModel, gsd_cm: float, *, ceiling_m: float = CEILING_M, min_altitude_m: float = 30.0
) -> tuple[float, float]:
    """(altitude_m, achieved gsd_cm) for a target GSD: capped at the ceiling, refused below the minimum."""
    if not math.isfinite(gsd_cm) or gsd_cm <= 0:
        raise InvalidInput(f"target GSD must be a positive number of cm, got {gsd_cm}")
    # whole decimetres, rounded down: the GSD never ends up coarser than asked for
    alt = math.floor(camera.altitude_for_gsd_m(gsd_cm / 100.0) * 10 + 1e-6) / 10
    if alt < min_altitude_m:
        finest = camera.gsd_m(min_altitude_m) * 100
        raise InvalidInput(
            f"a {gsd_cm:g} cm GSD needs {alt:.1f} m altitude with camera {camera.name}, below the "
            f"{min_altitude_m:g} m minimum; the finest this camera gives there is {finest:.2f} cm"
        )
    if alt > ceiling_m:
        alt = ceiling_m
    return alt, camera.gsd_m(alt) * 100.0


# --- geometry of passes ------------------------------------------------------------------------


def _rot(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def long_axis_rad(poly: Polygon) -> float:
    """Direction (radians from east) of the long side of the minimum rotated rectangle."""
    xy = np.asarray(poly.oriented_envelope.exterior.coords)
    if len(xy) < 4:
        return 0.0
    e0, e1 = xy[1] - xy[0], xy[2] - xy[1]
    e = e0 if np.hypot(*e0) >= np.hypot(*e1) else e1
    return math.atan2(e[1], e[0])


def _best_order(passes: list[np.ndarray], home: np.ndarray) -> list[np.ndarray]:
    """Of the four boustrophedon orders (which end first, which way first), the one nearest home."""
    best: tuple[float, list[np.ndarray]] | None = None
    for order in (passes, passes[::-1]):
        for flip in (False, True):
            seq = [p[::-1] if (k % 2 == 1) != flip else p for k, p in enumerate(order)]
            cost = float(np.hypot(*(seq[0][0] - home)) + np.hypot(*(seq[-1][-1] - home)))
            if best is None or cost < best[0] - 1e-9:
                best = (cost, seq)
    assert best is not None
    return best[1]


def lawnmower(
    poly_m: Polygon, *, spacing_m: float, turnaround_m: float, heading_deg: float | None, home: np.ndarray
) -> tuple[list[np.ndarray], float]:
    """Parallel survey passes covering a metric polygon, and their grid heading (0..180).

    Each pass spans the polygon across its whole band (line ± spacing/2), plus the turnaround.
    """
    theta = long_axis_rad(poly_m) if heading_deg is None else math.radians(90.0 - heading_deg)
    c = np.array(poly_m.centroid.coords[0])
    to_local = _rot(-theta)
    rp = shapely.transform(poly_m, lambda xy: (xy - c) @ to_local.T)
    minx, miny, maxx, maxy = rp.bounds
    n = max(1, math.ceil((maxy - miny) / spacing_m - 1e-9))
    ys = (miny + maxy) / 2 + (np.arange(n) - (n - 1) / 2) * spacing_m
    bands = shapely.box(minx - 1, ys - spacing_m / 2, maxx + 1, ys + spacing_m / 2)
    extents = shapely.bounds(shapely.intersection(rp, bands))
    to_world = _rot(theta)
    passes = []
    for y, (x0, _, x1, _) in zip(ys, extents, strict=True):
        if not (math.isfinite(x0) and math.isfinite(x1)):
            continue
        local = np.array([[x0 - turnaround_m, y], [x1 + turnaround_m, y]])
        passes.append(local @ to_world.T + c)
    heading = (90.0 - math.degrees(theta)) % 180.0
    return _best_order(passes, home), heading


def corridor_passes(
    line_m: LineString, *, width_m: float, spacing_m: float, turnaround_m: float, home: np.ndarray
) -> list[np.ndarray]:
    """Passes parallel to a centreline (offset curves) covering a corridor of width_m."""
    n = max(1, math.ceil(width_m / spacing_m - 1e-9))
    offsets = (np.arange(n) - (n - 1) / 2) * spacing_m
    passes = []
    for o in offsets:
        curve = line_m if abs(o) < 1e-9 else line_m.offset_curve(float(o), join_style="mitre", mitre_limit=2.0)
        if isinstance(curve, MultiLineString):
            merged = shapely.line_merge(curve)
            parts = list(getattr(merged, "geoms", [merged]))
            parts.sort(key=lambda g: line_m.project(Point(g.coords[0])))
            xy = np.concatenate([np.asarray(g.coords) for g in parts])
        else:
            xy = np.asarray(curve.coords)
        if len(xy) < 2:
            continue
        xy = _extend(xy, turnaround_m)
        passes.append(xy)
    return _best_order(passes, home)


def _extend(xy: np.ndarray, by_m: float) -> np.ndarray:
    """The polyline lengthened by by_m at both ends, along its end segments."""
    out = xy.astype(float).copy()
    d0 = out[0] - out[1]
    d1 = out[-1] - out[-2]
    out[0] = out[0] + d0 / max(np.hypot(*d0), 1e-9) * by_m
    out[-1] = out[-1] + d1 / max(np.hypot(*d1), 1e-9) * by_m
    return out


def clip_passes(passes: Sequence[np.ndarray], keepout: Any, *, min_length_m: float = 1.0) -> list[np.ndarray]:
    """Passes with the parts inside the keepout removed, in flying order."""
    if keepout.is_empty:
        return [np.asarray(p, dtype=float) for p in passes]
    shapely.prepare(keepout)
    out = []
    for p in passes:
        ls = LineString(p)
        if not keepout.intersects(ls):
            out.append(np.asarray(p, dtype=float))
            continue
        rest = ls.difference(keepout)
        parts = [g for g in getattr(rest, "geoms", [rest]) if not g.is_empty and g.length >= min_length_m]
        keyed = []
        for g in parts:
            xy = np.asarray(g.coords)
            s0, s1 = ls.project(Point(xy[0])), ls.project(Point(xy[-1]))
            if s1 < s0:
                xy, s0 = xy[::-1], s1
            keyed.append((s0, xy))
        keyed.sort(key=lambda t: t[0])
        out.extend(xy for _, xy in keyed)
    return out


# --- shared assembly ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Site:
    """The dock's metric frame, its no-fly zones and the router; built once per plan."""

    dock: Dock
    projection: LocalProjection
    home: np.ndarray
    zones: list[Polygon]
    no_fly: tuple[NoFlyZone, ...]
    router: Router

    def describe(self, p: np.ndarray) -> str:
        lon, lat = self.projection.to_lonlat(p[0], p[1])
        return fmt_lonlat(float(lon), float(lat))


def _site(dock: Dock, no_fly: Sequence[NoFlyZone], options: PlanOptions) -> _Site:
    proj = LocalProjection.around(dock.lon, dock.lat)
    hx, hy = proj.to_metric(dock.lon, dock.lat)
    home = np.array([float(hx), float(hy)])
    zones = zones_metric(no_fly, proj)
    for z, zone in zip(zones, no_fly, strict=True):
        d = z.distance(Point(home))
        if d == 0:
            raise InvalidInput(f"dock {dock.id} at {fmt_lonlat(dock.lon, dock.lat)} is inside no-fly zone {zone.name!r}")
        if d < options.clearance_m:
            raise InvalidInput(
                f"dock {dock.id} is {d:.1f} m from no-fly zone {zone.name!r}, closer than the "
                f"{options.clearance_m:g} m clearance; lower the clearance or check the zone outline"
            )
    site = _Site(dock, proj, home, zones, tuple(no_fly), Router(zones, clearance_m=options.clearance_m))
    site.router.describe = site.describe
    return site


def _check_reach(geom_lonlat: Any, *, dock: Dock, where: str) -> None:
    """Refuse targets beyond the dock's range, with a hint when a sign or order mistake explains it."""
    pts = np.asarray(shapely.get_coordinates(geom_lonlat))
    far = max(pts, key=lambda p: haversine_m(dock.lon, dock.lat, p[0], p[1]))
    d = haversine_m(dock.lon, dock.lat, far[0], far[1])
    if d <= dock.max_range_m:
        return
    c = geom_lonlat.centroid
    hint = misplacement_hint(c.x, c.y, ref_lon=dock.lon, ref_lat=dock.lat)
    dist = f"{d / 1000:,.1f} km" if d < 100_000 else f"{d / 1000:,.0f} km"
    raise InvalidInput(
        f"{where} reaches {dist} from dock {dock.id}, beyond its {dock.max_range_m / 1000:g} km range"
        + (f"; {hint}" if hint else "")
    )


def _speed(dock: Dock, options: PlanOptions, trigger_m: float) -> tuple[float, str | None]:
    speed = options.speed_m_s or dock.cruise_speed_m_s
    cap = trigger_m / options.min_trigger_interval_s if options.min_trigger_interval_s > 0 else speed
    if speed > cap:
        return cap, (f"speed lowered to {cap:.1f} m/s so the camera fires at most once every "
                     f"{options.min_trigger_interval_s:g} s")
    return speed, None


def _items(
    sortie: SortiePath, *, site: _Site, altitude_m: float,
    speed_m_s: float, trigger_m: float,
) -> tuple[MissionItem, ...]:
    """MAVLink items of one sortie: takeoff, speed, transit, trigger on, passes, trigger off, transit, RTL."""
    out_xy, body_xy, back_xy = sortie.out[1:-1], sortie.body, sortie.back[1:-1]
    xy = np.vstack([out_xy.reshape(-1, 2), body_xy, back_xy.reshape(-1, 2)])
    lon, lat = site.projection.to_lonlat(xy[:, 0], xy[:, 1])
    lon, lat = np.atleast_1d(lon), np.atleast_1d(lat)

    def wp(k: int) -> MissionItem:
        return MissionItem(command=MavCmd.NAV_WAYPOINT, lat=float(lat[k]), lon=float(lon[k]), altitude_m=altitude_m)

    def do(cmd: MavCmd, params: tuple[float, float, float, float]) -> MissionItem:
        return MissionItem(command=cmd, params=params, frame=MavFrame.MISSION)

    dock = site.dock
    n_out, n_body = len(out_xy), len(body_xy)
    items = [
        MissionItem(command=MavCmd.NAV_TAKEOFF, lat=dock.lat, lon=dock.lon, altitude_m=altitude_m),
        do(MavCmd.DO_CHANGE_SPEED, (1.0, float(speed_m_s), -1.0, 0.0)),
    ]
    items += [wp(k) for k in range(n_out)]
    items.append(wp(n_out))
    items.append(do(MavCmd.DO_SET_CAM_TRIGG_DIST, (float(trigger_m), 0.0, 1.0, 0.0)))
    items += [wp(k) for k in range(n_out + 1, n_out + n_body)]
    items.append(do(MavCmd.DO_SET_CAM_TRIGG_DIST, (0.0, 0.0, 0.0, 0.0)))
    items += [wp(k) for k in range(n_out + n_body, len(xy))]
    items.append(MissionItem(command=MavCmd.NAV_RETURN_TO_LAUNCH, frame=MavFrame.MISSION))
    return tuple(items)


def _assemble(
    *, kind: str, passes: list[np.ndarray], target_m: Any, keep_in_m: Sequence[Polygon], site: _Site,
    options: PlanOptions, camera: CameraModel, altitude_m: float, gsd_cm: float, target_gsd: float,
    trigger_m: float, spacing_m: float, heading_deg: float | None, where: str, area_id: str | None,
    scenarios: frozenset[Category], notes: list[str], check_coverage: bool,
) -> PatrolPlan:
    dock = site.dock
    speed, note = _speed(dock, options, trigger_m)
    if note:
        notes.append(note)
    pieces = clip_passes(passes, site.router.keepout)
    if not pieces:
        raise InvalidInput(
            f"{where} lies entirely within no-fly zones and their {options.clearance_m:g} m clearance; "
            "nothing is left to fly"
        )
    budget = SortieBudget(
        usable_s=usable_endurance_s(dock, options.reserve_fraction), speed_m_s=speed, altitude_m=altitude_m,
        max_items=options.max_items, model=options.flight,
    )
    paths = pack_sorties(pieces, home=site.home, router=site.router, budget=budget,
                         min_piece_m=max(trigger_m, 5.0), dock_name=dock.id)
    n = len(paths)
    if n > 1:
        notes.append(f"split into {n} sorties: one battery allows {budget.usable_s / 60:.0f} min "
                     f"with {options.reserve_fraction:.0%} reserve")
    zone_union = unary_union(site.zones) if site.zones else Polygon()
    fences = FenceBuilder(keep_in=keep_in_m, zones_m=site.zones, projection=site.projection,
                          margin_m=options.fence_margin_m, max_vertices=options.max_fence_vertices,
                          max_exclusion_growth_m=options.clearance_m / 2)
    plans = []
    traces = []
    swaths: list[Polygon] = []
    across_m, along_m = camera.footprint_m(altitude_m)
    for k, path in enumerate(paths, start=1):
        items = _items(path, site=site, altitude_m=altitude_m, speed_m_s=speed, trigger_m=trigger_m)
        t = trace(items, home_lon=dock.lon, home_lat=dock.lat, speed_m_s=speed, model=options.flight,
                  projection=site.projection)
        traces.append(t)
        swaths.extend(frame_swaths(t.triggers, along_m=along_m, across_m=across_m))
        fence = fences.fence(t.xy_m)
        plans.append(MissionPlan(
            dock_id=dock.id, items=items, trigger_distance_m=trigger_m, length_m=t.length_m,
            duration_s=t.duration_s, home_lon=dock.lon, home_lat=dock.lat, altitude_m=altitude_m,
            frame_count=t.frame_count, fence=fence, area_id=area_id, scenarios=scenarios, gsd_cm=round(gsd_cm, 3),
            camera=camera, sortie=k, sorties=n,
            meta={"kind": kind, "speed_m_s": speed, "heading_deg": heading_deg, "line_spacing_m": spacing_m,
                  "front_overlap": options.front_overlap, "side_overlap": options.side_overlap,
                  "target_gsd_cm": target_gsd},
        ))
    target = target_m.difference(zone_union) if not zone_union.is_empty else target_m
    covered = shapely.union_all(swaths).intersection(target).area if swaths and target.area > 0 else 0.0
    coverage = 1.0 if target.area <= 0 else float(min(covered / target.area, 1.0))
    problems = [p for plan, t in zip(plans, traces, strict=True) for p in check_plan(
        plan, dock=dock, no_fly=site.no_fly, ceiling_m=options.ceiling_m, reserve_fraction=options.reserve_fraction,
        max_items=options.max_items, model=options.flight, flight_trace=t, zones_m=site.zones)]
    if problems:
        raise InvalidInput(f"{where}: the planned route fails the safety check: {'; '.join(problems)}")
    if check_coverage and coverage < options.min_coverage:
        raise InvalidInput(
            f"{where}: planned frames cover {coverage:.1%} of the area outside no-fly zones, below the "
            f"{options.min_coverage:.0%} minimum (no-fly clearance or a narrow shape leaves gaps)"
        )
    return PatrolPlan(kind=kind, sorties=tuple(plans), altitude_m=altitude_m, gsd_cm=gsd_cm, target_gsd_cm=target_gsd,
                      trigger_distance_m=trigger_m, line_spacing_m=spacing_m, speed_m_s=speed,
                      coverage_fraction=coverage, heading_deg=heading_deg, notes=tuple(notes))


def _camera_plan(camera: CameraModel, gsd_target: float, options: PlanOptions) -> tuple[float, float, float, float,
                                                                                            list[str]]:
    """altitude, achieved GSD, line spacing and trigger distance for a target GSD."""
    alt, gsd = altitude_for_gsd(camera, gsd_target, ceiling_m=options.ceiling_m, min_altitude_m=options.min_altitude_m)
    notes = []
    if camera.altitude_for_gsd_m(gsd_target / 100.0) > options.ceiling_m:
        notes.append(f"the {options.ceiling_m:g} m ceiling caps altitude: GSD {gsd:.2f} cm instead of "
                     f"{gsd_target:g} cm (finer, smaller footprint, more lines)")
    across_m, along_m = camera.footprint_m(alt)
    spacing = math.floor(across_m * (1 - options.side_overlap) * 100) / 100
    trigger = math.floor(along_m * (1 - options.front_overlap) * 100) / 100
    return alt, gsd, spacing, trigger, notes


# --- public planners ---------------------------------------------------------------------------


def plan_survey(
    area: PatrolArea, *, dock: Dock, no_fly: Sequence[NoFlyZone] = (), options: PlanOptions = PlanOptions(),
    gsd_cm: float | None = None, camera: CameraModel | None = None,
) -> PatrolPlan:
    """Lawnmower survey of a patrol area at its target GSD (``gsd_cm`` overrides the area's)."""
    where = f"area {area.id!r}"
    poly = validate_polygon(area.polygon, where=where)
    _check_reach(poly, dock=dock, where=where)
    cam = camera or dock.camera
    target = gsd_cm or area.gsd_cm or target_gsd_cm(area.scenarios)
    alt, gsd, spacing, trigger, notes = _camera_plan(cam, target, options)
    site = _site(dock, no_fly, options)
    poly_m = to_metric(poly, site.projection)
    # headings are true (compass) outside, grid (UTM) inside
    convergence = site.projection.grid_convergence_deg(dock.lon, dock.lat)
    grid_heading = None if options.heading_deg is None else options.heading_deg - convergence
    passes, heading = lawnmower(poly_m, spacing_m=spacing, turnaround_m=options.turnaround_m,
                                heading_deg=grid_heading, home=site.home)
    heading = (heading + convergence) % 180.0
    return _assemble(kind="survey", passes=passes, target_m=poly_m, keep_in_m=[poly_m], site=site, options=options,
                     camera=cam, altitude_m=alt, gsd_cm=gsd, target_gsd=target, trigger_m=trigger, spacing_m=spacing,
                     heading_deg=round(heading, 2), where=where, area_id=area.id, scenarios=area.scenarios,
                     notes=notes, check_coverage=True)


def plan_corridor(
    line: Mapping[str, Any], *, width_m: float, dock: Dock, scenarios: frozenset[Category] = frozenset({Category.POLLUTION}),
    no_fly: Sequence[NoFlyZone] = (), options: PlanOptions = PlanOptions(), gsd_cm: float | None = None,
    area_id: str | None = None, camera: CameraModel | None = None,
) -> PatrolPlan:
    """Corridor scan along a GeoJSON LineString (river, road): passes parallel to it covering width_m."""
    where = f"corridor {area_id!r}" if area_id else "corridor"
    if not (math.isfinite(width_m) and 1.0 <= width_m <= 2000.0):
        raise InvalidInput(f"{where}: width must be within 1..2000 m, got {width_m}")
    ls = validate_line(line, where=where)
    _check_reach(ls, dock=dock, where=where)
    cam = camera or dock.camera
    target = gsd_cm or target_gsd_cm(scenarios)
    alt, gsd, spacing, trigger, notes = _camera_plan(cam, target, options)
    site = _site(dock, no_fly, options)
    line_m = to_metric(ls, site.projection)
    corridor = line_m.buffer(width_m / 2, cap_style="flat", join_style="mitre", mitre_limit=2.0)
    passes = corridor_passes(line_m, width_m=width_m, spacing_m=spacing, turnaround_m=options.turnaround_m,
                             home=site.home)
    return _assemble(kind="corridor", passes=passes, target_m=corridor, keep_in_m=[corridor], site=site,
                     options=options, camera=cam, altitude_m=alt, gsd_cm=gsd, target_gsd=target, trigger_m=trigger,
                     spacing_m=spacing, heading_deg=None, where=where, area_id=area_id, scenarios=scenarios,
                     notes=notes, check_coverage=True)


def plan_orbit(
    lon: float, lat: float, *, radius_m: float, dock: Dock, turns: float = 1.0,
    scenarios: frozenset[Category] = frozenset({Category.FIRE}), no_fly: Sequence[NoFlyZone] = (),
    options: PlanOptions = PlanOptions(), gsd_cm: float | None = None, area_id: str | None = None,
    camera: CameraModel | None = None,
) -> PatrolPlan:
    """Orbit of a point (fire watch): clockwise circle(s) of radius_m as waypoints, camera on throughout."""
    where = f"orbit {area_id!r}" if area_id else "orbit"
    centre = validate_point({"type": "Point", "coordinates": [lon, lat]}, where=where)
    if not (math.isfinite(radius_m) and 10.0 <= radius_m <= 2000.0):
        raise InvalidInput(f"{where}: radius must be within 10..2000 m, got {radius_m}")
    if not (math.isfinite(turns) and 0.25 <= turns <= 10):
        raise InvalidInput(f"{where}: turns must be within 0.25..10, got {turns}")
    cam = camera or dock.camera
    target = gsd_cm or target_gsd_cm(scenarios)
    alt, gsd, _, trigger, notes = _camera_plan(cam, target, options)
    site = _site(dock, no_fly, options)
    cx, cy = site.projection.to_metric(centre.x, centre.y)
    c = np.array([float(cx), float(cy)])
    disc = Point(c).buffer(radius_m, quad_segs=16)
    _check_reach(centre, dock=dock, where=where)
    if site.home[0] == c[0] and site.home[1] == c[1]:
        start = math.pi / 2
    else:
        start = math.atan2(site.home[1] - c[1], site.home[0] - c[0])
    per_turn = 24
    k = np.arange(round(per_turn * turns) + 1)
    angles = start - 2 * math.pi * k / per_turn  # clockwise seen from above
    ring = np.column_stack([c[0] + radius_m * np.cos(angles), c[1] + radius_m * np.sin(angles)])
    if site.router.has_zones and site.router.keepout.intersects(LineString(ring)):
        raise InvalidInput(f"{where}: a {radius_m:g} m orbit around {fmt_lonlat(lon, lat)} comes within "
                           f"{options.clearance_m:g} m of a no-fly zone; choose a smaller radius")
    far = float(np.hypot(*(ring - site.home).T).max())
    if far > dock.max_range_m:
        raise InvalidInput(f"{where} reaches {far / 1000:.1f} km from dock {dock.id}, beyond its "
                           f"{dock.max_range_m / 1000:g} km range")
    return _assemble(kind="orbit", passes=[ring], target_m=disc, keep_in_m=[disc], site=site, options=options,
                     camera=cam, altitude_m=alt, gsd_cm=gsd, target_gsd=target, trigger_m=trigger, spacing_m=0.0,
                     heading_deg=None, where=where, area_id=area_id, scenarios=scenarios, notes=notes,
                     check_coverage=False)


def plan_feature(
    feature: GeoFeature, *, dock: Dock, scenarios: frozenset[Category] | None = None,
    no_fly: Sequence[NoFlyZone] = (), options: PlanOptions = PlanOptions(), gsd_cm: float | None = None,
    width_m: float | None = None, radius_m: float | None = None,
) -> PatrolPlan:
    """Plan whatever a feature describes: Polygon → survey, LineString → corridor, Point → orbit."""
    props = feature.properties
    kind = feature.geometry.get("type")
    fid = feature.id or feature.name
    if kind in ("Polygon", "MultiPolygon"):
        area = area_from_feature(feature)
        if scenarios:
            area = PatrolArea(id=area.id, name=area.name, polygon=area.polygon, scenarios=scenarios,
                              gsd_cm=target_gsd_cm(scenarios) if props.get("gsd_cm") is None else area.gsd_cm,
                              cadence=area.cadence, jurisdiction_id=area.jurisdiction_id)
        return plan_survey(area, dock=dock, no_fly=no_fly, options=options, gsd_cm=gsd_cm)
    scen = scenarios or parse_scenarios(props.get("scenarios"), where=f"feature {feature.label}",
                                   default=frozenset({Category.POLLUTION if kind == "LineString" else Category.FIRE}))
    where = f"feature {feature.label}"
    gsd = gsd_cm or positive_property(props, "gsd_cm", where=where)
    if kind == "LineString":
        width = width_m or positive_property(props, "width_m", where=where)
        if width is None:
            raise InvalidInput(f"corridor {feature.label}: needs a width (width_m property or --width-m)")
        return plan_corridor(feature.geometry, width_m=width, dock=dock, scenarios=scen, no_fly=no_fly,
                             options=options, gsd_cm=gsd, area_id=fid)
    if kind == "Point":
        radius = radius_m or positive_property(props, "radius_m", where=where) or 100.0
        turns = positive_property(props, "turns", where=where) or 1.0
        pt = validate_point(feature.geometry, where=f"orbit {feature.label}")
        return plan_orbit(pt.x, pt.y, radius_m=radius, dock=dock, scenarios=scen, no_fly=no_fly, options=options,
                          gsd_cm=gsd, area_id=fid, turns=turns)
    raise InvalidInput(f"feature {feature.label}: cannot plan a {kind}; use a Polygon, LineString or Point")


__all__ = [
    "PatrolPlan",
    "PlanOptions",
    "altitude_for_gsd",
    "corridor_passes",
    "lawnmower",
    "long_axis_rad",
    "plan_corridor",
    "plan_feature",
    "plan_orbit",
    "plan_survey",
]
