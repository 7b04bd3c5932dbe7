"""Persisted, idempotent jobs: every pipeline step runs under a row in the jobs table.

A step is named by its idempotency key (``frames.analyse:FR-…``). Running a key that already
succeeded returns the stored result without running again; a key whose process died while it ran
is simply run again (every job is idempotent on its input); a failure is retried with exponential
back-off and, when the attempts are spent or the error cannot be cured by waiting, ends ``failed``
with its error in the row, where ``dockpatrol jobs`` shows it. Nothing is dropped silently.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dockpatrol.errors import ConfigError, DockpatrolError, InvalidInput, NotFound
from dockpatrol.jobs import JobRecord, JobStatus
from pipeline.runner import InProcessRunner, Runner

log = logging.getLogger("dockpatrol.jobs")

#: Errors no wait can cure (bad input, a missing object or row, wrong configuration, a job called with
#: arguments it does not take): fail at once.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (InvalidInput, NotFound, ConfigError, TypeError)
#: Celery re-raises a worker's exception by class name when it cannot import it; match those names too.
_PERMANENT_NAMES = frozenset(cls.__name__ for cls in PERMANENT_ERRORS)


class JobFailed(DockpatrolError):
    """A persisted job ended failed; its row keeps the error until an operator retries it."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off: ``base_delay_s`` × 2^(attempt−1), at most ``max_delay_s``, ``max_attempts`` in all."""

    max_attempts: int = 8  # 2+4+…+128 s: rides out a store or broker restart of a few minutes
    base_delay_s: float = 2.0
    max_delay_s: float = 300.0

    def delay_s(self, attempt: int) -> float:
        return min(self.max_delay_s, self.base_delay_s * 2 ** max(0, attempt - 1))


def job_key(name: str, *parts: str) -> str:
    """The idempotency key of a job: its name and the identity of its input."""
    return ":".join((name, *parts))


def _permanent(exc: BaseException) -> bool:
    return isinstance(exc, PERMANENT_ERRORS) or type(exc).__name__ in _PERMANENT_NAMES


class Ledger:
    """Runs jobs through a :class:`Runner` (in-process or Celery) with their state in the database."""

    def __init__(self, *, runner: Runner | None = None, retry: RetryPolicy = RetryPolicy(),
                 timeout_s: float = 900.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.runner = runner or InProcessRunner(workers=1)
        self.retry = retry
        self.timeout_s = timeout_s
        self._sleep = sleep

    def run(self, name: str, *, key: str, about_flight: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Run job ``name`` on ``kwargs`` once for ``key``: the stored result if it already succeeded, else
        run (with retries) and record the outcome. Raises :class:`JobFailed` when it ends failed.

        The record names the flight it concerns: ``about_flight``, or the job's own ``flight_id`` argument.
        """
        flight_id = about_flight or kwargs.get("flight_id")
        from storage.platform import database
        from storage.repositories import jobs

        db = database()
        with db.unit_of_work() as session:
            record = jobs.ensure(session=session, key=key, name=name, kwargs=kwargs, flight_id=flight_id)
        if record.status is JobStatus.SUCCEEDED:
            return record.result
        if record.status is JobStatus.FAILED:
            raise JobFailed(f"job {key} failed after {record.attempts} attempts: {record.last_error} "
                            f"(dockpatrol jobs retry {key!r} runs it again)")
        return self._attempt(record)

    def resume(self, record: JobRecord) -> dict[str, Any]:
        """Run an unfinished job found in the table (after a restart)."""
        return self._attempt(record)

    def _attempt(self, record: JobRecord) -> dict[str, Any]:
        from storage.platform import database
        from storage.repositories import jobs

        db = database()
        while True:
            with db.unit_of_work() as session:
                record = jobs.mark_running(session=session, key=record.key)
            try:
                result = self.runner.submit(record.name, **record.kwargs).result(timeout=self.timeout_s)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                final = _permanent(exc) or record.attempts >= self.retry.max_attempts
                delay_s = self.retry.delay_s(record.attempts)
                with db.unit_of_work() as session:
                    retry_at = None if final else datetime.now(UTC) + timedelta(seconds=delay_s)
                    record = jobs.mark_failed(session=session, key=record.key, error=error, retry_at=retry_at)
                if final:
                    log.error("job %s failed for good after %d attempt(s): %s", record.key, record.attempts, error)
                    raise JobFailed(f"job {record.key} failed after {record.attempts} attempt(s): {error}") from exc
                log.warning("job %s attempt %d failed (%s); retrying in %.0f s", record.key, record.attempts, error,
                            delay_s)
                self._sleep(delay_s)
                continue
            result = result if isinstance(result, dict) else {"value": result}
            with db.unit_of_work() as session:
                jobs.mark_succeeded(session=session, key=record.key, result=result)
            return result

