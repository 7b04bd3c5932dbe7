"""Tickets (工单) with their append-only history and sightings, the review queue, the routing policy,
outbound subscriptions and the outbox. Explicit keyword parameters in, ``tickets`` domain types out.

Functions flush; the job or request boundary commits. A ticket update names the version it read and
fails with Conflict when someone else moved the ticket first (one atomic UPDATE … WHERE version).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shapely.geometry import box, shape
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from dockpatrol.errors import Conflict, NotFound
from missions.types import Jurisdiction
from storage.geometry import SRID, BBox, bbox_of
from storage.repositories import jurisdictions
from storage.tables import (
    DepartmentRow,
    OutboxRow,
    ReviewItemRow,
    RoutingPolicyRow,
    RoutingRuleRow,
    SightingRow,
    SubscriptionRow,
    TicketHistoryRow,
    TicketRow,
)
from tickets.dedup import TicketRef
from tickets.delivery import Subscription, SubscriptionKind, Topic
from tickets.rules import RuleSet, parse_rules
from tickets.types import (
    Candidate,
    HistoryEntry,
    ReviewItem,
    ReviewKind,
    ReviewStatus,
    RoutingDecision,
    Sighting,
    Ticket,
    TicketStatus,
)

POLICY_ID = "district"

# ---------------------------------------------------------------- tickets


def _ticket(row: TicketRow) -> Ticket:
    return Ticket(
        id=row.id, number=row.number, category=row.category, class_name=row.class_name, geometry=row.geometry,
        department=row.department, status=TicketStatus(row.status), priority=row.priority,
        created_at=row.created_at, score=row.score,
        routing=RoutingDecision.from_dict(row.routing) if row.routing else None, team=row.team,
        jurisdiction_id=row.jurisdiction_id, due_at=row.due_at, version=row.version, source_key=row.source_key,
        linked_ticket_id=row.linked_ticket_id, external_ref=row.external_ref,
        reinspection_request_id=row.reinspection_mission_id, dispatched_at=row.dispatched_at,
        resolved_at=row.resolved_at, closed_at=row.closed_at, reminded_at=row.reminded_at,
        escalated_at=row.escalated_at, reopen_count=row.reopen_count, sightings=row.sightings,
        last_seen_at=row.last_seen_at, evidence_key=row.evidence_key)


def _values(ticket: Ticket) -> dict[str, Any]:
    """Every mutable column of a ticket row, from the domain ticket."""
    min_lon, min_lat, max_lon, max_lat = bbox_of(ticket.geometry)
    return dict(
        category=ticket.category, class_name=ticket.class_name, geometry=ticket.geometry, min_lon=min_lon,
        min_lat=min_lat, max_lon=max_lon, max_lat=max_lat, department=ticket.department,
        status=str(ticket.status), priority=ticket.priority, score=ticket.score,
        routing=ticket.routing.to_dict() if ticket.routing else {},
        rule_id=ticket.routing.rule_id if ticket.routing else None, team=ticket.team,
        jurisdiction_id=ticket.jurisdiction_id, due_at=ticket.due_at, version=ticket.version,
        linked_ticket_id=ticket.linked_ticket_id, external_ref=ticket.external_ref,
        reinspection_mission_id=ticket.reinspection_request_id, dispatched_at=ticket.dispatched_at,
        resolved_at=ticket.resolved_at, closed_at=ticket.closed_at, reminded_at=ticket.reminded_at,
        escalated_at=ticket.escalated_at, reopen_count=ticket.reopen_count, sightings=ticket.sightings,
        last_seen_at=ticket.last_seen_at, evidence_key=ticket.evidence_key)


def create(*, session: Session, ticket: Ticket, entry: HistoryEntry, number_prefix: str | None = None) -> Ticket:
    """Insert a new ticket and its 'created' history entry.

    With ``number_prefix`` the ticket gets the next free number under it; a concurrent writer taking
    the same number makes this try the next one (in a savepoint), never fail the caller's transaction.
    """
    if session.get(TicketRow, ticket.id) is not None:
        raise Conflict(f"ticket {ticket.id!r} already exists")
    for _ in range(10):
        number = next_number(session=session, prefix=number_prefix) if number_prefix else ticket.number
        try:
            with session.begin_nested():
                session.add(TicketRow(id=ticket.id, number=number, source_key=ticket.source_key,
                                      created_at=ticket.created_at, updated_at=ticket.created_at, **_values(ticket)))
        except IntegrityError:
            if number_prefix is None or session.get(TicketRow, ticket.id) is not None:
                raise Conflict(f"ticket {ticket.id!r} (number {number}) already exists") from None
            continue
        append_history(session=session, entry=entry)
        return replace(ticket, number=number)
    raise Conflict(f"no free ticket number under {number_prefix!r} after 10 tries")


def save(*, session: Session, ticket: Ticket, entry: HistoryEntry, expected_version: int) -> Ticket:
    """Store a changed ticket iff it is still at ``expected_version``, and append its history entry."""
    values = _values(ticket)
    geometry = values.pop("geometry")
    values.pop("external_ref")  # owned by set_external_ref: a delivery may record it while a person edits
    result = session.execute(
        update(TicketRow).where(TicketRow.id == ticket.id, TicketRow.version == expected_version)
        .values(**values, geometry=geometry, updated_at=entry.at)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current = session.scalar(select(TicketRow.version).where(TicketRow.id == ticket.id))
        if current is None:
            raise NotFound(f"ticket {ticket.id!r} does not exist")
        raise Conflict(f"ticket {ticket.number} was changed by someone else (expected version "
                       f"{expected_version}, found {current}); reload and retry")
    append_history(session=session, entry=entry)
    cached = session.identity_map.get(session.identity_key(TicketRow, ticket.id))
    if cached is not None:
        session.expire(cached)  # the UPDATE bypassed it
    return ticket


def append_history(*, session: Session, entry: HistoryEntry) -> None:
    session.add(TicketHistoryRow(
        ticket_id=entry.ticket_id, at=entry.at, actor=entry.actor, action=entry.action,
        from_status=str(entry.from_status) if entry.from_status else None,
        to_status=str(entry.to_status) if entry.to_status else None, note=entry.note, data=entry.data,
        evidence=list(entry.evidence)))
    session.flush()


def get(*, session: Session, ticket_id: str) -> Ticket | None:
    row = session.get(TicketRow, ticket_id)
    return _ticket(row) if row is not None else None


def require(*, session: Session, ticket_id: str) -> Ticket:
    ticket = get(session=session, ticket_id=ticket_id)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id!r} does not exist")
    return ticket


def find(*, session: Session, ref: str) -> Ticket:
    """A ticket by id, number or external reference (Open311 service_request_id); NotFound names it."""
    row = session.scalars(select(TicketRow).where(
        or_(TicketRow.id == ref, TicketRow.number == ref, TicketRow.external_ref == ref))).first()
    if row is None:
        raise NotFound(f"no ticket with id, number or external reference {ref!r}")
    return _ticket(row)


def next_number(*, session: Session, prefix: str) -> str:
    """The next human number under ``prefix`` (e.g. ``GC-20260302-``), five digits."""
    last = session.scalar(select(func.max(TicketRow.number)).where(TicketRow.number.like(f"{prefix}%")))
    n = int(last[len(prefix):]) + 1 if last else 1
    return f"{prefix}{n:05d}"


def history(*, session: Session, ticket_id: str) -> list[HistoryEntry]:
    stmt = select(TicketHistoryRow).where(TicketHistoryRow.ticket_id == ticket_id).order_by(TicketHistoryRow.id)
    return [HistoryEntry(ticket_id=r.ticket_id, at=r.at, actor=r.actor, action=r.action,
                         from_status=TicketStatus(r.from_status) if r.from_status else None,
                         to_status=TicketStatus(r.to_status) if r.to_status else None, note=r.note,
                         evidence=tuple(r.evidence or ()), data=dict(r.data or {}), id=r.id)
            for r in session.scalars(stmt)]


def _bbox_filter(stmt: Any, bbox: BBox, session: Session) -> Any:
    minx, miny, maxx, maxy = bbox
    stmt = stmt.where(and_(TicketRow.min_lon <= maxx, TicketRow.max_lon >= minx, TicketRow.min_lat <= maxy,
                           TicketRow.max_lat >= miny))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.where(func.ST_Intersects(TicketRow.geometry, func.ST_MakeEnvelope(minx, miny, maxx, maxy, SRID)))
    return stmt


def list_tickets(*, session: Session, statuses: Collection[TicketStatus] = (), departments: Collection[str] = (),
                 grid: str | None = None, bbox: BBox | None = None, class_names: Collection[str] = (),
                 limit: int = 100, offset: int = 0) -> list[Ticket]:
    """Tickets matching every given filter, newest first; a bbox is an exact intersects on both backends."""
    stmt = select(TicketRow)
    if statuses:
        stmt = stmt.where(TicketRow.status.in_([str(s) for s in statuses]))
    if departments:
        stmt = stmt.where(TicketRow.department.in_(list(departments)))
    if grid is not None:
        stmt = stmt.where(TicketRow.jurisdiction_id == grid)
    if class_names:
        stmt = stmt.where(TicketRow.class_name.in_(list(class_names)))
    if bbox is not None:
        stmt = _bbox_filter(stmt, bbox, session)
    stmt = stmt.order_by(TicketRow.created_at.desc(), TicketRow.id)
    if bbox is None or session.get_bind().dialect.name == "postgresql":
        return [_ticket(r) for r in session.scalars(stmt.limit(limit).offset(offset))]
    # SQLite: the bbox columns pre-filter, shapely decides. Page after the exact test so limits hold,
    # reading more candidates only when bbox-only overlaps crowded the first batch.
    query, want, batch = box(*bbox), offset + limit, offset + limit
    while True:
        rows = list(session.scalars(stmt.limit(batch)))
        exact = [r for r in rows if shape(r.geometry).intersects(query)]
        if len(exact) >= want or len(rows) < batch:
            return [_ticket(r) for r in exact[offset:want]]
        batch *= 4


def all_tickets(*, session: Session) -> list[Ticket]:
    return [_ticket(r) for r in session.scalars(select(TicketRow).order_by(TicketRow.created_at, TicketRow.id))]


def dedup_refs(*, session: Session, bbox: BBox, class_names: Collection[str]) -> list[TicketRef]:
    """Every ticket of these classes near ``bbox`` (bbox overlap), for the dedup index."""
    stmt = _bbox_filter(select(TicketRow.id, TicketRow.class_name, TicketRow.status, TicketRow.geometry,
                               TicketRow.closed_at), bbox, session)
    stmt = stmt.where(TicketRow.class_name.in_(list(class_names)))
    return [TicketRef(id=i, class_name=c, status=TicketStatus(s), geometry=shape(g), closed_at=closed)
            for i, c, s, g, closed in session.execute(stmt)]


def deadline_candidates(*, session: Session, statuses: Collection[TicketStatus]) -> list[Ticket]:
    """Tickets in ``statuses`` with a due date and not yet escalated: what the deadline sweep looks at."""
    stmt = select(TicketRow).where(TicketRow.status.in_([str(s) for s in statuses]), TicketRow.due_at.is_not(None),
                                   TicketRow.escalated_at.is_(None)).order_by(TicketRow.due_at)
    return [_ticket(r) for r in session.scalars(stmt)]


def in_status(*, session: Session, status: TicketStatus, bbox: BBox | None = None) -> list[Ticket]:
    stmt = select(TicketRow).where(TicketRow.status == str(status))
    if bbox is not None:
        stmt = _bbox_filter(stmt, bbox, session)
    return [_ticket(r) for r in session.scalars(stmt.order_by(TicketRow.id))]


# ---------------------------------------------------------------- sightings


def add_sighting(*, session: Session, sighting: Sighting) -> bool:
    """Record a sighting; False (nothing written) when its source was recorded before."""
    if session.scalar(select(SightingRow.id).where(SightingRow.source_key == sighting.source_key)) is not None:
        return False
    session.add(SightingRow(ticket_id=sighting.ticket_id, source_key=sighting.source_key, seen_at=sighting.seen_at,
                            score=sighting.score, geometry=sighting.geometry, flight_id=sighting.flight_id,
                            frame_id=sighting.frame_id, evidence_key=sighting.evidence_key, frames=sighting.frames,
                            finding_ids=list(sighting.finding_ids)))
    session.flush()
    return True


def sightings(*, session: Session, ticket_id: str) -> list[Sighting]:
    stmt = select(SightingRow).where(SightingRow.ticket_id == ticket_id).order_by(SightingRow.seen_at, SightingRow.id)
    return [Sighting(ticket_id=r.ticket_id, source_key=r.source_key, seen_at=r.seen_at, score=r.score,
                     geometry=r.geometry, flight_id=r.flight_id, frame_id=r.frame_id, evidence_key=r.evidence_key,
                     frames=r.frames, finding_ids=tuple(r.finding_ids or ()), id=r.id) for r in session.scalars(stmt)]


def known_sources(*, session: Session, keys: Collection[str]) -> set[str]:
    """Which candidate keys already became a ticket, a sighting or a review item (idempotent intake)."""
    if not keys:
        return set()
    k = list(keys)
    found = set(session.scalars(select(SightingRow.source_key).where(SightingRow.source_key.in_(k))))
    found |= set(session.scalars(select(TicketRow.source_key).where(TicketRow.source_key.in_(k))))
    found |= set(session.scalars(select(ReviewItemRow.candidate_key).where(ReviewItemRow.candidate_key.in_(k))))
    return found


# ---------------------------------------------------------------- review queue


def _review(row: ReviewItemRow) -> ReviewItem:
    cand = Candidate(key=row.candidate_key, class_name=row.class_name, category=row.category, score=row.score,
                     geometry=row.geometry, seen_at=row.seen_at, flight_id=row.flight_id, frame_id=row.frame_id,
                     evidence_key=row.evidence_key, frames=row.frames, finding_ids=tuple(row.finding_ids or ()),
                     area_id=row.area_id)
    return ReviewItem(id=row.id, kind=ReviewKind(row.kind), candidate=cand, status=ReviewStatus(row.status),
                      created_at=row.created_at, reason=row.reason, area_m2=row.area_m2, decided_by=row.decided_by,
                      decided_at=row.decided_at, decision_note=row.decision_note, deferred_until=row.deferred_until,
                      ticket_id=row.ticket_id)


def save_review(*, session: Session, item: ReviewItem) -> ReviewItem:
    """Insert or update a review item (the id is stable per candidate)."""
    row = session.get(ReviewItemRow, item.id)
    if row is None:
        row = ReviewItemRow(id=item.id, created_at=item.created_at)
        session.add(row)
    c = item.candidate
    row.kind, row.status, row.candidate_key = str(item.kind), str(item.status), c.key
    row.class_name, row.category, row.score, row.seen_at = c.class_name, c.category, c.score, c.seen_at
    row.flight_id, row.frame_id, row.area_id, row.evidence_key = c.flight_id, c.frame_id, c.area_id, c.evidence_key
    row.frames, row.finding_ids, row.area_m2, row.reason = c.frames, list(c.finding_ids), item.area_m2, item.reason
    row.decided_by, row.decided_at, row.decision_note = item.decided_by, item.decided_at, item.decision_note
    row.deferred_until, row.ticket_id = item.deferred_until, item.ticket_id
    row.set_geometry(c.geometry)
    session.flush()
    return item


def get_review(*, session: Session, item_id: str) -> ReviewItem:
    row = session.get(ReviewItemRow, item_id)
    if row is None:
        raise NotFound(f"review item {item_id!r} does not exist")
    return _review(row)


def list_reviews(*, session: Session, statuses: Collection[ReviewStatus] = ()) -> list[ReviewItem]:
    stmt = select(ReviewItemRow)
    if statuses:
        stmt = stmt.where(ReviewItemRow.status.in_([str(s) for s in statuses]))
    return [_review(r) for r in session.scalars(stmt.order_by(ReviewItemRow.created_at, ReviewItemRow.id))]


# ---------------------------------------------------------------- routing policy and grids


def save_ruleset(*, session: Session, ruleset: RuleSet, source: str = "") -> None:
    """Replace the district's departments, routing rules and policy with ``ruleset``."""
    session.execute(delete(RoutingRuleRow))
    session.execute(delete(DepartmentRow))
    for d in ruleset.departments:
        session.add(DepartmentRow(id=d.id, name=d.name, supervisor_role=d.supervisor_role, teams=list(d.teams)))
    for order, r in enumerate(ruleset.rules, start=1):
        session.add(RoutingRuleRow(id=r.id, name=r.name, priority=order * 10, match=r.match.to_dict(),
                                   department=r.department, team=r.team, ticket_priority=r.priority,
                                   sla_hours=r.sla_hours, enabled=r.enabled))
    doc = ruleset.to_document()
    policy = session.get(RoutingPolicyRow, POLICY_ID)
    if policy is None:
        policy = RoutingPolicyRow(id=POLICY_ID)
        session.add(policy)
    policy.timezone, policy.default_route, policy.classes, policy.source = (ruleset.timezone, doc["default"],
                                                                             doc["classes"], source)
    session.flush()


def load_ruleset(*, session: Session) -> RuleSet | None:
    """The stored rule set (validated again on the way out), or None when none was loaded yet."""
    policy = session.get(RoutingPolicyRow, POLICY_ID)
    if policy is None:
        return None
    rules = session.scalars(select(RoutingRuleRow).order_by(RoutingRuleRow.priority, RoutingRuleRow.id))
    doc = {"timezone": policy.timezone, "default": policy.default_route, "classes": policy.classes,
           "departments": [{"id": d.id, "name": d.name, "supervisor_role": d.supervisor_role, "teams": d.teams}
                           for d in session.scalars(select(DepartmentRow).order_by(DepartmentRow.id))],
           "rules": [{"id": r.id, "name": r.name, "match": r.match, "department": r.department,
                      **({"team": r.team} if r.team else {}), "priority": r.ticket_priority,
                      "sla_hours": r.sla_hours, "enabled": r.enabled} for r in rules]}
    return parse_rules(doc, source="database rule set")


def grids(*, session: Session) -> list[Jurisdiction]:
    """Every jurisdiction (grids and what encloses them): what tickets are routed by."""
    return jurisdictions.list_all(session=session)


# ---------------------------------------------------------------- subscriptions and the outbox


def save_subscription(*, session: Session, subscription: Subscription) -> Subscription:
    s = subscription
    row = session.get(SubscriptionRow, s.id) or SubscriptionRow(id=s.id)
    session.add(row)
    row.kind, row.url, row.secret, row.enabled = str(s.kind), s.url, s.secret, s.enabled
    row.max_attempts = s.max_attempts
    row.topics, row.departments = sorted(str(t) for t in s.topics), sorted(s.departments)
    row.api_key, row.service_codes = s.api_key, dict(s.service_codes)
    session.flush()
    return s


def _subscription(row: SubscriptionRow) -> Subscription:
    return Subscription(id=row.id, kind=SubscriptionKind(row.kind), url=row.url, secret=row.secret,
                        topics=frozenset(Topic(t) for t in row.topics), departments=frozenset(row.departments),
                        enabled=row.enabled, max_attempts=row.max_attempts, api_key=row.api_key,
                        service_codes=dict(row.service_codes))


def subscriptions(*, session: Session) -> list[Subscription]:
    return [_subscription(r) for r in session.scalars(select(SubscriptionRow).order_by(SubscriptionRow.id))]


def require_subscription(*, session: Session, subscription_id: str) -> Subscription:
    row = session.get(SubscriptionRow, subscription_id)
    if row is None:
        raise NotFound(f"subscription {subscription_id!r} does not exist")
    return _subscription(row)


@dataclass(frozen=True)
class OutboxEntry:
    """One delivery of one event to one subscription."""

    id: int
    idempotency_key: str
    topic: str
    destination: str
    subscription_id: str | None
    ticket_id: str | None
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    last_error: str
    response: dict[str, Any]


def _outbox(row: OutboxRow) -> OutboxEntry:
    return OutboxEntry(id=row.id, idempotency_key=row.idempotency_key, topic=row.topic, destination=row.destination,
                       subscription_id=row.subscription_id, ticket_id=row.ticket_id, payload=dict(row.payload),
                       status=row.status, attempts=row.attempts, next_attempt_at=row.next_attempt_at,
                       created_at=row.created_at, delivered_at=row.delivered_at, last_error=row.last_error,
                       response=dict(row.response or {}))


def enqueue(*, session: Session, idempotency_key: str, topic: str, destination: str, payload: dict[str, Any],
            at: datetime, subscription_id: str | None = None, ticket_id: str | None = None) -> OutboxEntry:
    """Queue a delivery in the caller's transaction; the same key twice is one delivery."""
    existing = session.scalars(select(OutboxRow).where(OutboxRow.idempotency_key == idempotency_key)).first()
    if existing is not None:
        return _outbox(existing)
    row = OutboxRow(idempotency_key=idempotency_key, topic=topic, destination=destination, payload=payload,
                    subscription_id=subscription_id, ticket_id=ticket_id, created_at=at, next_attempt_at=at,
                    status="pending", response={})
    session.add(row)
    session.flush()
    return _outbox(row)


def claim_due(*, session: Session, now: datetime, worker: str, lease_until: datetime,
              limit: int = 20) -> list[OutboxEntry]:
    """Lease due pending deliveries to ``worker`` (skipping rows another worker holds); commit to publish.

    Per ticket and subscription, events go out in order: an entry waits while an older one of the same
    pair is still pending (a dead-lettered one no longer holds the line; replay can resend it).
    """
    older = aliased(OutboxRow)
    blocked = (select(older.id).where(older.subscription_id == OutboxRow.subscription_id,
                                      older.ticket_id == OutboxRow.ticket_id, older.status == "pending",
                                      older.id < OutboxRow.id).exists())
    stmt = (select(OutboxRow).where(OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now,
                                    or_(OutboxRow.locked_until.is_(None), OutboxRow.locked_until < now), ~blocked)
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.scalars(stmt))
    for row in rows:
        row.locked_until, row.locked_by = lease_until, worker
    session.flush()
    return [_outbox(r) for r in rows]


def _outbox_row(session: Session, outbox_id: int) -> OutboxRow:
    row = session.get(OutboxRow, outbox_id)
    if row is None:
        raise NotFound(f"outbox entry {outbox_id} does not exist")
    return row


def mark_delivered(*, session: Session, outbox_id: int, at: datetime, response: dict[str, Any] | None = None) -> None:
    row = _outbox_row(session, outbox_id)
    row.status, row.delivered_at, row.attempts = "delivered", at, row.attempts + 1
    row.locked_until = row.locked_by = None
    row.response = response or {}
    session.flush()


def mark_failed(*, session: Session, outbox_id: int, error: str, retry_at: datetime, dead: bool) -> None:
    """One failed attempt: retry at ``retry_at``, or park as dead-letter when ``dead``."""
    row = _outbox_row(session, outbox_id)
    row.attempts += 1
    row.last_error = error[:2000]
    row.next_attempt_at = retry_at
    row.locked_until = row.locked_by = None
    if dead:
        row.status = "dead"
    session.flush()


def replay(*, session: Session, at: datetime, outbox_ids: Sequence[int] = (), dead: bool = False) -> list[int]:
    """Put dead (or delivered) entries back in the queue with a fresh attempt budget; returns their ids."""
    stmt = select(OutboxRow)
    if outbox_ids:
        stmt = stmt.where(OutboxRow.id.in_(list(outbox_ids)))
    elif dead:
        stmt = stmt.where(OutboxRow.status == "dead")
    else:
        return []
    rows = list(session.scalars(stmt))
    missing = set(outbox_ids) - {r.id for r in rows}
    if missing:
        raise NotFound(f"outbox entries {sorted(missing)} do not exist")
    for row in rows:
        row.status, row.attempts, row.next_attempt_at, row.delivered_at = "pending", 0, at, None
        row.locked_until = row.locked_by = None
    session.flush()
    return [r.id for r in rows]


def list_outbox(*, session: Session, statuses: Collection[str] = (), limit: int = 100) -> list[OutboxEntry]:
    stmt = select(OutboxRow)
    if statuses:
        stmt = stmt.where(OutboxRow.status.in_(list(statuses)))
    return [_outbox(r) for r in session.scalars(stmt.order_by(OutboxRow.id).limit(limit))]


def set_external_ref(*, session: Session, ticket_id: str, external_ref: str) -> None:
    """Keep the city system's id (Open311 service_request_id) beside ours; not a lifecycle step."""
    session.execute(update(TicketRow).where(TicketRow.id == ticket_id).values(external_ref=external_ref)
                    .execution_options(synchronize_session=False))
    session.flush()
