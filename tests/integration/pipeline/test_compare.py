"""area.compare end to end on the embedded store: mosaics recorded with flights, changes recorded once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import shapely
from shapely.geometry import mapping

from dockpatrol.camera import CameraModel
from dockpatrol.taxonomy import Category
from flight.types import Flight, FlightStatus
from missions.types import Mission, MissionStatus, PatrolArea
from pipeline import compare, jobs
from storage.platform import database, object_store
from storage.repositories import areas, flights
from storage.repositories import changes as change_repo
from vision.types import Frame, FrameStatus


@pytest.fixture(scope="module")
def twin_patrols() -> dict:
    """JPEG frames of two patrols of a 120 m square: the second one after objects appeared, vanished, grew."""
    from sim.camera import render_frame
    from sim.change_eval import frozen_at, survey_poses, with_changes
    from sim.world import DEMO_OFFSET, World

    source = World.generate(seed=3, size_m=600.0)
    t0 = source.epoch + DEMO_OFFSET
    lon, lat = source.hotspots(at=t0, limit=1)[0]
    cx, cy = (float(v) for v in source.projection.to_metric(lon, lat))
    bounds = (cx - 60, cy - 60, cx + 60, cy + 60)
    before = frozen_at(source, t0)
    after, truth = with_changes(before, source=source, at=t0 + timedelta(days=5), bounds_m=bounds, appear=2,
                                vanish=2, grow=1, seed=3)
    camera = CameraModel().scaled(800)
    altitude = camera.altitude_for_gsd_m(0.12)
    poses = survey_poses(source, bounds_m=bounds, camera=camera, altitude_m=altitude, front_overlap=0.4,
                         side_overlap=0.3)  # sparser than the planner's: fewer frames to render
    shots = {}
    for name, world, at in (("before", before, t0), ("after", after, t0 + timedelta(days=12, hours=-1))):
        shots[name] = [render_frame(world, camera, p, at + timedelta(seconds=3 * i), seed=i).to_jpeg()
                       for i, p in enumerate(poses)]
    polygon = source.projection.geometry_to_lonlat(shapely.box(*bounds))
    return {"area": PatrolArea(id="A1", name="test", polygon=mapping(polygon), scenarios=frozenset(Category),
                               gsd_cm=12.0), "shots": shots, "t0": t0, "truth": truth}


def _store_flight(flight_id: str, jpegs: list[bytes], *, started_at, area_id: str = "A1",
                  summary: dict | None = None) -> None:
    with database().unit_of_work() as session:
        flights.save_mission(session=session, mission=Mission(id=f"M-{flight_id}", area_id=area_id,
                                                              status=MissionStatus.COMPLETED))
        flights.save_flight(session=session, flight=Flight(id=flight_id, mission_id=f"M-{flight_id}",
                                                           status=FlightStatus.LANDED, started_at=started_at,
                                                           summary=summary or {}))
    for i, data in enumerate(jpegs):
        key = f"flights/{flight_id}/raw/{i:05d}.jpg"
        object_store().put(key, data, content_type="image/jpeg")
        assert jobs.ingest_frame(flight_id, key)["status"] == "stored"


def _seed(twin_patrols: dict) -> None:
    with database().unit_of_work() as session:
        areas.upsert(session=session, area=twin_patrols["area"])
    _store_flight("F-before", twin_patrols["shots"]["before"], started_at=twin_patrols["t0"])
    _store_flight("F-after", twin_patrols["shots"]["after"], started_at=twin_patrols["t0"] + timedelta(days=12))


def test_compare_records_mosaics_and_changes_once(twin_patrols: dict, tmp_path: Path) -> None:
    from rio_cogeo.cogeo import cog_validate

    _seed(twin_patrols)
    first = compare.compare_area("A1", "F-after")
    assert first["status"] == "compared" and first["before_flight_id"] == "F-before"
    assert first["changes"] >= 1
    with database().unit_of_work() as session:
        for flight_id in ("F-before", "F-after"):
            mosaic = flights.require_flight(session=session, flight_id=flight_id).summary["mosaic"]
            assert mosaic["key"] == f"flights/{flight_id}/mosaic.tif" and mosaic["frames_used"] > 0
        recorded = change_repo.of_flights(session=session, before_flight_id="F-before", after_flight_id="F-after")
    path = tmp_path / "after.tif"
    path.write_bytes(object_store().get("flights/F-after/mosaic.tif"))
    valid, errors, _ = cog_validate(path, quiet=True)
    assert valid, errors
    assert {r.id for r in recorded} == set(first["change_ids"])
    surface = [r for r in recorded if r.event.kind == "surface_change"]
    assert surface and all(object_store().exists(r.event.before_key) and object_store().exists(r.event.after_key)
                           for r in surface)
    weights = [r.review_weight for r in recorded]
    assert weights == sorted(weights, reverse=True)

    second = compare.compare_area("A1", "F-after")
    assert second["status"] == "already_compared"
    assert sorted(second["change_ids"]) == sorted(first["change_ids"])
    with database().unit_of_work() as session:
        again = change_repo.of_flights(session=session, before_flight_id="F-before", after_flight_id="F-after")
        queue = change_repo.pending_review(session=session, area_id="A1")
    assert len(again) == len(recorded)
    assert {r.id for r in queue} == {r.id for r in recorded}


def test_rerun_after_a_crash_keeps_review_status(twin_patrols: dict) -> None:
    """The comparison marker lost (a crash before commit) → a rerun finds the same rows and keeps their status."""
    _seed(twin_patrols)
    first = compare.compare_area("A1", "F-after")
    with database().unit_of_work() as session:
        row_id = first["change_ids"][0]
        from storage.tables import ChangeEventRow

        session.get(ChangeEventRow, row_id).status = "rejected"
        after = flights.require_flight(session=session, flight_id="F-after")
        flights.save_flight(session=session, flight=replace(after, summary={}))
    rerun = compare.compare_area("A1", "F-after")
    assert rerun["status"] == "compared"
    assert set(rerun["change_ids"]) == set(first["change_ids"])
    with database().unit_of_work() as session:
        assert change_repo.require(session=session, change_id=row_id).status == "rejected"


def test_first_patrol_has_nothing_to_compare(twin_patrols: dict) -> None:
    _seed(twin_patrols)
    out = compare.compare_area("A1", "F-before")
    assert out["status"] == "no_previous_patrol" and out["changes"] == 0


def test_flight_without_usable_frames_is_not_compared(twin_patrols: dict) -> None:
    """Frames without pose: the comparison says so and fabricates nothing."""
    _seed(twin_patrols)
    with database().unit_of_work() as session:
        flights.save_mission(session=session, mission=Mission(id="M-F-blind", area_id="A1",
                                                              status=MissionStatus.COMPLETED))
        flights.save_flight(session=session, flight=Flight(id="F-blind", mission_id="M-F-blind",
                                                           status=FlightStatus.LANDED,
                                                           started_at=twin_patrols["t0"] + timedelta(days=20)))
        flights.save_frame(session=session, frame=Frame(id="FR-blind", flight_id="F-blind", sha256="0" * 64,
                                                        object_key="flights/F-after/raw/00000.jpg",
                                                        status=FrameStatus.STORED, camera=CameraModel(800, 600, 73.7)))
    out = compare.compare_area("A1", "F-blind")
    assert out["status"] == "not_compared" and out["changes"] == 0
    assert any("no pose" in reason for reason in out["not_compared"])
    assert compare.compare_area("A1", "F-blind")["status"] == "already_compared"


def test_cli_writes_geojson_and_a_png(twin_patrols: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from PIL import Image

    from api.cli import main

    _seed(twin_patrols)
    out = tmp_path / "out"
    assert main(["changes", "--area", "A1", "--before", "F-before", "--after", "F-after", "--out", str(out)]) == 0
    collection = json.loads((out / "changes.geojson").read_text())
    with database().unit_of_work() as session:
        recorded = change_repo.of_flights(session=session, before_flight_id="F-before", after_flight_id="F-after")
    assert [f["id"] for f in collection["features"]] == [r.id for r in recorded]
    assert collection["properties"]["status"] == "compared"
    with Image.open(out / "changes.png") as png:
        assert png.width > 1000 and png.height > 500
    assert main(["changes", "--area", "A1", "--before", "F-before", "--after", "F-after", "--out", str(out)]) == 0
    assert "already_compared" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--before", "F-before", "--after", "nope"], "flight 'nope' does not exist"),
    (["--before", "F-after", "--after", "F-after"], "with itself"),
])
def test_cli_bad_input_is_one_line(args: list[str], message: str, twin_patrols: dict, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from api.cli import main

    _seed(twin_patrols)
    assert main(["changes", "--area", "A1", *args, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_changes_land_in_the_review_queue_once_and_decisions_reach_them(
        twin_patrols: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Compare → change items in the shared queue (by review weight); accept → ticket; reject → hard negative."""
    import json

    from api.cli import main
    from storage.repositories import tickets as ticket_repo
    from tickets.types import ReviewKind, ReviewStatus

    _seed(twin_patrols)
    first = compare.compare_area("A1", "F-after")
    capsys.readouterr()
    assert main(["review", "list", "--json"]) == 0
    queue = json.loads(capsys.readouterr().out)
    change_items = [i for i in queue if i["kind"] == "change"]
    assert {i["id"] for i in change_items} == {compare.review_item_id(c) for c in first["change_ids"]}
    with database().unit_of_work() as session:
        recorded = {c.id: c for c in change_repo.of_flights(session=session, before_flight_id="F-before",
                                                            after_flight_id="F-after")}
    weights = [recorded[i["id"].removeprefix("RV-")].review_weight for i in change_items]
    assert weights == sorted(weights, reverse=True)

    with database().unit_of_work() as session:  # a rerun after a lost marker: same items, nothing new
        after = flights.require_flight(session=session, flight_id="F-after")
        flights.save_flight(session=session, flight=replace(after, summary={}))
    compare.compare_area("A1", "F-after")
    with database().unit_of_work() as session:
        items = [i for i in ticket_repo.list_reviews(session=session) if i.kind is ReviewKind.CHANGE]
    assert len(items) == len(change_items)

    with database().unit_of_work() as session:  # a second, hand-made change to accept
        extra = change_repo.record(session=session, area_id="A1", before_flight_id="F-before", after_flight_id="F-after",
                                   events=[replace(recorded[first["change_ids"][0]].event, score=0.99,
                                                   class_name="steel_shed", category=Category.CONSTRUCTION)])
        compare.queue_for_review(session=session, changes=extra, at=twin_patrols["t0"])
    rejected, accepted = change_items[0]["id"], compare.review_item_id(extra[0].id)
    assert accepted != rejected
    assert main(["review", "reject", rejected, "--reason", "shadow of a cloud"]) == 0
    assert main(["review", "accept", accepted, "--json"]) == 0
    capsys.readouterr()
    with database().unit_of_work() as session:
        ticket = ticket_repo.get_review(session=session, item_id=accepted)
        assert ticket.status is ReviewStatus.ACCEPTED and ticket.ticket_id is not None
        assert ticket_repo.require(session=session, ticket_id=ticket.ticket_id).class_name == \
            ticket.candidate.class_name
        assert change_repo.require(session=session, change_id=rejected.removeprefix("RV-")).status == "rejected"
        assert change_repo.require(session=session, change_id=accepted.removeprefix("RV-")).status == "accepted"
        pending = {c.id for c in change_repo.pending_review(session=session, area_id="A1")}
    assert rejected.removeprefix("RV-") not in pending and accepted.removeprefix("RV-") not in pending
    assert main(["review", "list", "--json"]) == 0
    left = {i["id"] for i in json.loads(capsys.readouterr().out)}
    assert rejected not in left and accepted not in left

    out = tmp_path / "negatives"
    assert main(["review", "export", str(out), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["images"] == 1
    labels = list((out / "labels" / "train").glob("*.txt"))
    assert len(labels) == 1 and labels[0].read_text() == ""



def test_a_completed_patrol_runs_the_comparison_as_a_job_only_when_a_previous_one_exists(twin_patrols: dict) -> None:
    from pipeline.ledger import Ledger
    from pipeline.runner import InlineRunner
    from storage.repositories import jobs as job_repo

    _seed(twin_patrols)
    ledger = Ledger(runner=InlineRunner())
    assert compare.compare_after_patrol(ledger=ledger, area_id="A1", flight_id="F-before") is None
    done = compare.compare_after_patrol(ledger=ledger, area_id="A1", flight_id="F-after")
    assert done is not None and done["status"] == "compared" and done["before_flight_id"] == "F-before"
    assert compare.compare_after_patrol(ledger=ledger, area_id="A1", flight_id="F-after") == done
    with database().unit_of_work() as session:
        record = job_repo.get(session=session, key="area.compare:F-before:F-after")
    assert record is not None and str(record.status) == "succeeded" and record.flight_id == "F-after"


def test_a_sortie_is_compared_with_the_same_sortie_of_the_previous_patrol(twin_patrols: dict) -> None:
    """A patrol split into sorties covers other ground with each: sortie 1 is compared with sortie 1."""
    from pipeline.ledger import Ledger
    from pipeline.runner import InlineRunner

    _seed(twin_patrols)  # F-before and F-after carry no sortie number: they flew sortie 1
    t0 = twin_patrols["t0"]
    _store_flight("F-before-2", [], started_at=t0 + timedelta(hours=1), summary={"sortie": 2, "sorties": 2})
    _store_flight("F-after-2", [], started_at=t0 + timedelta(days=12, hours=1), summary={"sortie": 2, "sorties": 2})
    ledger = Ledger(runner=InlineRunner())
    with database().unit_of_work() as session:
        later = flights.require_flight(session=session, flight_id="F-after-2")
        first = flights.require_flight(session=session, flight_id="F-after")
        assert compare._previous_flight(session, area_id="A1", after=later) == "F-before-2"
        assert compare._previous_flight(session, area_id="A1", after=first) == "F-before"  # not the later sortie 2
    done = compare.compare_after_patrol(ledger=ledger, area_id="A1", flight_id="F-after")
    assert done is not None and done["before_flight_id"] == "F-before"


def test_reconciling_a_completed_patrol_compares_it_with_the_previous_one(twin_patrols: dict) -> None:
    """The call site: :func:`pipeline.recovery.reconcile`, where every patrol ends and its mission completes."""
    from pipeline.ledger import Ledger
    from pipeline.recovery import reconcile
    from pipeline.runner import InlineRunner

    _seed(twin_patrols)
    ledger = Ledger(runner=InlineRunner())
    first = reconcile(flight_id="F-before", ledger=ledger)
    assert first["mission"] == "completed" and first.get("compare") is None
    second = reconcile(flight_id="F-after", ledger=ledger)
    assert second["mission"] == "completed"
    assert second["compare"]["status"] == "compared" and second["compare"]["before_flight_id"] == "F-before"
