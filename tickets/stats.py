"""The numbers the ticket centre is assessed on, per department and per grid: open, overdue, median
time to dispatch and to close, SLA compliance, reopen rate.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from tickets.sla import is_overdue
from tickets.types import OPEN_STATUSES, Ticket, TicketStatus


@dataclass(frozen=True)
class TicketStats:
    key: str
    total: int
    open: int
    overdue: int
    median_dispatch_h: float | None
    median_close_h: float | None
    sla_compliance: float | None  # share of resolved tickets resolved by their due time
    reopen_rate: float | None  # share of tickets ever resolved that were reopened

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _median_h(values: list[float]) -> float | None:
    return round(statistics.median(values) / 3600, 2) if values else None


def summarize(key: str, tickets: list[Ticket], *, now: datetime) -> TicketStats:
    dispatch = [(t.dispatched_at - t.created_at).total_seconds() for t in tickets if t.dispatched_at]
    close = [(t.closed_at - t.created_at).total_seconds() for t in tickets
             if t.status is TicketStatus.CLOSED and t.closed_at]
    resolved = [t for t in tickets if t.resolved_at and t.due_at]
    ever_resolved = [t for t in tickets if t.resolved_at or t.reopen_count or t.status is TicketStatus.CLOSED]
    return TicketStats(
        key=key, total=len(tickets), open=sum(t.status in OPEN_STATUSES for t in tickets),
        overdue=sum(is_overdue(t, now=now) for t in tickets),
        median_dispatch_h=_median_h(dispatch), median_close_h=_median_h(close),
        sla_compliance=round(sum(t.resolved_at <= t.due_at for t in resolved) / len(resolved), 3)  # type: ignore[operator]
        if resolved else None,
        reopen_rate=round(sum(t.reopen_count > 0 for t in ever_resolved) / len(ever_resolved), 3)
        if ever_resolved else None)


def by(tickets: Iterable[Ticket], key: Callable[[Ticket], str | None], *, now: datetime) -> list[TicketStats]:
    """One TicketStats per key value (``(none)`` for tickets without one), sorted by key."""
    groups: dict[str, list[Ticket]] = {}
    for t in tickets:
        groups.setdefault(key(t) or "(none)", []).append(t)
    return [summarize(k, v, now=now) for k, v in sorted(groups.items())]


def by_department(tickets: Iterable[Ticket], *, now: datetime) -> list[TicketStats]:
    return by(tickets, lambda t: t.department, now=now)


def by_grid(tickets: Iterable[Ticket], *, now: datetime) -> list[TicketStats]:
    return by(tickets, lambda t: t.jurisdiction_id, now=now)
