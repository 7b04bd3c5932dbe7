"""Routing over jurisdiction polygons (boundaries, nesting, default queue) and rule-file validation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dockpatrol.errors import InvalidInput
from tests.unit.tickets.conftest import T0, at_m
from tickets.routing import GridIndex, explain, point_candidate, route, route_to_department
from tickets.rules import DEFAULT_RULES_PATH, load_rules_file, parse_rules

RULES = {
    "timezone": "Asia/Shanghai",
    "departments": [{"id": "enforcement", "name": "E", "teams": ["west", "east"]},
                    {"id": "fire_emergency", "name": "F"}, {"id": "triage", "name": "T"}],
    "default": {"department": "triage", "sla_hours": 24},
    "rules": [
        {"id": "night-fire", "match": {"category": "fire", "hours": "19:00-07:00"}, "department": "fire_emergency",
         "priority": 1, "sla_hours": 1},
        {"id": "fire", "match": {"category": "fire", "min_score": 0.5}, "department": "fire_emergency",
         "sla_hours": 2},
        {"id": "west", "match": {"category": "construction", "grid": "W"}, "department": "enforcement",
         "team": "west", "sla_hours": 72},
        {"id": "east", "match": {"category": "construction", "grid": ["E"]}, "department": "enforcement",
         "team": "east", "sla_hours": 72},
    ],
}


def at_point(east_m: float, north_m: float, cls: str = "steel_shed", score: float = 0.9) -> object:
    from dockpatrol.taxonomy import CATEGORY_OF

    lon, lat = at_m(east_m, north_m)
    return point_candidate(lon=lon, lat=lat, class_name=cls, category=str(CATEGORY_OF[cls]), score=score, seen_at=T0)


@pytest.mark.parametrize(
    ("east_m", "cls", "score", "hour_utc", "rule", "grid"),
    [
        (-50, "steel_shed", 0.9, 2, "west", "W"),
        (50, "steel_shed", 0.9, 2, "east", "E"),
        (0, "steel_shed", 0.9, 2, "east", "E"),  # on the shared edge: the lower id (E < W) wins, every time
        (-100, "steel_shed", 0.9, 2, "west", "W"),  # on W's outer edge: boundary counts as inside
        (300, "steel_shed", 0.9, 2, None, "S"),  # only in the street: no construction rule → triage
        (900, "steel_shed", 0.9, 2, None, None),  # outside every grid → triage, never dropped
        (50, "smoke", 0.9, 2, "fire", "E"),  # 10:00 local
        (50, "smoke", 0.9, 12, "night-fire", "E"),  # 20:00 local
        (50, "smoke", 0.9, 23, "night-fire", "E"),  # 07:00 local is outside 19:00-07:00 … 23 UTC = 07:00
        (50, "smoke", 0.3, 2, None, "E"),  # fire below min_score by day → triage
    ],
)
def test_route(two_grids: GridIndex, east_m: float, cls: str, score: float, hour_utc: int, rule: str | None,
               grid: str | None) -> None:
    rules = parse_rules(RULES, known_grids=two_grids.ids)
    at = datetime(2026, 3, 2, hour_utc, 0, tzinfo=UTC)
    if hour_utc == 23:
        rule = "fire"  # 07:00 local: the night window has just ended
    decision = route(at_point(east_m, 0, cls, score), rules, two_grids, at=at)
    assert (decision.rule_id, decision.grid_id) == (rule, grid)
    if rule is None:
        assert (decision.department, decision.sla_hours) == ("triage", 24.0)
        assert "default queue triage" in decision.reason


def test_disabled_rule_is_skipped(two_grids: GridIndex) -> None:
    doc = {**RULES, "rules": [{**RULES["rules"][2], "enabled": False}, *RULES["rules"][3:]]}
    assert route(at_point(-50, 0), parse_rules(doc), two_grids, at=T0).rule_id is None


def test_explain_lists_every_rule_in_order(two_grids: GridIndex) -> None:
    rules = parse_rules(RULES)
    assert explain(at_point(-50, 0), rules, two_grids, at=T0) == [
        ("night-fire", "category construction not in ['fire']"), ("fire", "category construction not in ['fire']"),
        ("west", None), ("east", "grid W not in ['E']")]
    assert explain(at_point(50, 0, "smoke", 0.3), rules, two_grids, at=T0)[:2] == [
        ("night-fire", "10:00 outside 19:00-07:00"), ("fire", "score 0.30 < 0.5")]


def test_transfer_routing_takes_the_departments_own_rule(two_grids: GridIndex) -> None:
    rules = parse_rules(RULES)
    d = route_to_department(at_point(50, 0, "smoke"), rules, two_grids, department="fire_emergency", at=T0)
    assert (d.rule_id, d.sla_hours) == ("fire", 2.0)
    d = route_to_department(at_point(50, 0), rules, two_grids, department="fire_emergency", at=T0)
    assert (d.rule_id, d.department, d.sla_hours) == (None, "fire_emergency", 2.0)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["rules"][0].update(colour="red"), "rules[0] (night-fire): unknown field 'colour'"),
        (lambda d: d["rules"][1].update(department="police"), "unknown department 'police'"),
        (lambda d: d["rules"][2]["match"].update(grid="G-Z9"), "grid 'G-Z9' does not exist"),
        (lambda d: d["rules"][2].update(team="north"), "unknown team 'north' of department 'enforcement'"),
        (lambda d: d["rules"][0]["match"].update(category="flood"), "unknown category 'flood'"),
        (lambda d: d["rules"][0]["match"].update(class_name="ufo"), "unknown class 'ufo'"),
        (lambda d: d["rules"][0]["match"].update(hours="7pm-7am"), "must read HH:MM-HH:MM"),
        (lambda d: d["rules"][0].update(priority=0), "outside [1, 100]"),
        (lambda d: d["rules"].append(dict(d["rules"][0])), "used twice"),
        (lambda d: d.update(colour=1), "rules: unknown field 'colour'"),
        (lambda d: d["default"].update(department="nobody"), "default: unknown department 'nobody'"),
        (lambda d: d.update(timezone="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (lambda d: d.update(classes={"steel_shed": {"radius": 3}}), "classes.steel_shed: unknown field 'radius'"),
    ],
)
def test_bad_rules_are_refused_naming_the_culprit(mutate: object, message: str) -> None:
    import copy

    doc = copy.deepcopy(RULES)
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(InvalidInput) as err:
        parse_rules(doc, known_grids={"W", "E", "S"})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_the_demo_district_rules_load_against_its_grids() -> None:
    from api.demo_district import build_district

    district = build_district()
    grids = GridIndex(district.grids)
    rules = load_rules_file(DEFAULT_RULES_PATH, known_grids=grids.ids)
    assert {d.id for d in rules.departments} == {"enforcement", "environmental", "fire_emergency", "triage"}
    shed = point_candidate(lon=113.137, lat=23.035, class_name="steel_shed", category="construction", seen_at=T0)
    assert route(shed, rules, grids, at=T0).rule_id == "R-CONS-WEST"
    assert rules.policy("smoke").dedup_radius_m == 60.0


def test_a_shared_demo_grid_border_goes_to_the_lowest_id_in_any_load_order() -> None:
    """The demo grids are equal in plan but differ by m² after vertex rounding: still the lowest id wins."""
    from shapely.geometry import Point, shape

    from api.demo_district import build_district

    cells = {c.id: c for c in build_district().grids}
    border = shape(cells["G-B1"].polygon).intersection(shape(cells["G-B2"].polygon))
    lon, lat = border.coords[1]  # a vertex both cells share
    covering = sorted(c.id for c in cells.values() if shape(c.polygon).covers(Point(lon, lat)))
    assert len(covering) >= 2
    for order in (list(cells.values()), list(reversed(cells.values()))):
        located = GridIndex(order).locate(lon, lat)
        assert located is not None and located.id == covering[0]


def test_rules_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "mine.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(InvalidInput, match=r"mine\.yaml: not valid YAML at line"):
        load_rules_file(bad)
    with pytest.raises(InvalidInput, match="does not exist"):
        load_rules_file(tmp_path / "nope.yaml")
