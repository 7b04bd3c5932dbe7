"""Recurring patrol schedules and the routing rules operators maintain as data.

Schedules go in and come out as :class:`missions.scheduler.PatrolSchedule`, priority included, so
what an operator stored is what the scheduler sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from dockpatrol.errors import InvalidInput
from missions.scheduler import PatrolSchedule
from missions.types import Priority
from storage.repositories._base import list_rows, upsert_row
from storage.tables import RoutingRuleRow, ScheduleRow


def schedule_to_domain(row: ScheduleRow) -> PatrolSchedule:
    return PatrolSchedule(id=row.id, area_id=row.area_id, rule=row.rule, starts_at=row.starts_at,
                          priority=Priority(row.priority), enabled=row.enabled)


def upsert(*, session: Session, schedule: PatrolSchedule) -> PatrolSchedule:
    """Insert or replace a schedule; it needs an id (the row's key) and a start (the rule's DTSTART)."""
    if schedule.id is None:
        raise InvalidInput(f"schedule for area {schedule.area_id!r} has no id; stored schedules need one")
    if schedule.starts_at is None:
        raise InvalidInput(f"schedule {schedule.id!r} has no starts_at; stored schedules need one")
    upsert_row(session, ScheduleRow, schedule.id, area_id=schedule.area_id, rule=schedule.rule,
               starts_at=schedule.starts_at, priority=int(schedule.priority), enabled=schedule.enabled)
    return schedule


def list_all(*, session: Session) -> list[PatrolSchedule]:
    """Every stored schedule (disabled ones too: the scheduler skips those itself)."""
    return [schedule_to_domain(r) for r in list_rows(session, ScheduleRow, ScheduleRow.id)]


@dataclass(frozen=True)
class StoredRoutingRule:
    """A routing rule as stored: the first enabled rule (lowest ``order``) whose ``match`` fits decides."""

    id: str
    name: str
    match: dict[str, Any]
    department: str
    sla_hours: float
    order: int
    enabled: bool


def rule_to_domain(row: RoutingRuleRow) -> StoredRoutingRule:
    return StoredRoutingRule(id=row.id, name=row.name, match=dict(row.match or {}), department=row.department,
                             sla_hours=row.sla_hours, order=row.priority, enabled=row.enabled)


def upsert_rule(
    *, session: Session, rule_id: str, name: str, match: dict[str, Any], department: str, sla_hours: float,
    order: int = 100, enabled: bool = True,
) -> StoredRoutingRule:
    """Insert or replace a routing rule; ``order`` ranks rules for evaluation (it is not a Priority)."""
    row = upsert_row(session, RoutingRuleRow, rule_id, name=name, match=match, department=department,
                     sla_hours=sla_hours, priority=order, enabled=enabled)
    return rule_to_domain(row)


def list_rules(*, session: Session) -> list[StoredRoutingRule]:
    """Rules in evaluation order."""
    return [rule_to_domain(r) for r in list_rows(session, RoutingRuleRow, RoutingRuleRow.priority, RoutingRuleRow.id)]
