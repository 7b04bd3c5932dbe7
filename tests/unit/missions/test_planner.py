"""Survey, corridor and orbit planning: GSD → altitude, line direction, MAVLink item order, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, shape
from shapely.geometry import Polygon as ShapelyPolygon

from dockpatrol.camera import CameraModel
from dockpatrol.errors import InvalidInput
from dockpatrol.geo import LocalProjection
from dockpatrol.taxonomy import Category
from missions.areas import circle_polygon, geojson, to_metric
from missions.planner import PlanOptions, altitude_for_gsd, plan_corridor, plan_orbit, plan_survey
from missions.safety import check_plan, frame_footprints, plan_trace, usable_endurance_s
from missions.types import Dock, MavCmd, MavFrame, NoFlyZone, PatrolArea, target_gsd_cm
from tests.unit.missions.shapes import dock, line, lonlat, polygon, rectangle

CAM = CameraModel()


def area(geom: dict, *, scenarios: frozenset[Category] = frozenset({Category.CONSTRUCTION}), gsd_cm: float = 2.5,
         area_id: str = "A1") -> PatrolArea:
    return PatrolArea(id=area_id, name=area_id, polygon=geom, scenarios=scenarios, gsd_cm=gsd_cm)


@pytest.mark.parametrize(("gsd_cm", "altitude_m", "achieved_cm"), [
    (2.5, 66.7, 2.5),     # construction default
    (3.0, 80.0, 3.0),     # pollution default
    (5.0, 120.0, 4.497),  # fire: the 120 m ceiling wins, the GSD comes out finer
])
def test_altitude_for_target_gsd(gsd_cm: float, altitude_m: float, achieved_cm: float) -> None:
    alt, gsd = altitude_for_gsd(CAM, gsd_cm)
    assert alt == pytest.approx(altitude_m, abs=0.1)
    assert gsd == pytest.approx(achieved_cm, abs=0.005)
    assert gsd <= gsd_cm + 1e-9


def test_impossible_gsd_says_why() -> None:
    with pytest.raises(InvalidInput, match=r"a 0\.5 cm GSD needs 13\.\d m altitude .* below the 30 m minimum; "
                                           r"the finest this camera gives there is 1\.12 cm"):
        altitude_for_gsd(CAM, 0.5)


def test_scenario_targets() -> None:
    assert target_gsd_cm({Category.FIRE}) == 5.0
    assert target_gsd_cm({Category.FIRE, Category.CONSTRUCTION}) == 2.5
    assert target_gsd_cm(set()) == 2.5


def test_survey_items_follow_the_mavlink_pattern() -> None:
    plan = plan_survey(area(rectangle(300, 200, 300, 200)), dock=dock())
    assert len(plan.sorties) == 1
    sortie = plan.sorties[0]
    cmds = [it.command for it in sortie.items]
    assert cmds[:2] == [MavCmd.NAV_TAKEOFF, MavCmd.DO_CHANGE_SPEED]
    assert cmds[-1] == MavCmd.NAV_RETURN_TO_LAUNCH
    on = cmds.index(MavCmd.DO_SET_CAM_TRIGG_DIST)
    off = len(cmds) - 1 - cmds[::-1].index(MavCmd.DO_SET_CAM_TRIGG_DIST)
    assert on < off and cmds[on - 1] == MavCmd.NAV_WAYPOINT
    assert sortie.items[on].params[0] == pytest.approx(plan.trigger_distance_m) and sortie.items[on].params[2] == 1
    assert sortie.items[off].params[0] == 0
    assert all(c == MavCmd.NAV_WAYPOINT for c in cmds[on + 1:off])
    assert sortie.items[1].params[:2] == (1.0, plan.speed_m_s)
    for it in sortie.items:
        if it.command == MavCmd.NAV_WAYPOINT:
            assert it.altitude_m == plan.altitude_m and it.frame == MavFrame.GLOBAL_RELATIVE_ALT_INT
        elif it.command in (MavCmd.DO_CHANGE_SPEED, MavCmd.DO_SET_CAM_TRIGG_DIST):
            assert it.frame == MavFrame.MISSION
    across, along = CAM.footprint_m(plan.altitude_m)
    assert plan.trigger_distance_m == pytest.approx(along * 0.25, abs=0.01)
    assert plan.line_spacing_m == pytest.approx(across * 0.35, abs=0.01)
    assert sortie.frame_count > 0 and sortie.length_m > 0 and sortie.duration_s > sortie.length_m / plan.speed_m_s
    assert sortie.meta["kind"] == "survey" and sortie.area_id == "A1" and sortie.gsd_cm == pytest.approx(2.5, abs=0.01)
    assert plan.coverage_fraction >= 0.99


@pytest.mark.parametrize("rotate_deg", [0.0, 30.0, 75.0, 120.0])
def test_lines_run_along_the_long_axis(rotate_deg: float) -> None:
    geom = rectangle(400, 0, 900, 160, rotate_deg=rotate_deg)
    plan = plan_survey(area(geom), dock=dock())
    expected_true = (90.0 - rotate_deg) % 180.0  # the rectangle's long side, as a compass heading
    assert plan.heading_deg == pytest.approx(expected_true, abs=1.5)
    across = plan_survey(area(geom), dock=dock(), options=PlanOptions(heading_deg=(expected_true + 90) % 180))
    waypoints = sum(it.command == MavCmd.NAV_WAYPOINT for s in plan.sorties for it in s.items)
    waypoints_across = sum(it.command == MavCmd.NAV_WAYPOINT for s in across.sorties for it in s.items)
    assert waypoints < waypoints_across  # fewer lines, fewer turns


def test_gsd_override_and_fire_scenario() -> None:
    fire = plan_survey(area(rectangle(0, 300, 200, 200), scenarios=frozenset({Category.FIRE}), gsd_cm=5.0), dock=dock())
    assert fire.altitude_m == 120.0 and fire.gsd_cm < 5.0
    assert any("ceiling caps altitude" in n for n in fire.notes)
    fine = plan_survey(area(rectangle(0, 300, 200, 200)), dock=dock(), gsd_cm=2.0)
    assert fine.altitude_m == pytest.approx(CAM.altitude_for_gsd_m(0.02), abs=0.1)


def test_corridor_follows_a_river_with_its_width() -> None:
    river = line([(-200, 300), (200, 350), (600, 250), (900, 400)])
    plan = plan_corridor(river, width_m=80.0, dock=dock())
    assert plan.kind == "corridor" and plan.coverage_fraction >= 0.99
    assert plan.gsd_cm == pytest.approx(3.0, abs=0.01)  # pollution default for rivers
    proj = LocalProjection.around(plan.sorties[0].home_lon, plan.sorties[0].home_lat)
    centre = to_metric(shape(river), proj)
    wps = [(it.lon, it.lat) for s in plan.sorties for it in s.items if it.command == MavCmd.NAV_WAYPOINT]
    x, y = proj.to_metric(np.array([p[0] for p in wps]), np.array([p[1] for p in wps]))
    dist = [centre.distance(Point(a, b)) for a, b in zip(x, y, strict=True)]
    # passes stay within the corridor; mitred bends and the turnaround reach a little beyond its half-width
    assert max(dist) < 80.0 and min(dist) < plan.line_spacing_m
    with pytest.raises(InvalidInput, match="width must be within"):
        plan_corridor(river, width_m=0.0, dock=dock())


def test_orbit_circles_the_point_at_the_ceiling_for_fire() -> None:
    lon, lat = lonlat(500, 500)
    plan = plan_orbit(lon, lat, radius_m=80.0, dock=dock())
    assert plan.kind == "orbit" and plan.altitude_m == 120.0
    proj = LocalProjection.around(lon, lat)
    cx, cy = proj.to_metric(lon, lat)
    body = [it for it in plan.sorties[0].items if it.command == MavCmd.NAV_WAYPOINT]
    radii = [math.hypot(*(np.array(proj.to_metric(it.lon, it.lat)) - [cx, cy])) for it in body]
    assert min(radii) == pytest.approx(80.0, abs=0.5) and max(radii) == pytest.approx(80.0, abs=0.5)
    assert len(body) == 25  # one turn in 15° steps, closed
    assert plan.sorties[0].frame_count > 0


# --- properties over random polygons -------------------------------------------------------------

OPTIONS = PlanOptions()


@st.composite
def scenes(draw: st.DrawFn) -> tuple[dict, NoFlyZone | None, float, Dock]:
    """A random star-shaped (hence simple) polygon near a dock, maybe a no-fly disc, a target GSD, and a dock
    whose battery may need several sorties."""
    n = draw(st.integers(3, 10))
    jitter = draw(st.lists(st.floats(-0.35, 0.35), min_size=n, max_size=n))
    radii = draw(st.lists(st.floats(60.0, 350.0), min_size=n, max_size=n))
    cx, cy = draw(st.floats(-1500, 1500)), draw(st.floats(-1500, 1500))
    turn = draw(st.floats(0, 2 * math.pi))
    pts = []
    for k in range(n):
        a = turn + 2 * math.pi * (k + jitter[k]) / n
        pts.append((cx + radii[k] * math.cos(a), cy + radii[k] * math.sin(a)))
    geom = polygon(pts)
    zone = None
    if draw(st.booleans()):
        zx, zy = cx + draw(st.floats(-250, 250)), cy + draw(st.floats(-250, 250))
        zr = draw(st.floats(20.0, 90.0))
        # keep the dock clear of it, and most of the area flyable (an area left only inside the zone's
        # clearance band is refused for coverage, rightly, and is not what this property is about)
        keepout = Point(zx, zy).buffer(zr + OPTIONS.clearance_m)
        area_m = ShapelyPolygon(pts)
        if math.hypot(zx, zy) > zr + OPTIONS.clearance_m + 50 and area_m.difference(keepout).area > 0.5 * area_m.area:
            zone = NoFlyZone(id="Z", name="zone", polygon=geojson(circle_polygon(*lonlat(zx, zy), zr, segments=24)))
    gsd = draw(st.sampled_from([2.5, 3.0, 5.0]))
    the_dock = dock(max_range_m=6000.0, endurance_s=draw(st.sampled_from([900.0, 1500.0, 2400.0])))
    return geom, zone, gsd, the_dock


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_random_areas_plan_safely_and_are_covered(scene: tuple[dict, NoFlyZone | None, float, Dock]) -> None:
    geom, zone, gsd, the_dock = scene
    zones = [zone] if zone else []
    plan = plan_survey(area(geom, gsd_cm=gsd), dock=the_dock, no_fly=zones)
    proj = LocalProjection.around(the_dock.lon, the_dock.lat)
    zone_m = to_metric(shape(zone.polygon), proj) if zone else None
    usable = usable_endurance_s(the_dock, OPTIONS.reserve_fraction)
    frames = []
    for sortie in plan.sorties:
        assert sortie.sorties == len(plan.sorties)
        assert check_plan(sortie, dock=the_dock, no_fly=zones) == []
        # altitude ceiling, endurance and item limit
        assert all(it.altitude_m <= 120.0 for it in sortie.items if it.is_nav)
        assert sortie.duration_s <= usable
        assert len(sortie.items) + 1 <= OPTIONS.max_items
        # no waypoint, and no leg between them, inside the no-fly zone
        t = plan_trace(sortie, projection=proj)
        if zone_m is not None:
            assert not any(zone_m.contains(Point(p)) for p in t.xy_m)
            assert not LineString(t.xy_m).intersects(zone_m)
        across, along = CAM.footprint_m(sortie.altitude_m)
        frames += frame_footprints(t.triggers, along_m=along, across_m=across)
    # coverage checked independently of the planner's own swath union: sample points, test per-frame rectangles
    target = to_metric(shape(geom), proj)
    if zone_m is not None:
        target = target.difference(zone_m)
    tree = shapely.STRtree(frames)
    rng = np.random.default_rng(0)
    minx, miny, maxx, maxy = target.bounds
    pts = shapely.points(rng.uniform(minx, maxx, 6000), rng.uniform(miny, maxy, 6000))
    inside = pts[shapely.contains(target, pts)]
    hit = np.zeros(len(inside), dtype=bool)
    hit[np.unique(tree.query(inside, predicate="within")[0])] = True
    assert hit.mean() >= 0.99
    assert plan.coverage_fraction >= 0.99


def test_area_across_a_utm_zone_boundary_is_planned_in_the_docks_zone() -> None:
    near_edge = Dock(id="D9", name="zone edge", lon=113.995, lat=23.03)  # zone 49; 114°E starts zone 50
    straddling = {"type": "Polygon", "coordinates": [[[113.998, 23.031], [114.004, 23.031], [114.004, 23.035],
                                                      [113.998, 23.035], [113.998, 23.031]]]}
    plan = plan_survey(area(straddling), dock=near_edge)
    assert plan.coverage_fraction >= 0.99
    assert plan.heading_deg == pytest.approx(90.0, abs=1.0)  # true east-west, though the zones disagree on grid north
    assert all(check_plan(s, dock=near_edge) == [] for s in plan.sorties)
