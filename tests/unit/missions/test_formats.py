"""plan.json and QGroundControl .plan: round trips, a QGC-authored file, and malformed input refused."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path

import pytest

from dockpatrol.errors import InvalidInput
from dockpatrol.taxonomy import Category
from missions.planfile import dumps_plan, loads_plan, plan_from_dict, plan_to_dict, read_plan, write_plan
from missions.planner import plan_survey
from missions.qgc import from_qgc, read_qgc, to_qgc, write_qgc
from missions.safety import check_plan, fence_polygons
from missions.types import Dock, MavCmd, MavFrame, MissionItem, MissionPlan, NoFlyZone, PatrolArea, RallyPoint
from tests.unit.missions.shapes import dock, rectangle

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def plan() -> MissionPlan:
    area = PatrolArea(id="A1", name="A1", polygon=rectangle(0, 500, 300, 200),
                      scenarios=frozenset({Category.CONSTRUCTION, Category.POLLUTION}))
    nfz = NoFlyZone(id="N1", name="school", polygon=rectangle(0, 250, 200, 60))
    sortie = plan_survey(area, dock=dock(), no_fly=[nfz]).sorties[0]
    return dataclasses.replace(sortie, rally_points=(RallyPoint(lat=23.031, lon=113.151, altitude_m=40.0),))


PLAN_KEYS = {"format", "version", "dock_id", "home", "altitude_m", "trigger_distance_m", "length_m", "duration_s",
             "frame_count", "sortie", "sorties", "area_id", "scenarios", "gsd_cm", "camera", "items", "fence"}


def test_plan_json_has_exactly_the_agreed_fields(plan: MissionPlan) -> None:
    doc = plan_to_dict(plan)
    assert set(doc) == PLAN_KEYS
    assert doc["format"] == "dockpatrol-plan" and doc["version"] == 1
    assert set(doc["home"]) == {"lon", "lat"} and set(doc["camera"]) == {"width_px", "height_px", "hfov_deg"}
    assert all(set(i) == {"command", "frame", "lat", "lon", "altitude_m", "params", "autocontinue"}
               for i in doc["items"])
    assert all(len(i["params"]) == 4 for i in doc["items"])
    assert all(set(v) == {"lat", "lon", "polygon_index", "vertex_count", "inclusion"} for v in doc["fence"])
    assert doc["scenarios"] == ["construction", "pollution"]


def test_plan_json_round_trip(plan: MissionPlan, tmp_path: Path) -> None:
    back = loads_plan(dumps_plan(plan))
    for f in ("dock_id", "items", "fence", "trigger_distance_m", "length_m", "duration_s", "home_lon", "home_lat",
              "altitude_m", "frame_count", "area_id", "scenarios", "gsd_cm", "camera", "sortie", "sorties"):
        assert getattr(back, f) == getattr(plan, f), f
    path = tmp_path / "out" / "plan.json"
    write_plan(path, plan)
    assert read_plan(path).items == plan.items
    assert [p.name for p in path.parent.iterdir()] == ["plan.json"]  # no temporary file left behind


def test_nan_params_travel_as_null(plan: MissionPlan) -> None:
    item = MissionItem(command=MavCmd.NAV_TAKEOFF, altitude_m=30.0, params=(0.0, 0.0, 0.0, math.nan))
    doc = plan_to_dict(dataclasses.replace(plan, items=(item, *plan.items[1:])))
    assert doc["items"][0]["params"][3] is None
    json.dumps(doc, allow_nan=False)
    assert math.isnan(plan_from_dict(doc).items[0].params[3])


def _broken(plan: MissionPlan, change) -> dict:  # type: ignore[no-untyped-def]
    doc = copy.deepcopy(plan_to_dict(plan))
    change(doc)
    return doc


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(format="mavlink"), "'format' must be 'dockpatrol-plan'"),
    (lambda d: d.update(version=2), "version 2 is not supported"),
    (lambda d: d.update(items=[]), "'items' is empty"),
    (lambda d: d.pop("dock_id"), "missing 'dock_id'"),
    (lambda d: d["items"][2].update(params=[0, 0, 0]), r"plan item 3: 'params' must hold 4 numbers"),
    (lambda d: d["items"][2].update(lat="23.03"), r"plan item 3: 'lat' must be a finite number"),
    (lambda d: d["items"][2].update(altitude_m=150.0), r"plan item 3 flies at 150 m, above the 120 m ceiling"),
    (lambda d: d["items"][2].update(lat=123.0), r"plan item 3: .* outside WGS84"),
    (lambda d: d.update(sortie=3, sorties=2), "sortie 3 of 2"),
    (lambda d: d.update(scenarios=["traffic"]), "unknown scenario 'traffic'"),
])
def test_malformed_plan_json_names_the_field(plan: MissionPlan, change, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=message):
        plan_from_dict(_broken(plan, change))


def test_reader_refuses_non_json(tmp_path: Path) -> None:
    p = tmp_path / "plan.json"
    p.write_text("[1, 2")
    with pytest.raises(InvalidInput, match=r"plan\.json: not valid JSON"):
        read_plan(p)


def test_qgc_export_shape(plan: MissionPlan) -> None:
    doc = to_qgc(plan, home_amsl_m=12.0)
    assert (doc["fileType"], doc["version"], doc["mission"]["version"]) == ("Plan", 1, 2)
    assert doc["mission"]["plannedHomePosition"] == [plan.home_lat, plan.home_lon, 12.0]
    items = doc["mission"]["items"]
    assert [i["doJumpId"] for i in items] == list(range(1, len(plan.items) + 1))
    assert all(i["type"] == "SimpleItem" and len(i["params"]) == 7 for i in items)
    wp = next(i for i in items if i["command"] == MavCmd.NAV_WAYPOINT)
    assert wp["frame"] == MavFrame.GLOBAL_RELATIVE_ALT and wp["params"][6] == plan.altitude_m
    assert next(i for i in items if i["command"] == MavCmd.DO_SET_CAM_TRIGG_DIST)["frame"] == MavFrame.MISSION
    polys = doc["geoFence"]["polygons"]
    assert [p["inclusion"] for p in polys] == [True, False]
    assert doc["rallyPoints"]["points"] == [[23.031, 113.151, 40.0]]
    json.dumps(doc, allow_nan=False)


def test_qgc_round_trip_preserves_items_fence_and_rally(plan: MissionPlan, tmp_path: Path) -> None:
    path = tmp_path / "survey.plan"
    write_qgc(path, plan)
    back = read_qgc(path, dock_id=plan.dock_id)
    assert back.items == plan.items
    assert back.fence == plan.fence
    assert back.rally_points == plan.rally_points
    assert (back.home_lon, back.home_lat) == (plan.home_lon, plan.home_lat)
    assert back.trigger_distance_m == plan.trigger_distance_m and back.altitude_m == plan.altitude_m
    assert back.length_m == pytest.approx(plan.length_m) and back.frame_count == plan.frame_count


def test_qgc_authored_plan_imports() -> None:
    plan = read_qgc(DATA / "qgc_guicheng_survey.plan", dock_id="D1")
    cmds = [it.command for it in plan.items]
    # the survey ComplexItem is flattened through the items QGC stored inside it
    assert cmds == [22, 178, 16, 16, 206, 16, 16, 16, 16, 16, 206, 20]
    assert all(it.frame == MavFrame.GLOBAL_RELATIVE_ALT_INT for it in plan.items if it.command == 16)
    assert math.isnan(plan.items[0].params[3])  # QGC's null yaw
    assert plan.items[0].altitude_m == 40.0 and plan.altitude_m == 60.0
    assert plan.trigger_distance_m == 20.0 and plan.frame_count > 20
    assert (plan.home_lat, plan.home_lon, plan.meta["home_amsl_m"]) == (23.0309, 113.1512, 12.5)
    polys = fence_polygons(plan.fence)
    assert [inc for _, inc in polys] == [True, False, False]  # inclusion, exclusion, circle as a 24-gon
    assert len([v for v in plan.fence if v.polygon_index == 2]) == 24
    assert plan.rally_points == (RallyPoint(lat=23.0312, lon=113.1522, altitude_m=30.0),)
    home_dock = Dock(id="D1", name="Guicheng", lon=113.1512, lat=23.0309)
    assert check_plan(plan, dock=home_dock) == []


def _qgc(change) -> dict:  # type: ignore[no-untyped-def]
    doc = json.loads((DATA / "qgc_guicheng_survey.plan").read_text())
    change(doc)
    return doc


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(fileType="Mission"), "not a QGroundControl plan"),
    (lambda d: d.update(version=2), "file version 2 is not supported"),
    (lambda d: d["mission"]["items"][3]["TransectStyleComplexItem"].pop("Items"), "carries no generated items"),
    (lambda d: d["mission"]["items"][2].update(frame=10), "MAV_FRAME 10 is not supported"),
    (lambda d: d["mission"]["items"][2].update(params=[0, 0, 0]), "'params' must hold 7 values"),
    (lambda d: d["mission"].update(plannedHomePosition=[113.15, 23.03, 0]), "outside WGS84 lat/lon range"),
    (lambda d: d["mission"]["items"].append({"type": "Odd"}), "unknown item type 'Odd'"),
])
def test_malformed_qgc_is_refused(change, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=message):
        from_qgc(_qgc(change))


def test_absolute_altitudes_become_relative_to_home() -> None:
    def amsl(d: dict) -> None:
        item = d["mission"]["items"][2]
        item["frame"] = 0
        item["params"][6] = 72.5

    plan = from_qgc(_qgc(amsl))
    assert plan.items[2].altitude_m == pytest.approx(60.0) and plan.items[2].frame == MavFrame.GLOBAL_RELATIVE_ALT_INT
