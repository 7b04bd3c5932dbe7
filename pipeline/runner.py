"""Where jobs run: an in-process worker pool by default, Celery workers on Redis at scale.

Both runners take the same registered job names and JSON arguments, so a job that works in
the embedded default works unchanged on a Celery fleet.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from dockpatrol.errors import InvalidInput, Unavailable
from pipeline.types import CELERY_STATES, JobStatus

JOBS: dict[str, Callable[..., Any]] = {}


def job(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as a job under a stable name (the name is what crosses the broker)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        JOBS[name] = fn
        return fn

    return register


class JobHandle(Protocol):
    def result(self, timeout: float | None = None) -> Any: ...

    def status(self) -> JobStatus: ...


class Runner(Protocol):
    def submit(self, name: str, **kwargs: Any) -> JobHandle: ...


def _lookup(name: str) -> Callable[..., Any]:
    _load_jobs()
    try:
        return JOBS[name]
    except KeyError:
        raise InvalidInput(f"unknown job {name!r}; registered: {', '.join(sorted(JOBS))}") from None


#: Modules whose import registers jobs (a worker must know every name the service may send).
JOB_MODULES = ("pipeline.jobs", "pipeline.tickets", "pipeline.outbox", "pipeline.compare")


def _load_jobs() -> None:
    import importlib

    for module in JOB_MODULES:
        importlib.import_module(module)


class InProcessRunner:
    """A thread pool in this process: the embedded default."""

    def __init__(self, workers: int | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2, thread_name_prefix="job")

    def submit(self, name: str, **kwargs: Any) -> _LocalHandle:
        return _LocalHandle(self._pool.submit(_lookup(name), **kwargs))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


class InlineRunner:
    """Runs each job at once in the caller's thread: for a job that runs sub-jobs on a worker, where
    waiting on the broker from inside a task could deadlock a small pool."""

    def submit(self, name: str, **kwargs: Any) -> _LocalHandle:
        future: Future[Any] = Future()
        try:
            future.set_result(_lookup(name)(**kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return _LocalHandle(future)


class _LocalHandle:
    def __init__(self, future: Future[Any]) -> None:
        self._f = future

    def result(self, timeout: float | None = None) -> Any:
        return self._f.result(timeout=timeout)

    def status(self) -> JobStatus:
        if not self._f.done():
            return JobStatus.RUNNING if self._f.running() else JobStatus.QUEUED
        if self._f.cancelled() or self._f.exception() is not None:
            return JobStatus.FAILED
        return JobStatus.SUCCEEDED


class _CeleryHandle:
    def __init__(self, async_result: Any) -> None:
        self._r = async_result

    def result(self, timeout: float | None = None) -> Any:
        return self._r.get(timeout=timeout)

    def status(self) -> JobStatus:
        return CELERY_STATES.get(str(self._r.state), JobStatus.QUEUED)


class CeleryRunner:
    """Jobs sent to Celery workers through Redis; results come back through Redis too."""

    def __init__(self, broker_url: str) -> None:
        from pipeline.celery_app import make_celery

        self.app = make_celery(broker_url)

    def submit(self, name: str, **kwargs: Any) -> _CeleryHandle:
        _lookup(name)
        try:
            return _CeleryHandle(self.app.send_task("dockpatrol.run_job", kwargs={"name": name, "kwargs": kwargs}))
        except Exception as exc:  # kombu raises OperationalError subclasses for an unreachable broker
            raise Unavailable(f"job broker unreachable: {exc}") from exc


def run_job(name: str, kwargs: dict[str, Any]) -> Any:
    """Worker-side entry: run a registered job by name."""
    return _lookup(name)(**kwargs)
