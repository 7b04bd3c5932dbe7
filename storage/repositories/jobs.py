"""Persisted pipeline jobs: one row per step and input, keyed by its idempotency key.

The row is how a restarted service knows what was in flight, how a failing job backs off, and
where a job that gave up shows its error. Functions flush; the caller's unit of work commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dockpatrol.jobs import JobRecord, JobStatus
from storage.repositories._base import get_row, require_row
from storage.tables import JobRow, utcnow


def to_domain(row: JobRow) -> JobRecord:
    return JobRecord(key=row.id, name=row.name, kwargs=dict(row.kwargs or {}), status=JobStatus(row.status),
                     flight_id=row.flight_id, attempts=row.attempts, next_attempt_at=row.next_attempt_at,
                     last_error=row.last_error, result=dict(row.result or {}), started_at=row.started_at,
                     finished_at=row.finished_at, updated_at=row.updated_at)


def ensure(*, session: Session, key: str, name: str, kwargs: dict[str, Any], flight_id: str | None) -> JobRecord:
    """The job under ``key``, created queued when new; an existing one is returned as it stands."""
    row = get_row(session, JobRow, key)
    if row is None:
        row = JobRow(id=key, name=name, kwargs=kwargs, flight_id=flight_id, status=str(JobStatus.QUEUED),
                     attempts=0, next_attempt_at=utcnow(), last_error="", result={})
        session.add(row)
        session.flush()
    return to_domain(row)


def get(*, session: Session, key: str) -> JobRecord | None:
    row = get_row(session, JobRow, key)
    return to_domain(row) if row else None


def mark_running(*, session: Session, key: str, at: datetime | None = None) -> JobRecord:
    row = require_row(session, JobRow, key, "job")
    row.status, row.attempts, row.started_at = str(JobStatus.RUNNING), row.attempts + 1, at or utcnow()
    session.flush()
    return to_domain(row)


def mark_succeeded(*, session: Session, key: str, result: dict[str, Any], at: datetime | None = None) -> JobRecord:
    row = require_row(session, JobRow, key, "job")
    row.status, row.result, row.last_error, row.finished_at = str(JobStatus.SUCCEEDED), result, "", at or utcnow()
    session.flush()
    return to_domain(row)


def mark_failed(*, session: Session, key: str, error: str, retry_at: datetime | None) -> JobRecord:
    """Record a failed attempt: queued again at ``retry_at``, or failed for good when it is None."""
    row = require_row(session, JobRow, key, "job")
    row.last_error = error[:4000]
    if retry_at is None:
        row.status, row.finished_at = str(JobStatus.FAILED), utcnow()
    else:
        row.status, row.next_attempt_at = str(JobStatus.QUEUED), retry_at
    session.flush()
    return to_domain(row)


def requeue(*, session: Session, key: str) -> JobRecord:
    """An operator's retry of a failed job: queued now, attempts counted afresh."""
    row = require_row(session, JobRow, key, "job")
    row.status, row.attempts, row.next_attempt_at, row.finished_at = str(JobStatus.QUEUED), 0, utcnow(), None
    session.flush()
    return to_domain(row)


def unfinished(*, session: Session, name: str | None = None) -> list[JobRecord]:
    """Jobs queued or running (a running one whose process died is unfinished too), oldest first."""
    stmt = select(JobRow).where(JobRow.status.in_([str(JobStatus.QUEUED), str(JobStatus.RUNNING)]))
    if name is not None:
        stmt = stmt.where(JobRow.name == name)
    return [to_domain(r) for r in session.scalars(stmt.order_by(JobRow.created_at, JobRow.id))]


def listing(*, session: Session, status: JobStatus | None = None, flight_id: str | None = None,
            limit: int = 200) -> list[JobRecord]:
    stmt = select(JobRow)
    if status is not None:
        stmt = stmt.where(JobRow.status == str(JobStatus(status)))
    if flight_id is not None:
        stmt = stmt.where(JobRow.flight_id == flight_id)
    return [to_domain(r) for r in session.scalars(stmt.order_by(JobRow.created_at, JobRow.id).limit(limit))]


def counts_of_flight(*, session: Session, flight_id: str) -> dict[str, int]:
    """How many of a flight's jobs stand in each status."""
    out: dict[str, int] = {}
    for row in session.scalars(select(JobRow).where(JobRow.flight_id == flight_id)):
        out[row.status] = out.get(row.status, 0) + 1
    return out
