"""The pipeline's own vocabulary: where a submitted job stands."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """A submitted job's lifecycle, the same words for the in-process pool and for Celery."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


#: Celery's task states in this vocabulary (RETRY: the job will run again, so it is queued).
CELERY_STATES: dict[str, JobStatus] = {
    "PENDING": JobStatus.QUEUED,
    "RECEIVED": JobStatus.QUEUED,
    "RETRY": JobStatus.QUEUED,
    "STARTED": JobStatus.RUNNING,
    "SUCCESS": JobStatus.SUCCEEDED,
    "FAILURE": JobStatus.FAILED,
    "REVOKED": JobStatus.FAILED,
}
