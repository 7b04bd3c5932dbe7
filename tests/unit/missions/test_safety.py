"""Safety: routing around no-fly zones, refusals, sorties within a battery, item limits, fence, coverage."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from shapely.geometry import LineString, Point, Polygon, box, shape

from dockpatrol.errors import InvalidInput
from dockpatrol.geo import LocalProjection
from dockpatrol.taxonomy import Category
from missions.areas import circle_polygon, geojson, to_metric
from missions.estimate import FlightModel, trace
from missions.planner import PlanOptions, plan_survey
from missions.safety import (
    Router,
    check_plan,
    coverage_fraction,
    fence_polygons,
    plan_trace,
    usable_endurance_s,
)
from missions.types import MavCmd, MissionItem, NoFlyZone, PatrolArea
from tests.unit.missions.shapes import dock, lonlat, polygon, rectangle


def area(geom: dict, area_id: str = "A1") -> PatrolArea:
    return PatrolArea(id=area_id, name=area_id, polygon=geom, scenarios=frozenset({Category.CONSTRUCTION}))


def zone(geom: dict, name: str = "hospital") -> NoFlyZone:
    return NoFlyZone(id=name, name=name, polygon=geom)


def test_router_goes_around_an_obstacle_and_straight_when_clear() -> None:
    wall = box(-20, -200, 20, 200)
    router = Router([wall], clearance_m=10.0)
    a, b = np.array([-300.0, 0.0]), np.array([300.0, 0.0])
    path = router.route(a, b)
    assert len(path) > 2
    grown = wall.buffer(9.0)
    assert not LineString(path).intersects(grown)
    length = float(np.hypot(*np.diff(path, axis=0).T).sum())
    # within 3% of the shortest path that keeps exactly 10 m clear (over the wall's ends)
    assert 600.0 < length < 1.03 * (2 * np.hypot(270, 210) + 60)
    clear = router.route(np.array([-300.0, 300.0]), np.array([300.0, 300.0]))
    assert len(clear) == 2


def test_router_refuses_when_the_goal_is_walled_in() -> None:
    ring = Point(0, 0).buffer(300).difference(Point(0, 0).buffer(250))
    router = Router([ring], clearance_m=10.0)
    with pytest.raises(InvalidInput, match=r"no route from .* keeps 10 m clear of the no-fly zones"):
        router.route(np.array([-600.0, 0.0]), np.array([0.0, 0.0]))


def test_survey_routes_around_a_zone_between_dock_and_area() -> None:
    nfz = zone(rectangle(0, 400, 600, 120))
    plan = plan_survey(area(rectangle(0, 800, 300, 200)), dock=dock(), no_fly=[nfz])
    proj = LocalProjection.around(plan.sorties[0].home_lon, plan.sorties[0].home_lat)
    nfz_m = to_metric(shape(nfz.polygon), proj)
    for sortie in plan.sorties:
        assert check_plan(sortie, dock=dock(), no_fly=[nfz]) == []
        t = plan_trace(sortie, projection=proj)
        assert LineString(t.xy_m).distance(nfz_m) >= PlanOptions().clearance_m - 0.6
        # the transit detour is flown as waypoints before the camera goes on
        cmds = [it.command for it in sortie.items]
        assert cmds.index(MavCmd.DO_SET_CAM_TRIGG_DIST) > 3
    fence = fence_polygons(plan.sorties[0].fence)
    inclusions = [p for p, inc in fence if inc]
    exclusions = [p for p, inc in fence if not inc]
    assert len(inclusions) == 1 and len(exclusions) == 1
    assert exclusions[0].buffer(1e-6).covers(shape(nfz.polygon))  # simplified outward, never inward
    home = Point(plan.sorties[0].home_lon, plan.sorties[0].home_lat)
    assert inclusions[0].contains(home)


def test_survey_lines_are_clipped_by_a_zone_inside_the_area() -> None:
    nfz = zone(geojson(circle_polygon(*lonlat(0, 600), 60.0)))
    plan = plan_survey(area(rectangle(0, 600, 500, 400)), dock=dock(), no_fly=[nfz])
    wps = [Point(it.lon, it.lat) for s in plan.sorties for it in s.items if it.command == MavCmd.NAV_WAYPOINT]
    assert not any(shape(nfz.polygon).contains(p) for p in wps)
    assert all(check_plan(s, dock=dock(), no_fly=[nfz]) == [] for s in plan.sorties)
    assert plan.coverage_fraction >= 0.99


def test_dock_inside_a_zone_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"dock D1 at \(113\.15000, 23\.03000\) is inside no-fly zone 'hospital'"):
        plan_survey(area(rectangle(0, 500, 200, 200)), dock=dock(), no_fly=[zone(rectangle(0, 0, 200, 200))])


def test_area_beyond_range_is_refused_in_one_sentence() -> None:
    with pytest.raises(InvalidInput, match=r"^area 'far' reaches 8\.\d km from dock D1, beyond its 5 km range$"):
        plan_survey(area(rectangle(8000, 0, 200, 200), "far"), dock=dock())


def test_area_in_the_wrong_hemisphere_is_refused_with_the_likely_mistake() -> None:
    south = {"type": "Polygon", "coordinates": [[[113.152, -23.031], [113.156, -23.031], [113.156, -23.034],
                                                 [113.152, -23.034], [113.152, -23.031]]]}
    with pytest.raises(InvalidInput) as err:
        plan_survey(area(south, "south"), dock=dock())
    text = str(err.value)
    assert text.startswith("area 'south' reaches 5,1") and "beyond its 5 km range" in text
    assert "latitude -23.03" in text and "wrong hemisphere" in text and "\n" not in text


def test_area_out_of_reach_of_the_battery_is_refused() -> None:
    short = dock(endurance_s=400.0, max_range_m=20000.0)
    with pytest.raises(InvalidInput, match=r"is out of reach: flying there from dock D1 and back takes [\d.]+ min "
                                           r"by the shortest legal route, and one battery allows 5\.0 min"):
        plan_survey(area(rectangle(2500, 0, 200, 200)), dock=short)


def test_big_area_is_split_into_sorties_each_within_the_battery() -> None:
    the_dock = dock(endurance_s=1200.0)
    plan = plan_survey(area(rectangle(600, 0, 900, 700)), dock=the_dock)
    n = len(plan.sorties)
    assert n >= 3
    usable = usable_endurance_s(the_dock)
    for k, sortie in enumerate(plan.sorties, start=1):
        assert (sortie.sortie, sortie.sorties) == (k, n)
        assert sortie.duration_s <= usable
        assert check_plan(sortie, dock=the_dock) == []
    assert coverage_fraction(plan.sorties, shape(rectangle(600, 0, 900, 700))) >= 0.99
    # half the sorties leave part of the area unseen
    assert coverage_fraction(plan.sorties[: n // 2], shape(rectangle(600, 0, 900, 700))) < 0.9


def test_item_limit_splits_sorties() -> None:
    opts = PlanOptions(max_items=30)
    plan = plan_survey(area(rectangle(300, 0, 600, 600)), dock=dock(), options=opts)
    unlimited = plan_survey(area(rectangle(300, 0, 600, 600)), dock=dock())
    assert len(plan.sorties) > len(unlimited.sorties)
    assert all(len(s.items) + 1 <= 30 for s in plan.sorties)
    assert plan.coverage_fraction >= 0.99


def test_check_plan_names_each_broken_rule() -> None:
    the_dock = dock(max_range_m=800.0)
    good = plan_survey(area(rectangle(0, 300, 200, 150)), dock=the_dock).sorties[0]
    assert check_plan(good, dock=the_dock) == []
    high = tuple(dataclasses.replace(it, altitude_m=150.0) if it.command == MavCmd.NAV_WAYPOINT else it
                 for it in good.items)
    problems = check_plan(dataclasses.replace(good, items=high), dock=the_dock)
    assert any("above the 120 m ceiling" in p for p in problems)
    no_rtl = dataclasses.replace(good, items=good.items[:-1])
    assert any("must end with NAV_RETURN_TO_LAUNCH" in p for p in check_plan(no_rtl, dock=the_dock))
    nfz = zone(rectangle(0, 300, 40, 40), "school")
    assert any("enters no-fly zone 'school'" in p for p in check_plan(good, dock=the_dock, no_fly=[nfz]))
    far_lon, far_lat = lonlat(2000, 0)
    far = (*good.items[:-1], MissionItem(command=MavCmd.NAV_WAYPOINT, lat=far_lat, lon=far_lon, altitude_m=60.0),
           good.items[-1])
    problems = check_plan(dataclasses.replace(good, items=far), dock=the_dock)
    assert any("beyond its 0.80 km range" in p for p in problems)
    assert any("leaves its own inclusion fence" in p for p in problems)
    weak = dataclasses.replace(the_dock, endurance_s=60.0)
    assert any("more than the 0.8 min" in p for p in check_plan(good, dock=weak))


def test_trace_counts_time_and_frames_like_the_autopilot() -> None:
    lon, lat = lonlat(1000, 0)
    items = (
        MissionItem(command=MavCmd.NAV_TAKEOFF, altitude_m=60.0),
        MissionItem(command=MavCmd.DO_CHANGE_SPEED, params=(1.0, 10.0, -1.0, 0.0)),
        MissionItem(command=MavCmd.DO_SET_CAM_TRIGG_DIST, params=(100.0, 0.0, 1.0, 0.0)),
        MissionItem(command=MavCmd.NAV_WAYPOINT, lat=lat, lon=lon, altitude_m=60.0),
        MissionItem(command=MavCmd.DO_SET_CAM_TRIGG_DIST),
        MissionItem(command=MavCmd.NAV_RETURN_TO_LAUNCH),
    )
    m = FlightModel()
    home_lon, home_lat = lonlat(0, 0)
    t = trace(items, home_lon=home_lon, home_lat=home_lat, speed_m_s=5.0, model=m)
    assert t.length_m == pytest.approx(2000.0, rel=1e-6)
    expected = m.overhead_s + 60 / m.climb_m_s + 2000 / 10.0 + 60 / m.descent_m_s + 1 * m.turn_s
    assert t.duration_s == pytest.approx(expected, rel=1e-6)
    assert t.frame_count == 11  # one at once, then every 100 m over 1000 m
    assert t.max_distance_m == pytest.approx(1000.0, rel=1e-6) and t.returns_home


def test_coverage_of_an_empty_plan_list_is_zero() -> None:
    assert coverage_fraction([], Polygon([(0, 0), (1, 0), (1, 1)])) == 0.0


def test_area_swallowed_by_a_zone_is_refused() -> None:
    with pytest.raises(InvalidInput, match="lies entirely within no-fly zones and their 15 m clearance"):
        plan_survey(area(rectangle(0, 600, 100, 100)), dock=dock(), no_fly=[zone(rectangle(0, 600, 200, 200))])


def test_polygon_helper_is_closed() -> None:
    g = polygon([(0, 0), (100, 0), (0, 100)])
    assert g["coordinates"][0][0] == g["coordinates"][0][-1]
