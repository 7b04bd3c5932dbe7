"""The imagery jobs: raw bytes stored first, bad files quarantined (kept), good ones analysed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dockpatrol.camera import CameraModel, GeoPose
from dockpatrol.taxonomy import CLASS_NAMES
from flight.types import Flight
from pipeline import jobs
from storage.platform import database, object_store
from storage.repositories import findings, flights
from vision.types import FrameStatus


@pytest.fixture(scope="module")
def twin_jpeg() -> bytes:
    from sim.camera import render_frame
    from sim.world import DEMO_OFFSET, World

    world = World.generate(seed=3, size_m=400.0)
    lon, lat = world.hotspots(limit=1)[0]
    frame = render_frame(world, CameraModel().scaled(800), GeoPose(lon, lat, 60.0), world.epoch + DEMO_OFFSET,
                         pose_noise=False)
    return frame.to_jpeg()


@pytest.fixture
def flight_id() -> str:
    with database().unit_of_work() as session:
        flights.save_flight(session=session, flight=Flight(id="F1"))
    return "F1"


def test_ingest_records_pose_from_the_image(twin_jpeg: bytes, flight_id: str) -> None:
    object_store().put("flights/F1/raw/00001.jpg", twin_jpeg)
    out = jobs.ingest_frame(flight_id, "flights/F1/raw/00001.jpg")
    assert out["status"] == "stored"
    with database().unit_of_work() as session:
        frame = flights.get_frame(session=session, frame_id=out["frame_id"])
    assert frame.altitude_above_ground_m == pytest.approx(60.0, abs=0.01)
    assert (frame.width_px, frame.height_px) == (800, 600)
    assert frame.camera is not None and frame.camera.hfov_deg == pytest.approx(CameraModel().hfov_deg, abs=0.01)
    assert frame.status is FrameStatus.STORED
    again = jobs.ingest_frame(flight_id, "flights/F1/raw/00001.jpg")
    assert again["frame_id"] == out["frame_id"]  # re-delivery updates, never duplicates


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"\xff\xd8\xff\xe0 truncated jpeg", "corrupt"), (b"%PDF-1.7 not an image", "type"), (b"", "empty")],
)
def test_unreadable_images_are_quarantined_and_kept(payload: bytes, reason: str, flight_id: str) -> None:
    object_store().put("flights/F1/raw/bad.jpg", payload)
    out = jobs.ingest_frame(flight_id, "flights/F1/raw/bad.jpg")
    assert out["status"] == "quarantined" and out["error"]
    assert object_store().get("quarantine/F1/bad.jpg") == payload
    assert object_store().get("flights/F1/raw/bad.jpg") == payload  # the raw upload stays too
    with database().unit_of_work() as session:
        frame = flights.get_frame(session=session, frame_id=out["frame_id"])
    assert frame.status is FrameStatus.QUARANTINED and frame.error == out["error"] and frame.pose() is None


def test_analyse_keeps_only_the_area_scenarios(twin_jpeg: bytes, flight_id: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from dockpatrol.settings import reset_settings_cache
    from vision.ultralytics_adapter import save_random_model

    save_random_model(tmp_path / "rand.pt", seed=1)
    card = {"name": "rand", "version": "0", "description": "untrained, for plumbing", "synthetic_training_data": True,
            "weights": "rand.pt", "input_size_px": 320,
            "classes": [{"id": i, "name": n, "taxonomy": n, "threshold": 0.001} for i, n in enumerate(CLASS_NAMES)]}
    (tmp_path / "rand.yaml").write_text(yaml.safe_dump(card))
    monkeypatch.setenv("DOCKPATROL_MODELS_DIR", str(tmp_path))
    reset_settings_cache()
    jobs._load_detector.cache_clear()
    object_store().put("flights/F1/raw/00001.jpg", twin_jpeg)
    frame_id = jobs.ingest_frame(flight_id, "flights/F1/raw/00001.jpg")["frame_id"]
    out = jobs.analyse_frame(frame_id, "rand", ["fire"])
    assert out["status"] == "analysed"
    with database().unit_of_work() as session:
        rows = findings.findings_of_flight(session=session, flight_id="F1")
        assert len(rows) == out["findings"]
        assert flights.get_frame(session=session, frame_id=frame_id).status is FrameStatus.ANALYSED
    assert {r.finding.category for r in rows} <= {"fire"}
    for r in rows:
        assert r.finding.frame_id == frame_id and r.area_id is None and r.finding.model == "rand@0"
        assert object_store().get(r.finding.evidence_key)[:2] == b"\xff\xd8"
    assert out["findings"] + out["dropped_out_of_scope"] > 0  # the untrained model fires at 0.001


def test_missing_frame_is_not_found() -> None:
    from dockpatrol.errors import NotFound

    with pytest.raises(NotFound, match="FR-nope"):
        jobs.analyse_frame("FR-nope", "rand", ["fire"])
