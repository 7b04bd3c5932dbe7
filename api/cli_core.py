"""Core commands: ``db upgrade|current``, ``serve`` and ``demo``."""

from __future__ import annotations

import time

import typer

from api.cli_groups import db_app


def register(app: typer.Typer) -> None:
    """Attach the core commands to the main app."""
    app.command("serve")(serve)
    app.command("demo")(demo)
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
          port: int | None = typer.Option(None, help="port (default DOCKPATROL_API_PORT)")) -> None:
    """Run the API and web console."""
    import uvicorn

    from api import context
    from api.app import create_app
    from dockpatrol.settings import get_settings

    settings = get_settings()
    context.database()  # fail fast with a clear line if the database is unusable
    uvicorn.run(create_app(), host=host or settings.api_host, port=port or settings.api_port, log_level="info")


def demo() -> None:
    """Seed the demo district (idempotent) and print a summary of the fleet."""
    from rich.console import Console
    from rich.table import Table

    from api import context
    from api.demo_district import seed
    from dockpatrol.taxonomy import LABELS_ZH

    started = time.perf_counter()
    db = context.database()
    with db.unit_of_work() as session:
        district = seed(session)
    console = Console()
    table = Table(title=f"Demo district: {len(district.docks)} docks, {len(district.areas)} patrol areas, "
                        f"{len(district.grids)} grids, {len(district.no_fly)} no-fly zones")
    for column in ("dock", "name", "lon", "lat", "areas", "scenarios"):
        table.add_column(column)
    for dock in district.docks:
        mine = district.areas_of(dock.id)
        scenarios = sorted({str(s) for a in mine for s in a.scenarios})
        table.add_row(dock.id, dock.name, f"{dock.lon:.5f}", f"{dock.lat:.5f}", " ".join(a.id for a in mine),
                      ", ".join(f"{s} {LABELS_ZH[s]}" for s in scenarios))
    console.print(table)
    console.print(f"database: {db.engine.url.render_as_string(hide_password=True)}  "
                  f"({time.perf_counter() - started:.2f} s)")

