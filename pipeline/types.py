"""The pipeline's own vocabulary: where a submitted job stands (defined in the core, shared with storage)."""

from __future__ import annotations

from dockpatrol.jobs import JobRecord, JobStatus

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

__all__ = ["CELERY_STATES", "JobRecord", "JobStatus"]
