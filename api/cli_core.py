"""Core commands: ``db upgrade``, ``serve`` and ``demo``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the core commands to the main app."""
