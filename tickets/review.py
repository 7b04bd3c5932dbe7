"""The review queue: objects below their class's auto-ticket score (and, later, change detections)
wait for a person to accept (→ a ticket through routing), reject (reason required) or defer.

Most urgent first: score × ground area × category urgency (:func:`dockpatrol.taxonomy.review_weight`),
so a large, confident fire outranks a faint, small shed, and objects and changes share one order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from shapely.geometry import shape

from dockpatrol.errors import Conflict, Forbidden, InvalidInput
from dockpatrol.taxonomy import review_weight
from missions.areas import area_m2 as ground_area_m2
from tickets.types import Actor, Candidate, ReviewItem, ReviewKind, ReviewStatus, Role

REVIEWER_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR})


def area_m2(geometry: dict) -> float | None:
    """Ground area of a polygon in m² (None for points and lines: no area known)."""
    geom = shape(geometry)
    return ground_area_m2(geom) if geom.area > 0 else None


def new_item(candidate: Candidate, *, reason: str, at: datetime, kind: ReviewKind = ReviewKind.OBJECT) -> ReviewItem:
    """A pending review item; its id follows the candidate's key so queuing twice is one item."""
    return ReviewItem(id=f"RV-{candidate.key}", kind=kind, candidate=candidate, status=ReviewStatus.PENDING,
                      created_at=at, reason=reason, area_m2=area_m2(candidate.geometry))


def urgency(item: ReviewItem) -> float:
    """score × log(1 + area m²) × category urgency, the same weight change detection gives its changes."""
    return review_weight(score=item.candidate.score, area_m2=item.area_m2, category=item.candidate.category)


def queue(items: Iterable[ReviewItem], *, now: datetime) -> list[ReviewItem]:
    """Items awaiting a decision now (pending, or deferred until a time now past), most urgent first."""
    waiting = [i for i in items if i.status is ReviewStatus.PENDING or
               (i.status is ReviewStatus.DEFERRED and (i.deferred_until is None or i.deferred_until <= now))]
    return sorted(waiting, key=lambda i: (-urgency(i), i.created_at, i.id))


def _decide(item: ReviewItem, actor: Actor, at: datetime) -> None:
    if not actor.roles & REVIEWER_ROLES:
        raise Forbidden(f"{actor.id} may not review (needs one of: {', '.join(sorted(REVIEWER_ROLES))})")
    if item.status in (ReviewStatus.ACCEPTED, ReviewStatus.REJECTED):
        raise Conflict(f"review item {item.id} is already {item.status} by {item.decided_by}")
    if at.tzinfo is None:
        raise InvalidInput(f"decision time {at.isoformat()} has no time zone")


def accept(item: ReviewItem, *, actor: Actor, at: datetime, ticket_id: str, note: str = "") -> ReviewItem:
    """Accepted: the caller opens ``ticket_id`` through routing in the same transaction."""
    _decide(item, actor, at)
    return replace(item, status=ReviewStatus.ACCEPTED, decided_by=actor.id, decided_at=at,
                   decision_note=note.strip(), ticket_id=ticket_id)


def reject(item: ReviewItem, *, actor: Actor, at: datetime, reason: str) -> ReviewItem:
    """Rejected as a false positive; the reason is required (its crop becomes a hard negative)."""
    _decide(item, actor, at)
    if not reason.strip():
        raise InvalidInput(f"rejecting review item {item.id} needs a reason")
    return replace(item, status=ReviewStatus.REJECTED, decided_by=actor.id, decided_at=at,
                   decision_note=reason.strip())


def defer(item: ReviewItem, *, actor: Actor, at: datetime, until: datetime | None = None,
          note: str = "") -> ReviewItem:
    """Not now: back in the queue at ``until`` (immediately, behind fresher items, when None)."""
    _decide(item, actor, at)
    if until is not None and until <= at:
        raise InvalidInput(f"defer until {until.isoformat()} is not after now ({at.isoformat()})")
    return replace(item, status=ReviewStatus.DEFERRED, decided_by=actor.id, decided_at=at,
                   decision_note=note.strip(), deferred_until=until)
