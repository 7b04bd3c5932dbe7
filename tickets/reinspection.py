"""Re-inspection proves the fix: a resolved ticket asks the scheduler for a verification patrol over
its spot, and the next analysis covering the spot closes it as verified or reopens it with evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import shapely
from shapely.geometry import shape

from dockpatrol.geo import LocalProjection
from missions.scheduler import PatrolRequest, Priority
from tickets.lifecycle import annotate, apply
from tickets.routing import place_of
from tickets.types import Action, Actor, Candidate, HistoryEntry, Ticket, TicketStatus

#: A verification patrol should have flown within this long of the fix being reported.
DEFAULT_VERIFY_WITHIN = timedelta(hours=48)
#: Orbit radius around the ticket's spot: the object plus its surroundings in one look.
DEFAULT_ORBIT_RADIUS_M = 60.0


def request_for(ticket: Ticket, *, at: datetime, within: timedelta = DEFAULT_VERIFY_WITHIN,
                radius_m: float = DEFAULT_ORBIT_RADIUS_M) -> PatrolRequest:
    """The scheduler request (re-inspection priority, deadline) that verifies this ticket's fix."""
    lon, lat = place_of(ticket.geometry)
    return PatrolRequest(id=f"RI-{ticket.id}-{ticket.reopen_count + 1}", lon=lon, lat=lat, radius_m=radius_m,
                         not_before=at, deadline=at + within, priority=Priority.REINSPECTION,
                         source=f"ticket:{ticket.number}")


class Verification(StrEnum):
    GONE = "gone"  # covered, nothing of the class there: verified, close
    PRESENT = "present"  # covered and still there: reopen with the new evidence
    NOT_COVERED = "not_covered"  # the patrol did not see the spot: stay in verifying


@dataclass(frozen=True)
class Assessment:
    outcome: Verification
    evidence: Candidate | None = None
    distance_m: float | None = None


def assess(ticket: Ticket, *, footprints: Sequence[dict[str, Any]], objects: Sequence[Candidate],
           radius_m: float) -> Assessment:
    """Whether a flight (frame footprints, objects found) saw the ticket's spot, and what it saw there."""
    lon, lat = place_of(ticket.geometry)
    seen = shapely.union_all([shape(f) for f in footprints]) if footprints else shapely.Polygon()
    if not seen.covers(shapely.Point(lon, lat)):
        return Assessment(Verification.NOT_COVERED)
    projection = LocalProjection.around(lon, lat)
    here = projection.geometry_to_metric(shape(ticket.geometry))
    best: tuple[float, Candidate] | None = None
    for obj in objects:
        if obj.class_name != ticket.class_name:
            continue
        d = float(here.distance(projection.geometry_to_metric(shape(obj.geometry))))
        if d <= radius_m and (best is None or (d, -obj.score) < (best[0], -best[1].score)):
            best = (d, obj)
    if best is None:
        return Assessment(Verification.GONE)
    return Assessment(Verification.PRESENT, best[1], round(best[0], 2))


def verification_step(ticket: Ticket, assessment: Assessment, *, flight_id: str | None, at: datetime,
                      actor: Actor | None = None) -> tuple[Ticket, HistoryEntry]:
    """Close as verified, reopen with evidence, or record that the patrol did not cover the spot."""
    if ticket.status is not TicketStatus.VERIFYING:
        raise ValueError(f"ticket {ticket.number} is {ticket.status}, not verifying")
    who = actor or Actor.system("reinspection")
    flight = f" by flight {flight_id}" if flight_id else ""
    if assessment.outcome is Verification.GONE:
        return apply(ticket, Action.CLOSE, actor=who, at=at, note=f"verified{flight}: {ticket.class_name} gone")
    if assessment.outcome is Verification.PRESENT:
        ev = assessment.evidence
        if ev is None:
            raise ValueError("a 'present' assessment carries the object that was seen")
        keys = (ev.evidence_key,) if ev.evidence_key else ()
        return apply(ticket, Action.REOPEN, actor=who, at=at, evidence=keys,
                     note=f"still there{flight}: {ev.class_name} score {ev.score:.2f}, "
                          f"{assessment.distance_m:g} m from the ticket")
    return annotate(ticket, "not_covered", actor=who, at=at,
                    note=f"re-inspection{flight} did not cover the spot; still verifying",
                    data={"flight_id": flight_id})
