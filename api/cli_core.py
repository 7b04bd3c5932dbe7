"""Core commands: ``db upgrade|current`` and ``serve`` (``demo`` comes with the twin, from sim/cli.py)."""

from __future__ import annotations

import typer

from api.cli_groups import db_app


def register(app: typer.Typer) -> None:
    """Attach the core commands to the main app."""
    app.command("serve")(serve)
    db_app.command("upgrade")(db_upgrade)
    db_app.command("current")(db_current)


def db_upgrade() -> None:
    """Create or migrate the database schema to the latest revision."""
    from dockpatrol.settings import get_settings
    from storage.db import check_connection, make_engine
    from storage.migrate import upgrade

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    check_connection(engine)
    revision = upgrade(engine)
    typer.echo(f"database {engine.url.render_as_string(hide_password=True)} at revision {revision}")


def db_current() -> None:
    """Print the schema revision of the configured database."""
    from dockpatrol.settings import get_settings
    from storage.db import check_connection, make_engine
    from storage.migrate import current_revision, head_revision

    engine = make_engine(get_settings().resolved_database_url)
    check_connection(engine)
    typer.echo(f"current {current_revision(engine) or '(empty)'}, latest {head_revision()}")


def serve(host: str | None = typer.Option(None, help="bind address (default DOCKPATROL_API_HOST)"),
          port: int | None = typer.Option(None, min=1, max=65535,
                                          help="port 1-65535 (default DOCKPATROL_API_PORT)"),
          patrol: bool = typer.Option(False, "--patrol", help="also run the patrol service in this process "
                                      "(embedded mode: one process flies, analyses and serves)")) -> None:
    """Run the HTTP API (problem+json errors), and with --patrol the patrol service beside it."""
    import uvicorn

    from api import context
    from api.app import create_app
    from dockpatrol.errors import ConfigError
    from dockpatrol.settings import get_settings

    settings = get_settings()
    if not 1 <= (port or settings.api_port) <= 65535:
        raise ConfigError(f"DOCKPATROL_API_PORT {settings.api_port} is outside 1..65535")
    context.database()  # fail fast with a clear line if the database is unusable
    bind_host, bind_port = host or settings.api_host, port or settings.api_port
    typer.echo(f"console: http://{bind_host}:{bind_port}/console/   API docs: http://{bind_host}:{bind_port}/docs")
    from api.app import missing_console_assets

    for name in missing_console_assets():
        typer.echo(f"warning: the console's {name} files are not installed; run `make console` (npm ci)", err=True)
    service = _embedded_service() if patrol else None
    try:
        uvicorn.run(create_app(), host=bind_host, port=bind_port, log_level="info")
    finally:
        if service is not None:
            service.stop.set()


def _embedded_service() -> object:
    """The patrol service on the wall clock in a background thread of the API process."""
    import threading

    from api.cli_ops import ledger_from_settings
    from pipeline.service import PatrolService, WallClock

    service = PatrolService(clock=WallClock(), ledger=ledger_from_settings(), echo=typer.echo)
    threading.Thread(target=service.run, name="patrol-service", daemon=True).start()
    return service
