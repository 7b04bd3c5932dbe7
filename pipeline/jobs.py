"""Registered jobs. Arguments and results are JSON so they cross a broker unchanged."""

from __future__ import annotations

import hashlib
import platform
from typing import Any

from pipeline.runner import job


@job("worker.info")
def worker_info() -> dict[str, Any]:
    """Who ran the job: proves a worker (local or Celery) is alive and has dockpatrol installed."""
    from dockpatrol import __version__

    return {"host": platform.node(), "python": platform.python_version(), "dockpatrol": __version__}


@job("objects.checksum")
def object_checksum(key: str) -> dict[str, Any]:
    """SHA-256 of a stored object, read through the configured object store."""
    from storage.objects import open_object_store

    data = open_object_store().get(key)
    return {"key": key, "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}
