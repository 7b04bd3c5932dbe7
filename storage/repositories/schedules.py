"""Recurring patrol schedules and the routing rules operators maintain as data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from storage.repositories._base import list_rows, upsert_row
from storage.tables import RoutingRuleRow, ScheduleRow


def upsert(
    *, session: Session, schedule_id: str, area_id: str, rule: str, starts_at: datetime, priority: int = 50,
    enabled: bool = True,
) -> ScheduleRow:
    return upsert_row(session, ScheduleRow, schedule_id, area_id=area_id, rule=rule, starts_at=starts_at,
                      priority=priority, enabled=enabled)


def list_all(*, session: Session) -> list[ScheduleRow]:
    return list(list_rows(session, ScheduleRow, ScheduleRow.id))


def upsert_rule(
    *, session: Session, rule_id: str, name: str, match: dict[str, Any], department: str, sla_hours: float,
    priority: int = 100, enabled: bool = True,
) -> RoutingRuleRow:
    return upsert_row(session, RoutingRuleRow, rule_id, name=name, match=match, department=department,
                      sla_hours=sla_hours, priority=priority, enabled=enabled)


def list_rules(*, session: Session) -> list[RoutingRuleRow]:
    return list(list_rows(session, RoutingRuleRow, RoutingRuleRow.priority, RoutingRuleRow.id))
