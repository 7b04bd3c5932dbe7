"""Deadlines with an injected clock: reminder once, escalation once to the supervisor role, resolution stops it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.tickets.conftest import T0, ticket
from tickets.lifecycle import apply
from tickets.sla import DeadlineKind, ManualClock, apply_deadline, check, due_at, is_overdue
from tickets.types import Action, Actor, Role, Ticket, TicketStatus


def run_checks(t: Ticket, clock: ManualClock, steps: int, every: timedelta) -> tuple[Ticket, list[str]]:
    seen = []
    for _ in range(steps):
        clock.advance(every)
        event = check(t, now=clock.now())
        if event is not None:
            t, entry = apply_deadline(t, event, supervisor_role="enforcement.supervisor")
            seen.append(f"{entry.action}@{(entry.at - T0).total_seconds() / 3600:g}h {entry.note}")
    return t, seen


def test_reminder_then_escalation_each_once() -> None:
    clock = ManualClock(T0)
    t = ticket(TicketStatus.DISPATCHED, due_at=due_at(T0, 4.0), dispatched_at=T0)
    t, seen = run_checks(t, clock, steps=12, every=timedelta(minutes=30))
    assert seen == ["reminded@3h due in 1.0 h (2026-03-02 06:00 UTC)",
                    "escalated@4h overdue by 0.0 h; escalated to enforcement.supervisor"]
    assert t.escalated_at == T0 + timedelta(hours=4) and t.reminded_at == T0 + timedelta(hours=3)
    assert is_overdue(t, now=clock.now())


def test_resolved_ticket_does_not_escalate() -> None:
    clock = ManualClock(T0)
    t = ticket(TicketStatus.IN_PROGRESS, due_at=due_at(T0, 2.0))
    t, _ = apply(t, Action.RESOLVE, actor=Actor("li", frozenset({Role.FIELD}), "enforcement"),
                 at=T0 + timedelta(hours=1))
    _, seen = run_checks(t, clock, steps=10, every=timedelta(hours=1))
    assert seen == []
    assert not is_overdue(t, now=clock.now())


def test_escalation_records_the_supervisor_role_in_history() -> None:
    t = ticket(TicketStatus.ACCEPTED, due_at=T0)
    event = check(t, now=T0 + timedelta(hours=5))
    assert event is not None and event.kind is DeadlineKind.ESCALATION
    new, entry = apply_deadline(t, event, supervisor_role="fire_emergency.supervisor")
    assert entry.data["to_role"] == "fire_emergency.supervisor" and entry.note.startswith("overdue by 5.0 h")
    assert (entry.from_status, entry.to_status, new.version) == (t.status, t.status, t.version + 1)


def test_clock_refuses_naive_times_and_sla_must_be_positive() -> None:
    from datetime import datetime

    from dockpatrol.errors import InvalidInput

    with pytest.raises(InvalidInput):
        ManualClock(datetime(2026, 1, 1))
    with pytest.raises(InvalidInput):
        due_at(T0, 0)
