"""Ticket domain types: the work order (工单), its states and audit entries, routing rules and decisions.

Everything here is a frozen dataclass or a StrEnum; geometry is GeoJSON in WGS84 lon/lat and
times are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class TicketStatus(StrEnum):
    """Where a ticket is in its lifecycle; see ``tickets.lifecycle.TRANSITIONS``."""

    NEW = "new"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    VERIFYING = "verifying"
    CLOSED = "closed"
    REJECTED = "rejected"
    REOPENED = "reopened"


#: Statuses in which a department still owes work (the SLA clock runs).
OPEN_STATUSES = frozenset({TicketStatus.NEW, TicketStatus.DISPATCHED, TicketStatus.ACCEPTED,
                           TicketStatus.IN_PROGRESS, TicketStatus.REOPENED})
#: Statuses in which the ticket is still live: new sightings attach to it rather than opening another.
LIVE_STATUSES = OPEN_STATUSES | {TicketStatus.RESOLVED, TicketStatus.VERIFYING}
FINAL_STATUSES = frozenset({TicketStatus.CLOSED, TicketStatus.REJECTED})


class Action(StrEnum):
    """What a person or the system does to a ticket; the lifecycle maps (status, action) → status."""

    DISPATCH = "dispatch"
    ACCEPT = "accept"
    START = "start"
    RESOLVE = "resolve"
    VERIFY = "verify"  # a verification patrol is requested
    CLOSE = "close"
    REJECT = "reject"
    REOPEN = "reopen"
    TRANSFER = "transfer"


class Role(StrEnum):
    """Roles a permission check looks at; the API maps its users onto these."""

    OPERATOR = "operator"  # operations centre: dispatch, transfer, reject, close
    SUPERVISOR = "supervisor"  # a department's supervisor: everything on the department's tickets
    FIELD = "field"  # department staff: accept, start, resolve
    SYSTEM = "system"  # the pipeline and re-inspection
    EXTERNAL = "external"  # a city system reporting progress through the signed callback


@dataclass(frozen=True)
class Actor:
    """Who acts: an id for the audit trail, roles, and the department that scopes field roles."""

    id: str
    roles: frozenset[Role] = frozenset()
    department: str | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(id=name, roles=frozenset({Role.SYSTEM}))


@dataclass(frozen=True)
class HistoryEntry:
    """One step of the append-only audit trail (全流程留痕)."""

    ticket_id: str
    at: datetime
    actor: str
    action: str
    from_status: TicketStatus | None
    to_status: TicketStatus | None
    note: str = ""
    evidence: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class RoutingDecision:
    """Who owns a ticket and by when, and which rule said so (``rule_id`` None: the triage queue)."""

    rule_id: str | None
    department: str
    team: str | None
    priority: int
    sla_hours: float
    grid_id: str | None
    reason: str

    @property
    def is_default(self) -> bool:
        return self.rule_id is None

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "department": self.department, "team": self.team,
                "priority": self.priority, "sla_hours": self.sla_hours, "grid_id": self.grid_id,
                "reason": self.reason}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RoutingDecision:
        return cls(rule_id=d.get("rule_id"), department=d["department"], team=d.get("team"),
                   priority=int(d["priority"]), sla_hours=float(d["sla_hours"]), grid_id=d.get("grid_id"),
                   reason=d.get("reason", ""))


@dataclass(frozen=True)
class Candidate:
    """One object seen by one flight (its sightings across frames already grouped), about to be ticketed.

    ``key`` is stable for the same object of the same flight, so ticketing a flight twice is a no-op.
    """

    key: str
    class_name: str
    category: str
    score: float
    geometry: dict[str, Any]
    seen_at: datetime
    flight_id: str | None = None
    frame_id: str | None = None
    evidence_key: str | None = None
    frames: int = 1
    finding_ids: tuple[str, ...] = ()
    area_id: str | None = None


@dataclass(frozen=True)
class Ticket:
    """A work order: what, where, who owns it, by when, and where it is in its lifecycle."""

    id: str
    number: str
    category: str
    class_name: str
    geometry: dict[str, Any]
    department: str
    status: TicketStatus
    priority: int
    created_at: datetime
    score: float
    routing: RoutingDecision | None = None
    team: str | None = None
    jurisdiction_id: str | None = None
    due_at: datetime | None = None
    version: int = 1
    source_key: str | None = None
    linked_ticket_id: str | None = None
    external_ref: str | None = None
    reinspection_request_id: str | None = None
    dispatched_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None
    reopen_count: int = 0
    sightings: int = 1
    last_seen_at: datetime | None = None
    evidence_key: str | None = None


@dataclass(frozen=True)
class Sighting:
    """One more patrol's view of a ticket's object: evidence crop, frame, score, time, frame count."""

    ticket_id: str
    source_key: str
    seen_at: datetime
    score: float
    geometry: dict[str, Any]
    flight_id: str | None = None
    frame_id: str | None = None
    evidence_key: str | None = None
    frames: int = 1
    finding_ids: tuple[str, ...] = ()  # the detections (one per frame) that make up this view
    id: int | None = None


class ReviewKind(StrEnum):
    OBJECT = "object"  # a detection below its class's auto-ticket threshold
    CHANGE = "change"  # a change between two patrols (the change-detection issue fills these)


class ReviewStatus(StrEnum):
    PENDING = "pending"
    DEFERRED = "deferred"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ReviewItem:
    """Something a person must judge before it becomes a ticket."""

    id: str
    kind: ReviewKind
    candidate: Candidate
    status: ReviewStatus
    created_at: datetime
    reason: str = ""  # why it was queued
    area_m2: float | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str = ""
    deferred_until: datetime | None = None
    ticket_id: str | None = None
