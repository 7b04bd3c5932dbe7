"""The production parts for pipeline tests: PostgreSQL+PostGIS, Redis and the S3 server, each test on a
fresh schema, a flushed Redis database and its own bucket; and a Celery worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def production_env(pg_url: str, redis_url: str, s3_endpoint: str, isolated_data_dir: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    from dockpatrol.settings import reset_settings_cache
    from storage import platform
    from storage.db import make_engine, wipe_postgis_schema

    engine = make_engine(pg_url)
    wipe_postgis_schema(engine)
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


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``dockpatrol worker`` as a separate process with the test's settings."""
    return subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--concurrency", "1"],
                            env={**os.environ, **env, "PYTHONPATH": os.getcwd()},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
