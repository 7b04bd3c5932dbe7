"""Celery wiring for production: one generic task that runs registered jobs by name.

Start workers with ``celery -A pipeline.celery_app worker`` and DOCKPATROL_BROKER_URL set.
Jobs are acknowledged late, so a worker that crashes mid-job leaves it for another worker.
"""

from __future__ import annotations

from celery import Celery


def make_celery(broker_url: str) -> Celery:
    app = Celery("dockpatrol", broker=broker_url, backend=broker_url)
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_track_started=True,  # a job's RUNNING state is visible to the service and operators
        broker_connection_retry_on_startup=True, broker_connection_max_retries=3,
        result_expires=24 * 3600,
    )

    @app.task(name="dockpatrol.run_job", bind=True, max_retries=3)
    def run(self: object, name: str, kwargs: dict) -> object:
        from pipeline.runner import run_job

        return run_job(name, kwargs)

    return app


def __getattr__(name: str) -> Celery:
    """``celery -A pipeline.celery_app`` reads ``app``; build it from settings only then."""
    if name != "app":
        raise AttributeError(name)
    from dockpatrol.errors import ConfigError
    from dockpatrol.settings import get_settings

    broker = get_settings().broker_url
    if not broker:
        raise ConfigError("DOCKPATROL_BROKER_URL is unset; Celery workers need e.g. redis://127.0.0.1:6379/0")
    return make_celery(broker)
