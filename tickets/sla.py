"""Deadlines (time-limited handling): due dates from the SLA, reminders before due, escalation when overdue.

Time comes from an injectable ``Clock`` so tests move time instead of waiting. The SLA clock runs
while a department owes work (``OPEN_STATUSES``); resolving stops it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from dockpatrol.errors import InvalidInput
from tickets.lifecycle import annotate
from tickets.types import OPEN_STATUSES, Actor, HistoryEntry, Ticket


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock tests set and advance."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise InvalidInput(f"clock start {start.isoformat()} has no time zone")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now


def due_at(created_at: datetime, sla_hours: float) -> datetime:
    if sla_hours <= 0:
        raise InvalidInput(f"SLA of {sla_hours} h is not positive")
    return created_at + timedelta(hours=sla_hours)


class DeadlineKind(StrEnum):
    REMINDER = "reminded"
    ESCALATION = "escalated"


@dataclass(frozen=True)
class DeadlinePolicy:
    """A reminder once ``remind_at_fraction`` of the SLA has passed; escalation once due."""

    remind_at_fraction: float = 0.75


@dataclass(frozen=True)
class DeadlineEvent:
    kind: DeadlineKind
    ticket_id: str
    due_at: datetime
    at: datetime


def check(ticket: Ticket, *, now: datetime, policy: DeadlinePolicy | None = None) -> DeadlineEvent | None:
    """The deadline step a ticket owes at ``now`` (each fires once), or None."""
    p = policy or DeadlinePolicy()
    if ticket.status not in OPEN_STATUSES or ticket.due_at is None:
        return None
    if now >= ticket.due_at:
        if ticket.escalated_at is None:
            return DeadlineEvent(DeadlineKind.ESCALATION, ticket.id, ticket.due_at, now)
        return None
    start = ticket.dispatched_at or ticket.created_at
    remind_from = start + (ticket.due_at - start) * p.remind_at_fraction
    if now >= remind_from and ticket.reminded_at is None:
        return DeadlineEvent(DeadlineKind.REMINDER, ticket.id, ticket.due_at, now)
    return None


def is_overdue(ticket: Ticket, *, now: datetime) -> bool:
    return ticket.status in OPEN_STATUSES and ticket.due_at is not None and now >= ticket.due_at


def apply_deadline(ticket: Ticket, event: DeadlineEvent, *, supervisor_role: str,
                   actor: Actor | None = None) -> tuple[Ticket, HistoryEntry]:
    """Record a reminder (to the ticket's team) or an escalation (to the department's supervisor role)."""
    who = actor or Actor.system("sla")
    if event.kind is DeadlineKind.REMINDER:
        left_h = (event.due_at - event.at).total_seconds() / 3600
        return annotate(ticket, str(event.kind), actor=who, at=event.at, reminded_at=event.at,
                        note=f"due in {left_h:.1f} h ({event.due_at:%Y-%m-%d %H:%M} UTC)",
                        data={"due_at": event.due_at.isoformat(), "to": ticket.team or ticket.department})
    late_h = (event.at - event.due_at).total_seconds() / 3600
    return annotate(ticket, str(event.kind), actor=who, at=event.at, escalated_at=event.at,
                    note=f"overdue by {late_h:.1f} h; escalated to {supervisor_role}",
                    data={"due_at": event.due_at.isoformat(), "to_role": supervisor_role})
