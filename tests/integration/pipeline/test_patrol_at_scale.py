"""A short patrol through the production parts: jobs on a Celery worker (a separate process) over
Redis, PostgreSQL+PostGIS for records, the S3 server for imagery; a worker killed mid-job is redelivered
and its job leaves no duplicates."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.pipeline.conftest import start_worker

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.s3]


def test_a_patrol_runs_on_celery_postgres_and_s3(production_env: dict[str, str]) -> None:
    from api.demo_district import seed
    from dockpatrol.camera import CameraModel
    from pipeline.ledger import Ledger
    from pipeline.patrol import PatrolOptions, run_patrol
    from pipeline.runner import CeleryRunner
    from sim.demo import TwinVehicle, area_around, demo_world
    from sim.world import DEMO_OFFSET
    from storage.platform import database, object_store
    from storage.tables import FindingRow, FrameRow, JobRow, MissionRow

    world = demo_world()
    with database().unit_of_work() as session:
        district = seed(session)
    lon, lat = world.hotspots(limit=1)[0]
    demo = area_around(lon, lat, district, area_id="A00", size_m=(140.0, 100.0))
    area = replace(demo.area, gsd_cm=5.0)
    from storage.repositories import areas

    with database().unit_of_work() as session:
        areas.upsert(session=session, area=area)
    options = PatrolOptions(camera=CameraModel().scaled(1600))
    twin = TwinVehicle(world=world, camera=options.camera, media_dir=Path(production_env["DOCKPATROL_DATA_DIR"]) / "m")
    worker = start_worker(production_env)
    try:
        run = run_patrol(area=area, dock=demo.dock, at=world.epoch + DEMO_OFFSET + timedelta(minutes=1), vehicle=twin,
                         media=twin, options=options,
                         ledger=Ledger(runner=CeleryRunner(production_env["DOCKPATROL_BROKER_URL"]), timeout_s=300))
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    assert run.ok and run.photos > 0
    with database().unit_of_work() as s:
        assert s.get_bind().dialect.name == "postgresql"
        mission = s.get(MissionRow, run.mission_id)
        frames = s.scalars(select(FrameRow)).all()
        jobs = Counter((j.name, j.status) for j in s.scalars(select(JobRow)))
        findings = s.scalars(select(FindingRow)).all()
    assert mission.status == "completed"
    assert len(frames) == run.photos and {f.status for f in frames} == {"analysed"}
    assert jobs[("frames.analyse", "succeeded")] == run.photos and jobs[("patrol.reconcile", "succeeded")] == 1
    raw = list(object_store().list(f"flights/{run.flight_id}/raw/"))
    assert len(raw) == run.photos  # the imagery is in the S3 server
    assert all(object_store().exists(f.evidence_key) for f in findings if f.evidence_key)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_a_worker_killed_mid_analysis_is_redelivered_without_duplicates(production_env: dict[str, str]) -> None:
    """SIGKILL the pool process running ``frames.analyse``: the broker hands the job to a fresh process, the
    job completes once, and running it again (the service's retry) changes nothing."""
    from dockpatrol.camera import CameraModel, GeoPose
    from dockpatrol.jobs import JobStatus
    from flight.types import Flight
    from pipeline import jobs
    from pipeline.ledger import Ledger, job_key
    from pipeline.runner import CeleryRunner
    from sim.camera import render_frame
    from sim.demo import demo_world
    from sim.world import DEMO_OFFSET
    from storage.platform import database, object_store
    from storage.repositories import findings, flights

    world = demo_world()
    lon, lat = world.hotspots(limit=1)[0]
    jpeg = render_frame(world, CameraModel().scaled(1600), GeoPose(lon=lon, lat=lat, altitude_m=60.0),
                        world.epoch + DEMO_OFFSET).to_jpeg()
    with database().unit_of_work() as session:
        flights.save_flight(session=session, flight=Flight(id="F-crash"))
    object_store().put("flights/F-crash/raw/00001.jpg", jpeg)
    frame_id = jobs.ingest_frame("F-crash", "flights/F-crash/raw/00001.jpg")["frame_id"]
    kwargs = {"frame_id": frame_id, "card_name": "dockpatrol-demo-yolo11n",
              "scenarios": ["construction", "fire", "pollution"], "area_id": None}
    runner = CeleryRunner(production_env["DOCKPATROL_BROKER_URL"])
    worker = start_worker(production_env)
    try:
        handle = runner.submit("frames.analyse", **kwargs)
        deadline = time.monotonic() + 120
        while handle.status() is not JobStatus.RUNNING and time.monotonic() < deadline:
            time.sleep(0.02)
        assert handle.status() is JobStatus.RUNNING
        (child,) = _children(worker.pid)
        os.kill(child, signal.SIGKILL)  # the process running the job dies mid-job
        result = handle.result(timeout=180)
        assert result["status"] == "analysed"
        with database().unit_of_work() as session:
            stored = findings.findings_of_flight(session=session, flight_id="F-crash")
        assert len(stored) == result["findings"] > 0
        again = Ledger(runner=runner).run("frames.analyse", key=job_key("frames.analyse", frame_id, "x"),
                                          about_flight="F-crash", **kwargs)
        with database().unit_of_work() as session:
            after = findings.findings_of_flight(session=session, flight_id="F-crash")
        assert again["findings"] == len(stored) and [f.id for f in after] == [f.id for f in stored]
    finally:
        worker.terminate()
        worker.wait(timeout=60)
