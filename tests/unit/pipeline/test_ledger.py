"""Persisted jobs: a succeeded key never runs twice, failures back off and end visibly failed."""

from __future__ import annotations

from typing import Any

import pytest

from dockpatrol.errors import InvalidInput, Unavailable
from dockpatrol.jobs import JobStatus
from pipeline.ledger import JobFailed, Ledger, RetryPolicy, job_key
from pipeline.runner import InlineRunner, job
from storage.platform import database
from storage.repositories import jobs

CALLS: dict[str, int] = {}


@job("test.count")
def _count(tag: str, fail_times: int = 0, permanent: bool = False) -> dict[str, Any]:
    CALLS[tag] = CALLS.get(tag, 0) + 1
    if permanent:
        raise InvalidInput(f"bad input {tag!r}")
    if CALLS[tag] <= fail_times:
        raise Unavailable(f"server away (call {CALLS[tag]})")
    return {"calls": CALLS[tag]}


@pytest.fixture(autouse=True)
def _fresh() -> None:
    CALLS.clear()
    from storage import platform

    platform.reset()


def _record(key: str) -> Any:
    with database().unit_of_work() as session:
        return jobs.get(session=session, key=key)


def test_a_succeeded_job_is_not_run_again() -> None:
    ledger = Ledger(runner=InlineRunner())
    key = job_key("test.count", "a")
    assert ledger.run("test.count", key=key, about_flight="F1", tag="a") == {"calls": 1}
    assert ledger.run("test.count", key=key, about_flight="F1", tag="a") == {"calls": 1}
    assert CALLS["a"] == 1
    record = _record(key)
    assert record.status is JobStatus.SUCCEEDED and record.attempts == 1 and record.flight_id == "F1"


def test_failures_back_off_then_succeed() -> None:
    waits: list[float] = []
    ledger = Ledger(runner=InlineRunner(), retry=RetryPolicy(max_attempts=4, base_delay_s=2.0), sleep=waits.append)
    assert ledger.run("test.count", key="k-b", tag="b", fail_times=2) == {"calls": 3}
    assert waits == [2.0, 4.0]
    assert _record("k-b").attempts == 3


def test_spent_attempts_end_failed_with_the_error_and_an_operator_can_retry() -> None:
    waits: list[float] = []
    ledger = Ledger(runner=InlineRunner(), retry=RetryPolicy(max_attempts=2, base_delay_s=1.0), sleep=waits.append)
    with pytest.raises(JobFailed, match="after 2 attempt"):
        ledger.run("test.count", key="k-c", tag="c", fail_times=5)
    record = _record("k-c")
    assert record.status is JobStatus.FAILED and "server away (call 2)" in record.last_error
    with pytest.raises(JobFailed, match="jobs retry"):  # visible and final: not silently run again
        ledger.run("test.count", key="k-c", tag="c", fail_times=5)
    assert CALLS["c"] == 2
    with database().unit_of_work() as session:
        jobs.requeue(session=session, key="k-c")
    CALLS["c"] = 5
    assert ledger.run("test.count", key="k-c", tag="c", fail_times=5) == {"calls": 6}


def test_a_permanent_error_is_not_retried() -> None:
    waits: list[float] = []
    ledger = Ledger(runner=InlineRunner(), sleep=waits.append)
    with pytest.raises(JobFailed, match="bad input 'd'"):
        ledger.run("test.count", key="k-d", tag="d", permanent=True)
    assert waits == [] and CALLS["d"] == 1 and _record("k-d").status is JobStatus.FAILED


def test_an_interrupted_job_is_found_unfinished_and_resumed() -> None:
    ledger = Ledger(runner=InlineRunner())
    with database().unit_of_work() as session:
        jobs.ensure(session=session, key="k-e", name="test.count", kwargs={"tag": "e"}, flight_id=None)
        jobs.mark_running(session=session, key="k-e")  # the process died here
    with database().unit_of_work() as session:
        (left,) = jobs.unfinished(session=session)
    assert left.key == "k-e" and left.status is JobStatus.RUNNING
    assert ledger.resume(left) == {"calls": 1}
    assert _record("k-e").status is JobStatus.SUCCEEDED
