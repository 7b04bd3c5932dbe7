"""`dockpatrol plan` and `dockpatrol schedule`: files written, one `error:` line for bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from api.cli import main
from api.cli_missions import resolve_dock
from dockpatrol.errors import ConfigError
from missions.planfile import read_plan
from missions.qgc import read_qgc
from tests.unit.missions.shapes import rectangle


def write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


def area_file(tmp_path: Path, geometry: dict, **props: object) -> Path:
    return write(tmp_path / "area.geojson", {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "A1", "geometry": geometry, "properties": {"name": "Lecong", **props}}]})


def test_plan_writes_plan_json_per_sortie(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    area = area_file(tmp_path, rectangle(0, 700, 900, 600))
    out = tmp_path / "plan.json"
    assert main(["plan", "--area", str(area), "--dock", "113.15,23.03", "--scenario", "construction", "-o",
                 str(out)]) == 0
    plan = read_plan(out)
    assert plan.dock_id == "adhoc" and plan.area_id == "A1" and plan.sorties > 1
    assert read_plan(tmp_path / "plan.sortie2.json").sortie == 2
    text = capsys.readouterr().out
    assert "survey at 66.7 m, GSD 2.50 cm" in text and "coverage" in text


def test_plan_qgc_format_and_no_fly_file(tmp_path: Path) -> None:
    area = area_file(tmp_path, rectangle(0, 500, 300, 200), scenarios="fire")
    nfz = write(tmp_path / "nfz.geojson", {"type": "Feature", "properties": {"name": "school", "radius_m": 60},
                                           "geometry": {"type": "Point", "coordinates": [113.15, 23.0325]}})
    out = tmp_path / "survey.plan"
    assert main(["plan", "--area", str(area), "--dock", "113.15,23.03", "--no-fly", str(nfz), "--format", "qgc",
                 "-o", str(out)]) == 0
    plan = read_qgc(out)
    assert plan.altitude_m == 120.0  # fire target GSD at the ceiling
    assert any(not v.inclusion for v in plan.fence)


def test_corridor_from_a_linestring_feature(tmp_path: Path) -> None:
    river = {"type": "LineString", "coordinates": [[113.151, 23.032], [113.156, 23.033], [113.16, 23.031]]}
    area = area_file(tmp_path, river, width_m=60)
    out = tmp_path / "river.json"
    assert main(["plan", "--area", str(area), "--dock", "113.15,23.03", "-o", str(out)]) == 0
    assert read_plan(out).gsd_cm == pytest.approx(3.0, abs=0.01)


@pytest.mark.parametrize(("geometry", "dock", "message"), [
    ({"type": "Polygon", "coordinates": [[[113.15, 23.03], [113.16, 23.04], [113.16, 23.03], [113.15, 23.04],
                                          [113.15, 23.03]]]}, "113.15,23.03", "ring self-intersects at (113.15500"),
    (rectangle(0, 500, 200, 200), "113.15,-23.03", "wrong hemisphere"),
    (rectangle(0, 500, 200, 200), "23.03,113.15", "lon/lat order?"),
    (rectangle(9000, 0, 200, 200), "113.15,23.03", "beyond its 5 km range"),
])
def test_bad_input_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], geometry: dict, dock: str,
                                     message: str) -> None:
    area = area_file(tmp_path, geometry)
    assert main(["plan", "--area", str(area), "--dock", dock, "-o", str(tmp_path / "p.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not (tmp_path / "p.json").exists()


def test_dock_id_without_a_fleet_registry_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "api.context", None)
    with pytest.raises(ConfigError, match="pass --dock LON,LAT"):
        resolve_dock("D1")


def test_schedule_from_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docks = write(tmp_path / "docks.json", [{"id": "D1", "lon": 113.15, "lat": 23.03},
                                            {"id": "D2", "lon": 113.16, "lat": 23.03, "status": "maintenance"}])
    area = area_file(tmp_path, rectangle(300, 0, 200, 200), cadence="0 9 * * *")
    reqs = write(tmp_path / "reqs.json", [{"id": "FAR", "lon": 114.0, "lat": 23.5, "priority": "emergency"}])
    args = ["schedule", "--days", "2", "--start", "2025-06-02T00:00Z", "--docks", str(docks), "--areas", str(area),
            "--requests", str(reqs), "--timezone", "Asia/Shanghai"]
    assert main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["start"] for e in doc["entries"]] == ["2025-06-02T01:00:00+00:00", "2025-06-03T01:00:00+00:00"]
    assert doc["unscheduled"][0]["request_id"] == "FAR" and "out of range" in doc["unscheduled"][0]["reason"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 sorties scheduled, 1 not scheduled" in out and "Asia/Shanghai" in out


def test_schedule_needs_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "--docks", str(tmp_path / "d.json")]) == 1
    assert "give both --docks and --areas" in capsys.readouterr().err


def test_schedule_reads_the_fleet_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--no-patrol"]) == 0
    capsys.readouterr()
    assert main(["schedule", "--days", "7", "--start", "2026-01-05T00:00Z", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["entries"]) > 20
    assert {e["dock_id"] for e in doc["entries"]} <= {f"D{k}" for k in range(1, 9)}
