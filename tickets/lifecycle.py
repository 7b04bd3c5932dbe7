"""The ticket lifecycle: an explicit transition table, a permission hook, and ``apply`` → (Ticket, HistoryEntry).

new → dispatched → accepted → in_progress → resolved → verifying → closed, plus rejected (a false
positive, reason required), reopened, and transfer to another department (reason required,
deadline re-routed). Every step returns a new Ticket with ``version`` + 1 and the history entry
to append; storage makes the version check atomic so two concurrent movers cannot both win.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from dockpatrol.errors import Conflict, Forbidden, InvalidInput
from tickets.types import Action, Actor, HistoryEntry, Role, RoutingDecision, Ticket, TicketStatus

S, A = TicketStatus, Action

#: (from status, action) → to status. Anything not listed is refused.
TRANSITIONS: dict[tuple[TicketStatus, Action], TicketStatus] = {
    (S.NEW, A.DISPATCH): S.DISPATCHED,
    (S.NEW, A.REJECT): S.REJECTED,
    (S.NEW, A.TRANSFER): S.NEW,
    (S.DISPATCHED, A.ACCEPT): S.ACCEPTED,
    (S.DISPATCHED, A.REJECT): S.REJECTED,
    (S.DISPATCHED, A.TRANSFER): S.DISPATCHED,
    (S.ACCEPTED, A.START): S.IN_PROGRESS,
    (S.ACCEPTED, A.REJECT): S.REJECTED,
    (S.ACCEPTED, A.TRANSFER): S.DISPATCHED,
    (S.IN_PROGRESS, A.RESOLVE): S.RESOLVED,
    (S.IN_PROGRESS, A.TRANSFER): S.DISPATCHED,
    (S.RESOLVED, A.VERIFY): S.VERIFYING,
    (S.RESOLVED, A.CLOSE): S.CLOSED,  # closed on a person's word when no patrol can see the spot
    (S.RESOLVED, A.REOPEN): S.REOPENED,
    (S.VERIFYING, A.CLOSE): S.CLOSED,
    (S.VERIFYING, A.REOPEN): S.REOPENED,
    (S.REOPENED, A.DISPATCH): S.DISPATCHED,
    (S.REOPENED, A.ACCEPT): S.ACCEPTED,
    (S.REOPENED, A.TRANSFER): S.DISPATCHED,
}

#: Who may take each action. Field staff and supervisors only act on their own department's tickets.
ALLOWED_ROLES: dict[Action, frozenset[Role]] = {
    A.DISPATCH: frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.SYSTEM}),
    A.ACCEPT: frozenset({Role.FIELD, Role.SUPERVISOR, Role.EXTERNAL}),
    A.START: frozenset({Role.FIELD, Role.SUPERVISOR, Role.EXTERNAL}),
    A.RESOLVE: frozenset({Role.FIELD, Role.SUPERVISOR, Role.EXTERNAL}),
    A.VERIFY: frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.SYSTEM}),
    A.CLOSE: frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.SYSTEM}),
    A.REJECT: frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.EXTERNAL}),
    A.REOPEN: frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.SYSTEM}),
    A.TRANSFER: frozenset({Role.OPERATOR, Role.SUPERVISOR}),
}
DEPARTMENT_SCOPED = frozenset({Role.FIELD, Role.SUPERVISOR})
REASON_REQUIRED = frozenset({A.REJECT, A.TRANSFER, A.REOPEN})


class InvalidTransition(Conflict):
    """The action is not allowed from the ticket's current status; names both states."""

    def __init__(self, ticket: Ticket, action: Action) -> None:
        allowed = sorted(str(a) for (s, a) in TRANSITIONS if s is ticket.status)
        super().__init__(f"ticket {ticket.number}: cannot {action} from {ticket.status} "
                         f"(allowed from {ticket.status}: {', '.join(allowed) or 'nothing, it is final'})")
        self.from_status = ticket.status
        self.action = action


def allowed_actions(status: TicketStatus) -> list[Action]:
    return [a for (s, a) in TRANSITIONS if s is status]


def can(actor: Actor, action: Action, ticket: Ticket) -> bool:
    """The permission check the API calls before showing or taking an action."""
    for role in actor.roles & ALLOWED_ROLES[action]:
        if role not in DEPARTMENT_SCOPED or actor.department == ticket.department:
            return True
    return False


def authorize(actor: Actor, action: Action, ticket: Ticket) -> None:
    """Raise Forbidden naming the actor, action and ticket unless ``can``."""
    if not can(actor, action, ticket):
        roles = ", ".join(sorted(actor.roles)) or "no roles"
        scope = f" of {actor.department}" if actor.department else ""
        raise Forbidden(f"{actor.id} ({roles}{scope}) may not {action} ticket {ticket.number} "
                        f"of {ticket.department}")


def apply(ticket: Ticket, action: Action | str, *, actor: Actor, at: datetime, note: str = "",
          evidence: tuple[str, ...] = (), expected_version: int | None = None,
          reroute: RoutingDecision | None = None) -> tuple[Ticket, HistoryEntry]:
    """Move a ticket by one action; returns the new ticket and the history entry to append.

    ``expected_version`` is the version the caller saw (Conflict if it moved meanwhile);
    ``reroute`` is the new routing of a transfer (department, team, SLA).
    """
    try:
        act = Action(action)
    except ValueError:
        raise InvalidInput(f"unknown action {action!r}; actions: {', '.join(a.value for a in Action)}") from None
    if at.tzinfo is None:
        raise InvalidInput(f"transition time {at.isoformat()} has no time zone")
    if expected_version is not None and expected_version != ticket.version:
        raise Conflict(f"ticket {ticket.number} changed meanwhile (you saw version {expected_version}, "
                       f"it is at {ticket.version}, {ticket.status}); reload and retry")
    target = TRANSITIONS.get((ticket.status, act))
    if target is None:
        raise InvalidTransition(ticket, act)
    authorize(actor, act, ticket)
    if act in REASON_REQUIRED and not note.strip() and not (act is A.REOPEN and evidence):
        raise InvalidInput(f"{act} of ticket {ticket.number} needs a reason")
    changes: dict[str, Any] = {"status": target, "version": ticket.version + 1}
    data: dict[str, Any] = {}
    if act is A.DISPATCH and ticket.dispatched_at is None:
        changes["dispatched_at"] = at
    elif act is A.RESOLVE:
        changes["resolved_at"] = at
    elif act in (A.CLOSE, A.REJECT):
        changes["closed_at"] = at
    elif act is A.REOPEN:
        sla_h = ticket.routing.sla_hours if ticket.routing else None
        changes.update(reopen_count=ticket.reopen_count + 1, resolved_at=None, closed_at=None,
                       reminded_at=None, escalated_at=None,
                       due_at=at + timedelta(hours=sla_h) if sla_h is not None else ticket.due_at)
    elif act is A.TRANSFER:
        if reroute is None:
            raise InvalidInput(f"transfer of ticket {ticket.number} needs the department to transfer to")
        if reroute.department == ticket.department and reroute.team == ticket.team:
            raise InvalidInput(f"ticket {ticket.number} is already with {ticket.department}")
        changes.update(department=reroute.department, team=reroute.team, routing=reroute,
                       priority=reroute.priority, due_at=at + timedelta(hours=reroute.sla_hours),
                       reminded_at=None, escalated_at=None)
        if target is S.DISPATCHED:
            changes["dispatched_at"] = at
        data = {"from_department": ticket.department, "to_department": reroute.department,
                "to_team": reroute.team, "sla_hours": reroute.sla_hours, "rule_id": reroute.rule_id}
    new = replace(ticket, **changes)
    entry = HistoryEntry(ticket_id=ticket.id, at=at, actor=actor.id, action=str(act), from_status=ticket.status,
                         to_status=target, note=note.strip(), evidence=tuple(evidence), data=data)
    return new, entry


def annotate(ticket: Ticket, action: str, *, actor: Actor, at: datetime, note: str = "",
             evidence: tuple[str, ...] = (), data: dict[str, Any] | None = None,
             **changes: Any) -> tuple[Ticket, HistoryEntry]:
    """A history step that keeps the status (sighting, reminder, escalation), with field changes."""
    new = replace(ticket, version=ticket.version + 1, **changes)
    entry = HistoryEntry(ticket_id=ticket.id, at=at, actor=actor.id, action=action, from_status=ticket.status,
                         to_status=ticket.status, note=note, evidence=tuple(evidence), data=dict(data or {}))
    return new, entry
