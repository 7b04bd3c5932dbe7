"""Reading plans for flight: dockpatrol plan.json (the planner's writer) and QGroundControl .plan files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockpatrol.errors import InvalidInput
from flight.mission import mission_to_wire
from flight.planfile import read_plan_file
from missions.planfile import write_plan
from missions.types import MavCmd
from tests.unit.flight.helpers import square_fence, survey_plan


def test_plan_json_written_by_the_planner_reads_back_for_flight(tmp_path: Path) -> None:
    plan = survey_plan(fence=square_fence(300.0))
    path = tmp_path / "plan.json"
    write_plan(path, plan)
    back = read_plan_file(path)
    assert back.dock_id == plan.dock_id and (back.home_lon, back.home_lat) == (plan.home_lon, plan.home_lat)
    assert back.items == plan.items and back.fence == plan.fence
    assert back.trigger_distance_m == plan.trigger_distance_m
    assert mission_to_wire(back) == mission_to_wire(plan)


def _qgc(items: list[dict]) -> dict:
    return {"fileType": "Plan", "version": 1, "groundStation": "QGroundControl",
            "mission": {"version": 2, "firmwareType": 3, "vehicleType": 2, "cruiseSpeed": 10, "hoverSpeed": 5,
                        "plannedHomePosition": [23.03, 113.15, 10.0], "items": items},
            "geoFence": {"version": 2, "circles": [],
                         "polygons": [{"inclusion": True, "version": 1,
                                       "polygon": [[23.029, 113.149], [23.031, 113.149], [23.031, 113.151],
                                                   [23.029, 113.151]]}]},
            "rallyPoints": {"version": 2, "points": []}}


def _simple(command: int, params: list, frame: int = 3) -> dict:
    return {"type": "SimpleItem", "command": command, "frame": frame, "params": params, "autoContinue": True,
            "doJumpId": 1}


def test_qgc_plan_with_a_survey_complex_item_is_flattened(tmp_path: Path) -> None:
    survey = {"type": "ComplexItem", "complexItemType": "survey", "version": 5,
              "TransectStyleComplexItem": {"Items": [
                  _simple(16, [0, 0, 0, None, 23.0302, 113.1502, 40]),
                  _simple(206, [15, 0, 1, 0, 0, 0, 0], frame=2),
                  _simple(16, [0, 0, 0, None, 23.0312, 113.1502, 40]),
                  _simple(206, [0, 0, 1, 0, 0, 0, 0], frame=2),
              ]}}
    doc = _qgc([_simple(22, [0, 0, 0, None, 0, 0, 40]), survey, _simple(20, [0, 0, 0, 0, 0, 0, 0], frame=2)])
    path = tmp_path / "site.plan"
    path.write_text(json.dumps(doc))
    plan = read_plan_file(path)
    assert plan.dock_id == "site"
    assert [int(it.command) for it in plan.items] == [MavCmd.NAV_TAKEOFF, 16, 206, 16, 206, MavCmd.NAV_RETURN_TO_LAUNCH]
    assert plan.items[1].lat == pytest.approx(23.0302) and plan.items[1].altitude_m == 40
    assert plan.trigger_distance_m == 15 and (plan.home_lon, plan.home_lat) == (113.15, 23.03)
    assert len(plan.fence) == 4 and plan.fence[0].vertex_count == 4


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    (json.dumps({"format": "something-else"}), "format"),
    (json.dumps({"fileType": "Plan", "version": 7}), "version"),
])
def test_bad_plan_files_are_refused_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=message) as info:
        read_plan_file(path)
    assert str(path) in str(info.value)


def test_missing_plan_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such plan file"):
        read_plan_file(tmp_path / "nope.json")
