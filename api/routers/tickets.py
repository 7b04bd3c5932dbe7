"""Tickets (工单), the review queue, routing rules and webhook subscriptions over HTTP.

A department role sees and moves only its own department's tickets; the operations centre and
admins see every department. The lifecycle's own permission table (tickets.lifecycle) decides
which actions each caller may take; every transition and review decision is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.encoders import jsonable_encoder
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import Principal, audit, require_roles
from api.routers._common import Admin, uow
from api.routers.flights import BBoxQuery, parse_bbox, signed
from api.schemas import CONFLICT, NOT_FOUND, PROBLEMS, StrictIn
from dockpatrol.errors import InvalidInput
from dockpatrol.identity import Role
from tickets.lifecycle import allowed_actions, can
from tickets.types import OPEN_STATUSES, Action, Actor, ReviewItem, ReviewKind, Ticket, TicketStatus
from tickets.types import Role as TicketRole

router = APIRouter(tags=["tickets"], responses=PROBLEMS)

TicketReader = Annotated[Principal, Depends(require_roles(Role.ENFORCEMENT, Role.ENVIRONMENTAL, Role.FIRE,
                                                          Role.OPS_CENTRE))]
Reviewer = Annotated[Principal, Depends(require_roles(Role.ENVIRONMENTAL, Role.OPS_CENTRE))]
Supervisor = Annotated[Principal, Depends(require_roles(Role.OPS_CENTRE))]
Ref = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
MAX_PAGE = 500
DUE_SOON_H = 24
DEPARTMENT_ROLES = frozenset({Role.ENFORCEMENT, Role.ENVIRONMENTAL, Role.FIRE})


def actor_of(principal: Principal) -> Actor:
    """The API's roles in the lifecycle's terms: the operations centre dispatches, transfers and
    closes; a department role is its department's supervisor and field staff."""
    roles: set[TicketRole] = set()
    if principal.roles & {Role.ADMIN, Role.OPS_CENTRE}:
        roles.add(TicketRole.OPERATOR)
    if principal.department is not None and principal.roles & DEPARTMENT_ROLES:
        roles |= {TicketRole.SUPERVISOR, TicketRole.FIELD}
    return Actor(id=principal.actor, roles=frozenset(roles),
                 department=str(principal.department) if principal.department else None)


# ---- schemas --------------------------------------------------------------------------------------------


class TicketOut(BaseModel):
    id: str
    number: str = Field(examples=["GC-20261206-0001"])
    category: str
    class_name: str
    department: str
    status: TicketStatus
    priority: int
    score: float
    geometry: dict[str, Any]
    jurisdiction_id: str | None
    team: str | None
    created_at: datetime
    due_at: datetime | None
    overdue: bool
    version: int = Field(description="send it back as expected_version: a concurrent change is a 409")
    sightings: int
    last_seen_at: datetime | None
    external_ref: str | None


class TicketPage(BaseModel):
    items: list[TicketOut]
    offset: int
    limit: int
    next_offset: int | None = Field(description="null on the last page")


class HistoryOut(BaseModel):
    at: datetime
    actor: str
    action: str
    from_status: TicketStatus | None
    to_status: TicketStatus | None
    note: str


class SightingOut(BaseModel):
    seen_at: datetime
    score: float
    flight_id: str | None
    frames: int
    evidence_url: str | None


class Evidence(BaseModel):
    before_url: str | None = Field(description="the first patrol's evidence crop (signed, minutes)")
    after_url: str | None = Field(description="the latest patrol's evidence crop, when seen again")


class TicketDetail(BaseModel):
    ticket: TicketOut
    actions: list[Action] = Field(description="what this caller may do now")
    history: list[HistoryOut]
    sightings: list[SightingOut]
    evidence: Evidence


class TransitionIn(StrictIn):
    action: Action = Field(examples=["accept"])
    note: str = Field("", max_length=2000, description="required to reject, transfer or reopen")
    expected_version: int | None = Field(None, ge=1)
    to_department: str | None = Field(None, max_length=64, description="transfer only")


class DepartmentStats(BaseModel):
    key: str
    total: int
    open: int
    overdue: int
    due_soon: int = Field(description=f"open and due within {DUE_SOON_H} h")
    median_dispatch_h: float | None
    median_close_h: float | None
    sla_compliance: float | None
    reopen_rate: float | None


class TicketStatsOut(BaseModel):
    at: datetime
    departments: list[DepartmentStats]


class ReviewOut(BaseModel):
    id: str
    kind: str
    status: str
    class_name: str
    category: str
    score: float
    geometry: dict[str, Any]
    reason: str
    created_at: datetime
    area_m2: float | None
    before_url: str | None
    after_url: str | None


class ReviewPage(BaseModel):
    items: list[ReviewOut]
    total: int


class RejectIn(StrictIn):
    reason: str = Field(min_length=1, max_length=2000)


class DecisionIn(StrictIn):
    note: str = Field("", max_length=2000)
    until: AwareDatetime | None = Field(None, description="defer only: back in the queue at this time")


def ticket_out(t: Ticket, now: datetime) -> TicketOut:
    from tickets.sla import is_overdue

    return TicketOut(id=t.id, number=t.number, category=t.category, class_name=t.class_name, department=t.department,
                     status=t.status, priority=t.priority, score=t.score, geometry=t.geometry,
                     jurisdiction_id=t.jurisdiction_id, team=t.team, created_at=t.created_at, due_at=t.due_at,
                     overdue=is_overdue(t, now=now), version=t.version, sightings=t.sightings,
                     last_seen_at=t.last_seen_at, external_ref=t.external_ref)


def review_out(item: ReviewItem, *, before_key: str | None = None) -> ReviewOut:
    """``before_key``: a change item's crop of the earlier patrol (objects have only the one crop)."""
    c = item.candidate
    return ReviewOut(id=item.id, kind=str(item.kind), status=str(item.status), class_name=c.class_name,
                     category=c.category, score=c.score, geometry=c.geometry, reason=item.reason,
                     created_at=item.created_at, area_m2=item.area_m2, before_url=signed(before_key),
                     after_url=signed(c.evidence_key))


def _statuses(text: str | None) -> list[TicketStatus]:
    if not text:
        return []
    try:
        return [TicketStatus(s.strip()) for s in text.split(",") if s.strip()]
    except ValueError:
        raise InvalidInput(f"status {text!r}: use a comma list of {', '.join(s.value for s in TicketStatus)}") from None


def _scope(principal: Principal, department: str | None) -> list[str]:
    """The departments this caller's list may show (403 when asking for another one)."""
    if principal.sees_all_departments:
        return [department] if department else []
    principal.require_department(department or str(principal.department or ""))
    return [str(principal.department)]


# ---- tickets --------------------------------------------------------------------------------------------


@router.get("/api/tickets", response_model=TicketPage, summary="Tickets on the map: filters, newest first")
def list_tickets(
    principal: TicketReader,
    status: Annotated[str | None, Query(max_length=300, examples=["new,dispatched"])] = None,
    department: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    class_name: Annotated[str | None, Query(max_length=64)] = None,
    grid: Annotated[str | None, Query(max_length=64, description="jurisdiction grid id (网格)")] = None,
    bbox: BBoxQuery = None,
    since: Annotated[AwareDatetime | None, Query(description="created at or after")] = None,
    overdue: Annotated[bool | None, Query(description="only tickets past their deadline")] = None,
    due_within_h: Annotated[float | None, Query(gt=0, le=24 * 365, description="open and due within N hours")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> TicketPage:
    """A department role sees its own department only (asking for another is 403)."""
    from storage.repositories import tickets as repo
    from tickets.sla import is_overdue

    now = datetime.now(UTC)
    departments = _scope(principal, department)
    class_names: set[str] = {class_name} if class_name else set()
    if category:
        from dockpatrol.taxonomy import CLASSES_BY_CATEGORY, parse_category

        class_names = (class_names or set(CLASSES_BY_CATEGORY[parse_category(category)])) & set(
            CLASSES_BY_CATEGORY[parse_category(category)])
        if not class_names:
            return TicketPage(items=[], offset=offset, limit=limit, next_offset=None)
    post_filter = overdue is not None or due_within_h is not None or since is not None
    with uow() as session:
        found = repo.list_tickets(session=session, statuses=_statuses(status), departments=departments, grid=grid,
                                  bbox=parse_bbox(bbox), class_names=class_names,
                                  limit=MAX_PAGE * 4 if post_filter else limit + 1, offset=0 if post_filter else offset)
    if post_filter:
        horizon = now + timedelta(hours=due_within_h) if due_within_h else None
        found = [t for t in found
                 if (overdue is None or is_overdue(t, now=now) == overdue)
                 and (horizon is None or (t.due_at is not None and t.due_at <= horizon and t.status in OPEN_STATUSES))
                 and (since is None or t.created_at >= since)]
        found = sorted(found, key=lambda t: t.due_at or now) if due_within_h else found
        found = found[offset:offset + limit + 1]
    more = len(found) > limit
    return TicketPage(items=[ticket_out(t, now) for t in found[:limit]], offset=offset, limit=limit,
                      next_offset=offset + limit if more else None)


@router.get("/api/tickets/stats", response_model=TicketStatsOut, summary="Deadlines and SLA per department")
def ticket_stats(principal: TicketReader) -> TicketStatsOut:
    from storage.repositories import tickets as repo
    from tickets.stats import by_department

    now = datetime.now(UTC)
    with uow() as session:
        everything = repo.all_tickets(session=session)
    if not principal.sees_all_departments:
        everything = [t for t in everything if t.department == str(principal.department)]
    soon = now + timedelta(hours=DUE_SOON_H)
    due_soon: dict[str, int] = {}
    for t in everything:
        if t.status in OPEN_STATUSES and t.due_at is not None and now <= t.due_at <= soon:
            due_soon[t.department] = due_soon.get(t.department, 0) + 1
    return TicketStatsOut(at=now, departments=[DepartmentStats(**s.to_dict(), due_soon=due_soon.get(s.key, 0))
                                               for s in by_department(everything, now=now)])


def _detail(session: Any, ticket: Ticket, principal: Principal, now: datetime) -> TicketDetail:
    from storage.repositories import tickets as repo

    actor = actor_of(principal)
    seen = repo.sightings(session=session, ticket_id=ticket.id)
    first_key = seen[0].evidence_key if seen else ticket.evidence_key
    last_key = seen[-1].evidence_key if len(seen) > 1 else None
    return TicketDetail(
        ticket=ticket_out(ticket, now),
        actions=[a for a in allowed_actions(ticket.status) if can(actor, a, ticket)],
        history=[HistoryOut(at=e.at, actor=e.actor, action=e.action, from_status=e.from_status,
                            to_status=e.to_status, note=e.note)
                 for e in repo.history(session=session, ticket_id=ticket.id)],
        sightings=[SightingOut(seen_at=s.seen_at, score=s.score, flight_id=s.flight_id, frames=s.frames,
                               evidence_url=signed(s.evidence_key)) for s in seen],
        evidence=Evidence(before_url=signed(first_key), after_url=signed(last_key)))


@router.get("/api/tickets/{ref}", response_model=TicketDetail, responses=NOT_FOUND,
            summary="One ticket: history, sightings, before/after evidence, allowed actions")
def get_ticket(ref: Ref, principal: TicketReader) -> TicketDetail:
    """By id or number; another department's ticket is 403."""
    from storage.repositories import tickets as repo

    with uow() as session:
        ticket = repo.find(session=session, ref=ref)
        principal.require_department(ticket.department)
        return _detail(session, ticket, principal, datetime.now(UTC))


@router.post("/api/tickets/{ref}/transitions", response_model=TicketDetail, responses={**NOT_FOUND, **CONFLICT},
             summary="Move a ticket one step (dispatch, accept, start, resolve, close, reject, reopen, transfer)")
def transition_ticket(ref: Ref, body: TransitionIn, principal: TicketReader) -> TicketDetail:
    """Refused with 403 for another department's ticket or an action the caller's role may not take,
    409 when the action does not fit the ticket's status or the ticket moved since `expected_version`."""
    from pipeline.tickets import transition
    from storage.repositories import tickets as repo

    now = datetime.now(UTC)
    with uow() as session:
        before = repo.find(session=session, ref=ref)
        principal.require_department(before.department)
        after = transition(session=session, ref=before.id, action=body.action, actor=actor_of(principal), at=now,
                           note=body.note, expected_version=body.expected_version,
                           to_department=body.to_department)
        audit(session, principal, f"ticket.{body.action}", "ticket", after.id,
              before={"status": before.status, "department": before.department, "version": before.version},
              after={"status": after.status, "department": after.department, "version": after.version},
              detail={"note": body.note} if body.note else None)
        return _detail(session, after, principal, now)


# ---- review queue ---------------------------------------------------------------------------------------


@router.get("/api/review", response_model=ReviewPage, tags=["review"], summary="The review queue, most urgent first")
def review_queue(_: Reviewer, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> ReviewPage:
    """Objects below their class's auto-ticket score and changes between patrols (with both crops)
    waiting for a person: pending ones, and deferred ones whose time has come."""
    from pipeline.tickets import review_queue as queue
    from storage.repositories import changes

    with uow() as session:
        items = queue(session=session, now=datetime.now(UTC))
        before = {i.id: change.event.before_key for i in items[:limit] if i.kind is ReviewKind.CHANGE
                  and (change := changes.get(session=session, change_id=i.candidate.key)) is not None}
    return ReviewPage(items=[review_out(i, before_key=before.get(i.id)) for i in items[:limit]], total=len(items))


def _decided(principal: Principal, item_id: str, verb: str, result: Any, detail: dict[str, Any], session: Any) -> None:
    audit(session, principal, f"review.{verb}", "review_item", item_id, after=jsonable_encoder(result), detail=detail)


ItemId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]


@router.post("/api/review/{item_id}/accept", response_model=TicketOut, responses={**NOT_FOUND, **CONFLICT},
             tags=["review"], summary="Accept: the object becomes a ticket (or a sighting of a live one)")
def accept_review(item_id: ItemId, principal: Reviewer,
                  body: Annotated[DecisionIn | None, Body()] = None) -> TicketOut:
    from pipeline.tickets import accept_review as accept

    now = datetime.now(UTC)
    with uow() as session:
        ticket = accept(session=session, item_id=item_id, actor=actor_of(principal), at=now,
                        note=body.note if body else "")
        out = ticket_out(ticket, now)
        _decided(principal, item_id, "accept", {"ticket": ticket.number}, {"note": body.note if body else ""},
                 session)
    return out


@router.post("/api/review/{item_id}/reject", response_model=ReviewOut, responses={**NOT_FOUND, **CONFLICT},
             tags=["review"], summary="Reject with a reason (kept as a hard negative for training)")
def reject_review(item_id: ItemId, body: RejectIn, principal: Reviewer) -> ReviewOut:
    from pipeline.tickets import reject_review as reject

    with uow() as session:
        item = reject(session=session, item_id=item_id, actor=actor_of(principal), at=datetime.now(UTC),
                      reason=body.reason)
        _decided(principal, item_id, "reject", {"status": str(item.status)}, {"reason": body.reason}, session)
        return review_out(item)


@router.post("/api/review/{item_id}/defer", response_model=ReviewOut, responses={**NOT_FOUND, **CONFLICT},
             tags=["review"], summary="Defer: back in the queue later")
def defer_review(item_id: ItemId, principal: Reviewer,
                 body: Annotated[DecisionIn | None, Body()] = None) -> ReviewOut:
    from pipeline.tickets import defer_review as defer

    with uow() as session:
        item = defer(session=session, item_id=item_id, actor=actor_of(principal), at=datetime.now(UTC),
                     until=body.until if body else None, note=body.note if body else "")
        _decided(principal, item_id, "defer", {"status": str(item.status)},
                 {"until": body.until.isoformat() if body and body.until else None}, session)
        return review_out(item)


# ---- routing rules and subscriptions ----------------------------------------------------------------------


@router.get("/api/rules", tags=["rules"], summary="The district's routing rules (departments, rules, default)")
def get_rules(_: Supervisor) -> dict[str, Any]:
    """The rules document in the same form PUT takes (and `dockpatrol rules load` reads as YAML)."""
    from pipeline.tickets import ensure_ruleset

    with uow() as session:
        return jsonable_encoder(ensure_ruleset(session=session).to_document())


@router.put("/api/rules", tags=["rules"], summary="Replace the routing rules (validated as `dockpatrol rules check`)")
def put_rules(principal: Admin, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    from storage.repositories import tickets as repo
    from tickets.rules import parse_rules

    with uow() as session:
        known = {g.id for g in repo.grids(session=session)}
        ruleset = parse_rules(body, known_grids=known or None, source="request body")
        before = repo.load_ruleset(session=session)
        repo.save_ruleset(session=session, ruleset=ruleset, source=f"api:{principal.actor}")
        audit(session, principal, "rules.replace", "routing_rules", "district",
              before=jsonable_encoder(before.to_document()) if before else None,
              after=jsonable_encoder(ruleset.to_document()))
        return jsonable_encoder(ruleset.to_document())


class SubscriptionIn(StrictIn):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$", examples=["city-ops"])
    kind: str = Field("webhook", pattern="^(webhook|open311)$")
    url: str = Field(min_length=8, max_length=500, pattern="^https?://", examples=["https://ops.example.gov/hooks"])
    secret: str = Field("", max_length=200, description="HMAC key the receiver verifies signatures with")
    topics: list[str] | None = Field(None, description="default: every ticket event")
    departments: list[str] = Field(default_factory=list, description="empty: every department")
    enabled: bool = True


class SubscriptionOut(BaseModel):
    id: str
    kind: str
    url: str
    topics: list[str]
    departments: list[str]
    enabled: bool


def _subscription_out(s: Any) -> SubscriptionOut:
    return SubscriptionOut(id=s.id, kind=str(s.kind), url=s.url, topics=sorted(str(t) for t in s.topics),
                           departments=sorted(s.departments), enabled=s.enabled)


@router.get("/api/subscriptions", response_model=list[SubscriptionOut], tags=["subscriptions"],
            summary="Webhook and Open311 subscriptions (secrets are never returned)")
def list_subscriptions(_: Admin) -> list[SubscriptionOut]:
    from storage.repositories import tickets as repo

    with uow() as session:
        return [_subscription_out(s) for s in repo.subscriptions(session=session)]


@router.put("/api/subscriptions/{subscription_id}", response_model=SubscriptionOut, tags=["subscriptions"],
            summary="Create or replace a subscription")
def put_subscription(subscription_id: Ref, body: SubscriptionIn, principal: Admin) -> SubscriptionOut:
    from storage.repositories import tickets as repo
    from tickets.delivery import Subscription, SubscriptionKind, Topic

    if body.id != subscription_id:
        raise InvalidInput(f"body id {body.id!r} differs from the path's {subscription_id!r}")
    try:
        topics = frozenset(Topic(t) for t in body.topics) if body.topics else frozenset(Topic)
    except ValueError:
        raise InvalidInput(f"topics {body.topics!r}: choose from {', '.join(t.value for t in Topic)}") from None
    sub = Subscription(id=body.id, kind=SubscriptionKind(body.kind), url=body.url, secret=body.secret, topics=topics,
                       departments=frozenset(body.departments), enabled=body.enabled)
    with uow() as session:
        existing = {s.id: s for s in repo.subscriptions(session=session)}.get(body.id)
        repo.save_subscription(session=session, subscription=sub)
        out = _subscription_out(sub)
        audit(session, principal, "subscription.put", "subscription", body.id,
              before=_subscription_out(existing) if existing else None, after=out)
    return out
