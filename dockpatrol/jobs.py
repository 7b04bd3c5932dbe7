"""The vocabulary of persisted pipeline jobs, shared by the pipeline that runs them and the storage
that keeps them: where a job stands and what its record says."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    """A job's lifecycle, the same words for the in-process pool, Celery and the jobs table.

    A job that failed and will be tried again is ``queued`` with ``attempts`` > 0 and a later
    ``next_attempt_at``; ``failed`` is final and visible until an operator retries it.
    """

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class JobRecord:
    """One persisted job: its idempotency key, what to run, and how it went."""

    key: str
    name: str
    kwargs: dict[str, Any]
    status: JobStatus
    flight_id: str | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None
