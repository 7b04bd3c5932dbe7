"""`dockpatrol` commands of the sim package."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this package's commands to the main app."""
