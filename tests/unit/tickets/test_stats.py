"""Ticket-centre numbers per department and grid."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.tickets.conftest import T0, ticket
from tickets.stats import by_department, by_grid
from tickets.types import TicketStatus

H = timedelta(hours=1)


def test_stats_per_department_and_grid() -> None:
    tickets = [
        ticket(TicketStatus.CLOSED, id="a", dispatched_at=T0 + H, resolved_at=T0 + 10 * H, closed_at=T0 + 20 * H,
               due_at=T0 + 72 * H, jurisdiction_id="G-A1"),
        ticket(TicketStatus.REOPENED, id="b", dispatched_at=T0 + 3 * H, due_at=T0 + 72 * H, reopen_count=1,
               jurisdiction_id="G-A1"),
        ticket(TicketStatus.DISPATCHED, id="c", dispatched_at=T0 + 2 * H, due_at=T0 + 5 * H, jurisdiction_id="G-B1"),
        ticket(TicketStatus.RESOLVED, id="d", department="fire_emergency", resolved_at=T0 + 3 * H, due_at=T0 + 2 * H),
    ]
    enf, fire = by_department(tickets, now=T0 + 6 * H)
    assert (enf.key, enf.total, enf.open, enf.overdue) == ("enforcement", 3, 2, 1)
    assert (enf.median_dispatch_h, enf.median_close_h, enf.sla_compliance, enf.reopen_rate) == (2.0, 20.0, 1.0, 0.5)
    assert (fire.sla_compliance, fire.reopen_rate, fire.median_close_h) == (0.0, 0.0, None)
    assert [s.key for s in by_grid(tickets, now=T0)] == ["(none)", "G-A1", "G-B1"]
