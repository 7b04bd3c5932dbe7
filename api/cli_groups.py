"""Command groups shared by several CLI modules (``dockpatrol models …``, ``dockpatrol db …``)."""

from __future__ import annotations

import typer

models_app = typer.Typer(help="Detector model cards and weights in models/.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
