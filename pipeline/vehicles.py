"""Vehicle URL schemes that plugins provide (the twin registers ``sim``), kept light so that the CLI
can register them at start-up without importing the pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from missions.types import Dock

#: vehicle URL scheme → (dock, flight id, clock speed-up or None) → (VehicleLink, MediaSource) of one flight
VEHICLE_PROVIDERS: dict[str, Callable[[Dock, str, float | None], tuple[Any, Any]]] = {}
