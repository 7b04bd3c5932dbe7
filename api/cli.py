"""The ``dockpatrol`` command line: one Typer app, each package's commands in its own module.

Imports of heavy packages (torch, ultralytics, rasterio) happen inside commands so that
``dockpatrol --help`` and database commands start fast. Every DockpatrolError becomes one
``error: …`` line on stderr and a non-zero exit.

The digital twin's commands (``demo``, ``sim …``) are a plugin: :data:`PLUGINS` names modules loaded
by name at start-up, so no production module imports ``sim`` (the import-linter contract) and an
installation without the twin has a CLI without those commands.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import typer

from api import cli_changes, cli_core, cli_flight, cli_missions, cli_ops, cli_tickets, cli_users, cli_vision
from api.cli_groups import db_app, models_app
from dockpatrol.errors import DockpatrolError

#: Modules with a ``register(app)`` that add commands from outside the production packages.
PLUGINS = ("sim.cli",)

app = typer.Typer(
    name="dockpatrol",
    help="Dock-based patrol drones: plan, schedule, fly (MAVLink), detect, georeference.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.add_typer(models_app, name="models")
app.add_typer(db_app, name="db")

for module in (cli_core, cli_missions, cli_flight, cli_vision, cli_changes, cli_tickets, cli_users, cli_ops):
    module.register(app)


def load_plugins(names: tuple[str, ...] = PLUGINS) -> list[str]:
    """Register each plugin that is installed; returns the names loaded."""
    loaded = []
    for name in names:
        try:
            plugin = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):  # not installed
                continue
            raise
        plugin.register(app)
        loaded.append(name)
    return loaded


load_plugins()

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
    except OSError as exc:
        typer.echo(f"error: {describe_os_error(exc)}", err=True)
        return EXIT_ERROR
    except RecursionError:
        typer.echo("error: the input nests too deeply (more than about a thousand levels); "
                   "a real GeoJSON or plan file never does", err=True)
        return EXIT_ERROR
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


def describe_os_error(exc: OSError) -> str:
    """One line naming the path and what the operating system said about it."""
    import errno

    path = exc.filename if exc.filename is not None else None
    reason = exc.strerror or type(exc).__name__
    if exc.errno in (errno.EEXIST, errno.ENOTDIR) and path is not None:
        reason = "exists but is not a directory (a directory is needed here)" if exc.errno == errno.ENOTDIR \
            else f"{reason} (a file is in the way of a directory)"
    if exc.errno == errno.EISDIR:
        reason = "is a directory; give a file path"
    if exc.filename2 is not None:  # a rename onto the destination: the destination is what the user named
        path = exc.filename2
    if path is None:
        return f"{reason}"
    name = Path(str(path))
    temp = re.fullmatch(r"\.(.+)\.[A-Za-z0-9_]{8}", name.name)
    if temp:  # an atomic write's temp file ".NAME.xxxxxxxx": name the file the user asked for
        name = name.with_name(temp.group(1))
    return f"{name}: {reason}"


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
