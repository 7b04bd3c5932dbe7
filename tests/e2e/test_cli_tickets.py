"""The ticket commands as an operator runs them: rules check, list/show/transition, review and export."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKPATROL_DATA_DIR": str(data_dir), "PYTHONPATH": os.getcwd(), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("    sla_hours: 72\n", "    sla_hours: 72\n    colour: red\n"), "unknown field 'colour'"),
        (("department: fire_emergency", "department: police"), "unknown department 'police'"),
        (("G-A1, G-B1", "G-Z9, G-B1"), "grid 'G-Z9' does not exist"),
    ],
)
def test_rules_check_names_the_problem_in_one_line(isolated_data_dir: Path, tmp_path: Path, edit: tuple[str, str],
                                                   message: str) -> None:
    from tickets.rules import DEFAULT_RULES_PATH

    bad = tmp_path / "rules.yaml"
    bad.write_text(DEFAULT_RULES_PATH.read_text().replace(*edit, 1))
    result = cli(isolated_data_dir, "rules", "check", str(bad))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_rules_check_explains_which_rule_wins(isolated_data_dir: Path) -> None:
    result = cli(isolated_data_dir, "rules", "check", "tickets/rulesets/default.yaml", "--at", "113.137,23.035",
                 "--at", "113.165,23.035", "--class", "steel_shed", "--class", "smoke",
                 "--time", "2026-03-02T21:00+08:00", "--json")
    assert result.returncode == 0, result.stderr
    won = {(s["sample"], s["class_name"]): s["rule_id"] for s in json.loads(result.stdout)["samples"]}
    assert won == {("113.137,23.035", "steel_shed"): "R-CONS-WEST", ("113.165,23.035", "steel_shed"): "R-CONS-EAST",
                   ("113.137,23.035", "smoke"): "R-FIRE-NIGHT", ("113.165,23.035", "smoke"): "R-FIRE-NIGHT"}


def _seed(data_dir: Path) -> None:
    """Two objects from a flight: one confident shed (a ticket), one faint dump (the review queue)."""
    from pipeline.tickets import ticket_objects
    from storage.platform import database, object_store
    from tickets.types import Candidate

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 110, 100)).save(buf, format="JPEG")
    object_store().put("evidence/F1/dump.jpg", buf.getvalue(), content_type="image/jpeg")

    def square(lon: float) -> dict:
        ring = [[lon, 23.035], [lon + 3e-5, 23.035], [lon + 3e-5, 23.03503], [lon, 23.03503], [lon, 23.035]]
        return {"type": "Polygon", "coordinates": [ring]}

    with database().unit_of_work() as s:
        ticket_objects(session=s, at=T0, objects=[
            Candidate(key="F1:shed", class_name="steel_shed", category="construction", score=0.9,
                      geometry=square(113.137), seen_at=T0, flight_id="F1"),
            Candidate(key="F1:dump", class_name="garbage_dump", category="pollution", score=0.2,
                      geometry=square(113.139), seen_at=T0, flight_id="F1", evidence_key="evidence/F1/dump.jpg")])


def test_tickets_and_review_from_the_command_line(isolated_data_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(isolated_data_dir)
    listed = json.loads(cli(isolated_data_dir, "tickets", "list", "--json").stdout)
    assert [(t["class_name"], t["status"]) for t in listed] == [("steel_shed", "new")]  # no grids: triage
    number = listed[0]["number"]
    refused = cli(isolated_data_dir, "tickets", "transition", number, "accept")
    assert refused.returncode == 1 and "cannot accept from new" in refused.stderr
    moved = cli(isolated_data_dir, "tickets", "transition", number, "dispatch", "--json")
    assert moved.returncode == 0 and json.loads(moved.stdout)["status"] == "dispatched"
    forbidden = cli(isolated_data_dir, "tickets", "transition", number, "accept", "--role", "field",
                    "--department", "environmental")
    assert forbidden.returncode == 1 and "may not accept" in forbidden.stderr
    shown = cli(isolated_data_dir, "tickets", "show", number)
    assert "created" in shown.stdout and "dispatch" in shown.stdout and "sightings:" in shown.stdout

    queue = json.loads(cli(isolated_data_dir, "review", "list", "--json").stdout)
    assert [i["class_name"] for i in queue] == ["garbage_dump"]
    no_reason = cli(isolated_data_dir, "review", "reject", queue[0]["id"], "--reason", " ")
    assert no_reason.returncode == 1 and "needs a reason" in no_reason.stderr
    assert cli(isolated_data_dir, "review", "reject", queue[0]["id"], "--reason", "wet asphalt").returncode == 0
    out = tmp_path / "negatives"
    exported = cli(isolated_data_dir, "review", "export", str(out), "--json")
    assert json.loads(exported.stdout)["images"] == 1

    import ultralytics.data.utils as yolo_utils
    from ultralytics.data.dataset import YOLODataset

    monkeypatch.setattr(yolo_utils, "check_font", lambda *a, **k: None)  # a plotting font, fetched online
    data = yolo_utils.check_det_dataset(str(out / "data.yaml"), autodownload=False)
    assert data["nc"] == 9 and Path(data["train"]).is_dir()
    dataset = YOLODataset(img_path=data["train"], data=data, task="detect", imgsz=64, augment=False, cache=False)
    assert len(dataset) == 1 and dataset.labels[0]["cls"].shape[0] == 0  # a background image: no boxes
