"""Command groups shared by several CLI modules (``dockpatrol sim …``, ``dockpatrol models …``)."""

from __future__ import annotations

import typer

sim_app = typer.Typer(help="The digital twin: world, camera renders, training data, vehicle simulator.",
                      no_args_is_help=True)
models_app = typer.Typer(help="Detector model cards and weights in models/.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
