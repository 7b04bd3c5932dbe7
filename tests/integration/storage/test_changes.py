"""The change repository on SQLite and PostgreSQL+PostGIS: recorded once, review status kept, queue ordered."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from dockpatrol.errors import NotFound
from dockpatrol.taxonomy import Category
from flight.types import Flight
from storage.repositories import changes, flights
from vision.change import ChangeEvent, ChangeKind, SurfaceClass


def square(lon: float, lat: float, half_deg: float = 0.0001) -> dict:
    ring = [[lon - half_deg, lat - half_deg], [lon + half_deg, lat - half_deg], [lon + half_deg, lat + half_deg],
            [lon - half_deg, lat + half_deg], [lon - half_deg, lat - half_deg]]
    return {"type": "Polygon", "coordinates": [ring]}


EVENTS = [
    ChangeEvent(kind=ChangeKind.SURFACE_CHANGE, geometry=square(113.15, 23.03), area_m2=120.0, score=0.7,
                surface_class=SurfaceClass.BARE_SOIL_INCREASE, category=Category.POLLUTION,
                before_key="areas/A1/changes/x-before.jpg", after_key="areas/A1/changes/x-after.jpg"),
    ChangeEvent(kind=ChangeKind.APPEARED, geometry=square(113.151, 23.03), area_m2=30.0, score=0.9,
                class_name="smoke", category=Category.FIRE, after_key="flights/F2/evidence/FD-1.jpg",
                detail={"finding_ids": ["FD-1"]}),
    ChangeEvent(kind=ChangeKind.SURFACE_CHANGE, geometry=square(113.152, 23.03), area_m2=5.0, score=0.5,
                surface_class=SurfaceClass.UNCLASSIFIED),
]


@pytest.fixture
def two_flights(session: Session) -> None:
    for flight_id in ("F1", "F2"):
        flights.save_flight(session=session, flight=Flight(id=flight_id))


@pytest.mark.usefixtures("two_flights")
def test_record_round_trips_and_is_idempotent(session: Session) -> None:
    first = changes.record(session=session, area_id=None, before_flight_id="F1", after_flight_id="F2", events=EVENTS)
    assert [c.event for c in first] == EVENTS
    assert all(c.status == "pending_review" for c in first)
    again = changes.record(session=session, area_id=None, before_flight_id="F1", after_flight_id="F2", events=EVENTS)
    assert [c.id for c in again] == [c.id for c in first]
    assert len(changes.of_flights(session=session, before_flight_id="F1", after_flight_id="F2")) == 3


@pytest.mark.usefixtures("two_flights")
def test_queue_is_ordered_by_review_weight_not_arrival(session: Session) -> None:
    recorded = changes.record(session=session, area_id=None, before_flight_id="F1", after_flight_id="F2",
                              events=EVENTS[::-1])
    queue = changes.pending_review(session=session)
    # A fire change outranks a larger, less certain pollution one; a small unclassified one comes last.
    assert [c.event.class_name or str(c.event.surface_class) for c in queue] == [
        "smoke", "bare_soil_increase", "unclassified"]
    assert len(queue) == len(recorded)
    weights = [c.review_weight for c in queue]
    assert weights == sorted(weights, reverse=True)


def test_missing_change_is_not_found(session: Session) -> None:
    assert changes.get(session=session, change_id="CH-nope") is None
    with pytest.raises(NotFound, match="CH-nope"):
        changes.require(session=session, change_id="CH-nope")
