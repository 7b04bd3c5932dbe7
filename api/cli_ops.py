"""Operations on the command line: ``run`` (the patrol service), ``worker`` (a Celery worker),
``patrol`` (an ad-hoc or emergency patrol), ``abort``, ``recover`` and ``jobs list|retry``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer

from dockpatrol.errors import ConfigError, InvalidInput

jobs_app = typer.Typer(help="Persisted pipeline jobs: what is queued, running or failed, and retries.",
                       no_args_is_help=True)


def _parse_time(value: str, option: str) -> datetime:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{option} {value!r} is not an ISO date/time (e.g. 2026-01-05T01:00Z)") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def ledger_from_settings(workers: int = 2) -> Any:
    """Jobs on Celery workers when DOCKPATROL_BROKER_URL is set, else an in-process pool."""
    from dockpatrol.settings import get_settings
    from pipeline.ledger import Ledger
    from pipeline.runner import CeleryRunner, InProcessRunner

    broker = get_settings().broker_url
    return Ledger(runner=CeleryRunner(broker) if broker else InProcessRunner(workers=workers))


def run_cmd(
    until: str | None = typer.Option(None, help="stop launching at this time (ISO, UTC) and exit when flights end"),
    clock: str = typer.Option("wall", help="'wall' (real vehicles) or 'sim:START' (ISO) for a simulated clock"),
    speedup: float = typer.Option(40.0, help="simulated seconds per wall second (with --clock sim:…)"),
    horizon_days: float = typer.Option(1.0, help="how far ahead the timetable is planned each tick"),
    tick: float = typer.Option(60.0, help="seconds (of the service's clock) between looks at the schedule"),
    workers: int = typer.Option(2, help="in-process job workers (without DOCKPATROL_BROKER_URL)"),
) -> None:
    """Run the patrol service: launch scheduled and requested patrols on every dock, process their photos
    as they arrive, recover from crashes on start."""
    from pipeline.service import PatrolService, ServiceOptions, SimulatedClock, WallClock

    if clock == "wall":
        service_clock: Any = WallClock()
    elif clock.startswith("sim:"):
        service_clock = SimulatedClock(_parse_time(clock[4:], "--clock sim:"), speedup=speedup)
    else:
        raise InvalidInput(f"--clock {clock!r} must be 'wall' or 'sim:START' (e.g. sim:2026-01-05T01:00Z)")
    end = _parse_time(until, "--until") if until else None
    service = PatrolService(clock=service_clock, ledger=ledger_from_settings(workers),
                            options=ServiceOptions(horizon_days=horizon_days, tick_s=tick), echo=typer.echo)
    typer.echo(f"patrol service started at {service_clock.now().isoformat()}"
               + (f", until {end.isoformat()}" if end else ""))
    try:
        report = service.run(until=end)
    except KeyboardInterrupt:
        service.stop.set()
        raise
    typer.echo(f"launched {len(report.launched)}, completed {len(report.completed)}, "
               f"skipped {len(report.skipped)}, failed {len(report.failed)}")


def worker_cmd(concurrency: int = typer.Option(1, help="worker processes"),
               queues: str = typer.Option("celery", help="queues to consume, comma-separated")) -> None:
    """Run a Celery worker for the pipeline's jobs (needs DOCKPATROL_BROKER_URL)."""
    from dockpatrol.settings import get_settings
    from pipeline.celery_app import make_celery

    broker = get_settings().broker_url
    if not broker:
        raise ConfigError("DOCKPATROL_BROKER_URL is unset; a worker needs e.g. redis://127.0.0.1:6379/0")
    make_celery(broker).worker_main(["worker", "-P", "prefork", "-c", str(concurrency), "-Q", queues,
                                     "--without-gossip", "--without-mingle", "-l", "info"])


def patrol_cmd(area: str = typer.Argument(..., help="patrol area id"),
               emergency: bool = typer.Option(False, "--emergency", help="pre-empt routine flights"),
               at: str | None = typer.Option(None, help="not before this time (ISO, UTC); default now")) -> None:
    """Request an ad-hoc patrol of an area; the running service flies it as soon as a dock can."""
    from missions.types import Priority
    from pipeline.service import request_patrol

    mission = request_patrol(area_id=area, at=_parse_time(at, "--at") if at else datetime.now(UTC),
                             priority=Priority.EMERGENCY if emergency else Priority.REINSPECTION)
    typer.echo(f"requested {mission.id}: {mission.area_id}, {mission.priority.name.lower()}")


def abort_cmd(mission: str = typer.Argument(..., help="mission id")) -> None:
    """Abort a mission: a flying vehicle returns to its dock; a planned one is not launched."""
    from pipeline.service import request_abort

    done = request_abort(mission_id=mission)
    typer.echo(f"abort of {done.id} ({done.status}) requested; the patrol service acts on its next tick")


def recover_cmd(workers: int = typer.Option(2, help="in-process job workers")) -> None:
    """Run crash recovery once (what `run` does on start) and exit."""
    from pipeline.recovery import recover

    report = recover(ledger=ledger_from_settings(workers), echo=typer.echo)
    if report.errors:
        for error in report.errors:
            typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1)


@jobs_app.command("list")
def jobs_list(status: str | None = typer.Option(None, help="queued|running|succeeded|failed"),
              flight: str | None = typer.Option(None, help="only this flight's jobs")) -> None:
    """Persisted jobs, oldest first, with their attempts and last error."""
    from dockpatrol.jobs import JobStatus
    from storage.platform import database
    from storage.repositories import jobs

    try:
        wanted = JobStatus(status) if status else None
    except ValueError:
        raise InvalidInput(f"--status {status!r} must be one of {', '.join(JobStatus)}") from None
    with database().unit_of_work() as session:
        rows = jobs.listing(session=session, status=wanted, flight_id=flight)
    for r in rows:
        typer.echo(f"{r.status:9s} {r.attempts} {r.key}" + (f"  {r.last_error}" if r.last_error else ""))
    typer.echo(f"{len(rows)} jobs")


@jobs_app.command("retry")
def jobs_retry(key: str = typer.Argument(..., help="the job's key, as `jobs list` prints it")) -> None:
    """Queue a failed job again; the service (or `dockpatrol recover`) runs it."""
    from storage.platform import database
    from storage.repositories import jobs

    with database().unit_of_work() as session:
        record = jobs.requeue(session=session, key=key)
    typer.echo(f"{record.key} queued again")


def register(app: typer.Typer) -> None:
    """The operations commands on the main app."""
    app.command("run")(run_cmd)
    app.command("worker")(worker_cmd)
    app.command("patrol")(patrol_cmd)
    app.command("abort")(abort_cmd)
    app.command("recover")(recover_cmd)
    app.add_typer(jobs_app, name="jobs")
