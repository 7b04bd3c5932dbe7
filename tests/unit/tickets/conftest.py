"""Shared builders for the tickets unit tests: a ticket at a point, times, a small grid district."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from missions.types import Jurisdiction
from tickets.routing import GridIndex
from tickets.types import Candidate, Ticket, TicketStatus

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Guicheng (UTC+8)
LON0, LAT0 = 113.15, 23.03
M_PER_DEG_LAT = 110_760.0  # near 23° N
M_PER_DEG_LON = 102_500.0


def at_m(east_m: float, north_m: float) -> tuple[float, float]:
    return LON0 + east_m / M_PER_DEG_LON, LAT0 + north_m / M_PER_DEG_LAT


def square(east_m: float, north_m: float, size_m: float = 2.0) -> dict:
    (x0, y0), (x1, y1) = at_m(east_m - size_m / 2, north_m - size_m / 2), at_m(east_m + size_m / 2,
                                                                                north_m + size_m / 2)
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def candidate(key: str, class_name: str = "steel_shed", *, east_m: float = 0.0, north_m: float = 0.0,
              score: float = 0.9, category: str | None = None, seen_at: datetime = T0,
              size_m: float = 2.0) -> Candidate:
    from dockpatrol.taxonomy import CATEGORY_OF

    return Candidate(key=key, class_name=class_name, category=category or str(CATEGORY_OF[class_name]),
                     score=score, geometry=square(east_m, north_m, size_m), seen_at=seen_at,
                     evidence_key=f"evidence/{key}.jpg", flight_id=f"F-{key}")


def ticket(status: TicketStatus = TicketStatus.NEW, **changes: object) -> Ticket:
    base = Ticket(id="T1", number="GC-000001", category="construction", class_name="steel_shed",
                  geometry=square(0, 0), department="enforcement", status=status, priority=40, created_at=T0,
                  score=0.9, team="west")
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def two_grids() -> GridIndex:
    """West grid W [-100 m, 0] and east grid E [0, 100 m] side by side, a street S around both."""

    def rect(x0: float, y0: float, x1: float, y1: float) -> dict:
        (a, b), (c, d) = at_m(x0, y0), at_m(x1, y1)
        return {"type": "Polygon", "coordinates": [[[a, b], [c, b], [c, d], [a, d], [a, b]]]}

    return GridIndex([Jurisdiction("S", "street", rect(-500, -500, 500, 500), kind="street"),
                      Jurisdiction("W", "west", rect(-100, -100, 0, 100), parent_id="S"),
                      Jurisdiction("E", "east", rect(0, -100, 100, 100), parent_id="S")])
