"""The ``dockpatrol`` command line: one Typer app, each package's commands in its own module.

Imports of heavy packages (torch, ultralytics, rasterio) happen inside commands so that
``dockpatrol --help`` and database commands start fast. Every DockpatrolError becomes one
``error: …`` line on stderr and a non-zero exit.
"""

from __future__ import annotations

import sys

import typer

from api import cli_changes, cli_core, cli_flight, cli_missions, cli_sim, cli_vision
from api.cli_groups import db_app, models_app, sim_app
from dockpatrol.errors import DockpatrolError

app = typer.Typer(
    name="dockpatrol",
    help="Dock-based patrol drones: plan, schedule, fly (MAVLink), detect, georeference.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.add_typer(sim_app, name="sim")
app.add_typer(models_app, name="models")
app.add_typer(db_app, name="db")

for module in (cli_core, cli_missions, cli_flight, cli_sim, cli_vision, cli_changes):
    module.register(app)

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit status instead of raising SystemExit."""
    try:
        app(args=argv, standalone_mode=False)
    except DockpatrolError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        return EXIT_INTERRUPTED
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_ERROR
    except Exception as exc:
        # Usage errors come from typer's bundled click; recognise them by their interface.
        if type(exc).__name__ == "Abort":
            typer.echo("error: aborted", err=True)
            return EXIT_ERROR
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            typer.echo(f"error: {exc.format_message()}", err=True)
            return int(exc.exit_code) or EXIT_ERROR
        raise
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
