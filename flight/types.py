"""What a flight is once it has happened: its lifecycle and its stored record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class FlightStatus(StrEnum):
    """A stored flight's lifecycle: pending until takeoff, flying, then landed or failed.

    ``imported``: a flight known only from its photos, brought in afterwards (``dockpatrol import``).
    """

    PENDING = "pending"
    FLYING = "flying"
    LANDED = "landed"
    FAILED = "failed"
    IMPORTED = "imported"


@dataclass(frozen=True)
class Flight:
    """One flight of one vehicle: which mission, from which dock, how it ended, where its log is.

    ``result`` is the executor's outcome name (``FlyResult.value``), empty until the flight ends;
    ``summary`` holds the human summary and counts the pipeline reports.
    """

    id: str
    mission_id: str | None = None
    dock_id: str | None = None
    vehicle_url: str = ""
    status: FlightStatus = FlightStatus.PENDING
    started_at: datetime | None = None
    ended_at: datetime | None = None
    result: str = ""
    log_key: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
