"""A short patrol through the production parts: jobs on a Celery worker (a separate process) over
Redis, PostgreSQL+PostGIS for records, the S3 server for imagery; a worker killed mid-job is redelivered."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.s3]


@pytest.fixture
def production_env(pg_url: str, redis_url: str, s3_endpoint: str, isolated_data_dir: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    from dockpatrol.settings import reset_settings_cache
    from storage import platform
    from storage.db import make_engine

    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    env = {"DOCKPATROL_DATABASE_URL": pg_url, "DOCKPATROL_BROKER_URL": redis_url,
           "DOCKPATROL_S3_ENDPOINT": s3_endpoint, "DOCKPATROL_S3_BUCKET": f"dp-{uuid.uuid4().hex[:10]}",
           "DOCKPATROL_DATA_DIR": str(isolated_data_dir)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    reset_settings_cache()
    platform.reset()
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    yield env
    platform.reset()


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--concurrency", "1"],
                            env={**os.environ, **env, "PYTHONPATH": os.getcwd()},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_patrol_runs_on_celery_postgres_and_s3(production_env: dict[str, str]) -> None:
    from api.demo_district import seed
    from dockpatrol.camera import CameraModel
    from dockpatrol.geo import LocalProjection
    from pipeline.ledger import Ledger
    from pipeline.patrol import PatrolOptions, run_patrol
    from pipeline.runner import CeleryRunner
    from sim.demo import TwinVehicle, demo_world, hotspot_area
    from sim.world import DEMO_OFFSET
    from storage.platform import database, object_store
    from storage.tables import FindingRow, FrameRow, JobRow, MissionRow

    world = demo_world()
    with database().unit_of_work() as session:
        district = seed(session)
    demo = hotspot_area(world, district)
    lon, lat = world.hotspots(limit=1)[0]
    proj = LocalProjection.around(lon, lat)
    x, y = (float(v) for v in proj.to_metric(lon, lat))
    lons, lats = proj.to_lonlat([x - 70, x + 70, x + 70, x - 70, x - 70], [y - 50, y - 50, y + 50, y + 50, y - 50])
    area = replace(demo.area, polygon={"type": "Polygon", "coordinates": [[[float(a), float(b)] for a, b in
                                                                           zip(lons, lats, strict=True)]]}, gsd_cm=5.0)
    from storage.repositories import areas

    with database().unit_of_work() as session:
        areas.upsert(session=session, area=area)
    options = PatrolOptions(camera=CameraModel().scaled(1600))
    twin = TwinVehicle(world=world, camera=options.camera, media_dir=Path(production_env["DOCKPATROL_DATA_DIR"]) / "m")
    worker = _worker(production_env)
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
