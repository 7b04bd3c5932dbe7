"""Job handles speak one vocabulary (JobStatus) whichever runner ran the job."""

from __future__ import annotations

import threading

import pytest

from pipeline.runner import JOBS, InProcessRunner, job
from pipeline.types import CELERY_STATES, JobStatus


def test_in_process_handle_reports_queued_running_succeeded_failed() -> None:
    started, release = threading.Event(), threading.Event()

    @job("test.blocking")
    def blocking() -> str:
        started.set()
        release.wait(timeout=30)
        return "done"

    @job("test.failing")
    def failing() -> None:
        raise ValueError("boom")

    runner = InProcessRunner(workers=1)
    try:
        first = runner.submit("test.blocking")
        assert started.wait(timeout=30)
        second = runner.submit("test.failing")
        assert (first.status(), second.status()) == (JobStatus.RUNNING, JobStatus.QUEUED)
        release.set()
        assert first.result(timeout=30) == "done" and first.status() is JobStatus.SUCCEEDED
        with pytest.raises(ValueError, match="boom"):
            second.result(timeout=30)
        assert second.status() is JobStatus.FAILED
    finally:
        release.set()
        runner.shutdown()
        JOBS.pop("test.blocking", None)
        JOBS.pop("test.failing", None)


def test_every_celery_state_has_a_word() -> None:
    assert set(CELERY_STATES) == {"PENDING", "RECEIVED", "RETRY", "STARTED", "SUCCESS", "FAILURE", "REVOKED"}
    assert set(CELERY_STATES.values()) == set(JobStatus)
