"""A job that kills its worker process on the first attempt; imported only by the test worker."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.runner import job


@job("test.crash_once")
def crash_once(marker: str) -> dict[str, int]:
    path = Path(marker)
    attempts = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempts))
    if attempts == 1:
        os._exit(1)  # the worker process dies mid-job, as on OOM or a segfault
    return {"attempts": attempts}
