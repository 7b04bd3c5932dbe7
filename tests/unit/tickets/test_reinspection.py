"""Re-inspection: the scheduler request, and closing / reopening / staying in verifying."""

from __future__ import annotations

from datetime import timedelta

from missions.scheduler import Priority
from tests.unit.tickets.conftest import T0, candidate, square, ticket
from tickets.reinspection import Verification, assess, request_for, verification_step
from tickets.types import TicketStatus

COVER = [square(0, 0, size_m=200.0)]


def test_request_is_a_reinspection_orbit_with_a_deadline() -> None:
    req = request_for(ticket(TicketStatus.RESOLVED), at=T0)
    assert req.priority is Priority.REINSPECTION and req.deadline == T0 + timedelta(hours=48)
    assert (round(req.lon, 5), round(req.lat, 5)) == (113.15, 23.03) and req.source == "ticket:GC-000001"


def test_gone_closes_as_verified() -> None:
    t = ticket(TicketStatus.VERIFYING)
    a = assess(t, footprints=COVER, objects=[candidate("dump", "garbage_dump", east_m=1)], radius_m=8)
    assert a.outcome is Verification.GONE
    new, entry = verification_step(t, a, flight_id="F9", at=T0)
    assert new.status is TicketStatus.CLOSED and "verified by flight F9" in entry.note


def test_still_there_reopens_with_the_new_evidence() -> None:
    t = ticket(TicketStatus.VERIFYING)
    a = assess(t, footprints=COVER, objects=[candidate("shed2", east_m=3)], radius_m=8)
    assert a.outcome is Verification.PRESENT and a.distance_m is not None and a.distance_m < 2
    new, entry = verification_step(t, a, flight_id="F9", at=T0)
    assert new.status is TicketStatus.REOPENED and entry.evidence == ("evidence/shed2.jpg",)


def test_not_covered_stays_verifying_and_says_so() -> None:
    t = ticket(TicketStatus.VERIFYING)
    a = assess(t, footprints=[square(500, 500, 100)], objects=[], radius_m=8)
    assert a.outcome is Verification.NOT_COVERED
    new, entry = verification_step(t, a, flight_id="F9", at=T0)
    assert new.status is TicketStatus.VERIFYING and "did not cover" in entry.note
