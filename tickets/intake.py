"""From a flight's objects to decisions: new ticket, sighting of a live one, recurrence, or review.

Pure: the caller loads the rule set, grids and known tickets, applies the decisions in one
transaction, and writes the outbox in the same one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shapely.geometry import shape

from tickets.dedup import DedupKind, TicketIndex
from tickets.routing import GridIndex, route
from tickets.rules import RuleSet
from tickets.types import Candidate, RoutingDecision


class IntakeKind(StrEnum):
    TICKET = "ticket"  # a new ticket (``linked_ticket_id`` set: a recurrence after closure)
    SIGHTING = "sighting"  # one more sighting of ``ticket_id`` (or of the batch's candidate ``same_as``)
    REVIEW = "review"  # below the auto-ticket score, or near a ticket once rejected as false positive


@dataclass(frozen=True)
class IntakeDecision:
    candidate: Candidate
    kind: IntakeKind
    reason: str
    ticket_id: str | None = None
    linked_ticket_id: str | None = None
    same_as: str | None = None  # key of the batch candidate this one is a sighting of
    routing: RoutingDecision | None = None


def decide(candidates: Sequence[Candidate], *, rules: RuleSet, grids: GridIndex, index: TicketIndex,
           at: datetime) -> list[IntakeDecision]:
    """One decision per candidate, best score first within a batch so that the best view leads a group."""
    ordered = sorted(candidates, key=lambda c: (-c.score, c.key))
    matches = index.match([c.class_name for c in ordered], [shape(c.geometry) for c in ordered],
                          lambda cls: rules.policy(cls).dedup_radius_m)
    decisions: list[IntakeDecision] = []
    for c, m in zip(ordered, matches, strict=True):
        policy = rules.policy(c.class_name)
        if m.kind is DedupKind.SIGHTING and m.same_as is None:
            decisions.append(IntakeDecision(c, IntakeKind.SIGHTING, ticket_id=m.ticket_id,
                                            reason=f"{m.distance_m:g} m from live ticket {m.ticket_id} "
                                                   f"(radius {policy.dedup_radius_m:g} m)"))
            continue
        if m.same_as is not None:
            lead = decisions[m.same_as]
            if lead.kind is IntakeKind.REVIEW:
                decisions.append(IntakeDecision(c, IntakeKind.REVIEW, same_as=lead.candidate.key,
                                                reason=f"same object as review item {lead.candidate.key}"))
            else:
                decisions.append(IntakeDecision(c, IntakeKind.SIGHTING, ticket_id=lead.ticket_id,
                                                same_as=lead.candidate.key,
                                                reason=f"{m.distance_m:g} m from {lead.candidate.key} of the "
                                                       "same batch"))
            continue
        if m.kind is DedupKind.PREVIOUSLY_REJECTED:
            decisions.append(IntakeDecision(c, IntakeKind.REVIEW,
                                            reason=f"{m.distance_m:g} m from ticket {m.ticket_id}, rejected "
                                                   "as a false positive before"))
            continue
        linked = m.ticket_id if m.kind is DedupKind.RECURRENCE else None
        recur = f"; recurrence of closed ticket {linked}" if linked else ""
        if c.score < policy.auto_ticket_min_score:
            decisions.append(IntakeDecision(c, IntakeKind.REVIEW, linked_ticket_id=linked,
                                            reason=f"score {c.score:.2f} below {c.class_name}'s auto-ticket "
                                                   f"{policy.auto_ticket_min_score:.2f}{recur}"))
            continue
        decisions.append(IntakeDecision(c, IntakeKind.TICKET, linked_ticket_id=linked,
                                        routing=route(c, rules, grids, at=at),
                                        reason=f"score {c.score:.2f} ≥ {policy.auto_ticket_min_score:.2f}{recur}"))
    return decisions
