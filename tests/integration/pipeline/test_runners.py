"""The same job through the in-process runner and through a real Celery worker on Redis."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from dockpatrol.errors import InvalidInput
from pipeline.runner import CeleryRunner, InProcessRunner


@pytest.fixture
def stored_object() -> tuple[str, str]:
    from storage.objects import open_object_store

    data = b"frame bytes " * 100
    open_object_store().put("flights/F1/00001.jpg", data)
    return "flights/F1/00001.jpg", hashlib.sha256(data).hexdigest()


def test_in_process_runner(stored_object: tuple[str, str]) -> None:
    runner = InProcessRunner(workers=2)
    key, digest = stored_object
    assert runner.submit("objects.checksum", key=key).result(timeout=30)["sha256"] == digest
    runner.shutdown()


def test_unknown_job_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown job 'nope'"):
        InProcessRunner(workers=1).submit("nope")


@pytest.fixture
def celery_runner(redis_url: str) -> Iterator[CeleryRunner]:
    from celery.contrib.testing.worker import start_worker

    runner = CeleryRunner(redis_url)
    with start_worker(runner.app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield runner


@pytest.mark.redis
def test_celery_worker_runs_registered_job(celery_runner: CeleryRunner, stored_object: tuple[str, str]) -> None:
    key, digest = stored_object
    result = celery_runner.submit("objects.checksum", key=key).result(timeout=30)
    assert result == {"key": key, "sha256": digest, "size_bytes": 1200}
    assert celery_runner.submit("worker.info").result(timeout=30)["dockpatrol"]


@pytest.mark.redis
def test_job_survives_a_crashed_worker(redis_url: str, tmp_path) -> None:
    """A worker process that dies mid-job loses nothing: the job is redelivered and completes."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "DOCKPATROL_BROKER_URL": redis_url, "PYTHONPATH": os.getcwd()}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "pipeline.celery_app", "worker", "-P", "prefork", "-c", "1",
         "-I", "tests.integration.pipeline.crash_jobs", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-l", "warning", "-Q", "celery"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        import tests.integration.pipeline.crash_jobs  # noqa: F401  (the sender checks job names too)

        runner = CeleryRunner(redis_url)
        marker = tmp_path / "attempts.txt"
        assert runner.submit("test.crash_once", marker=str(marker)).result(timeout=120) == {"attempts": 2}
    finally:
        worker.terminate()
        worker.wait(timeout=30)
