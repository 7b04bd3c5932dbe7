"""Recurring patrol schedules: an RFC 5545 RRULE or a 5-field cron rule per area."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import CurrentPrincipal, audit
from api.routers._common import Operator, Paging, uow
from api.schemas import CONFLICT, ID_PATTERN, NOT_FOUND, PROBLEMS, Page, StrictIn
from dockpatrol.errors import InvalidInput, NotFound
from missions.scheduler import PatrolSchedule
from missions.types import Priority

PriorityName = Literal["emergency", "reinspection", "routine"]
router = APIRouter(prefix="/api/schedules", tags=["schedules"], responses=PROBLEMS)
ScheduleId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]


class ScheduleCreate(StrictIn):
    id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN, examples=["S-A42-weekly"])
    area_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN, examples=["A01"])
    rule: str = Field(min_length=1, max_length=300, examples=["FREQ=WEEKLY;BYDAY=MO;BYHOUR=9", "0 9 * * 1"])
    starts_at: AwareDatetime = Field(examples=["2026-12-07T01:00:00Z"])
    priority: PriorityName = "routine"
    enabled: bool = True


class SchedulePatch(StrictIn):
    rule: str | None = Field(None, min_length=1, max_length=300)
    starts_at: AwareDatetime | None = None
    priority: PriorityName | None = None
    enabled: bool | None = None


class ScheduleOut(BaseModel):
    id: str
    area_id: str
    rule: str
    starts_at: datetime | None
    priority: PriorityName
    enabled: bool
    next_at: datetime | None = Field(None, description="next occurrence from now (UTC)")


def _check_rule(rule: str, starts_at: datetime) -> datetime | None:
    """Validate with the scheduler's own parser; returns the next occurrence within a year."""
    from missions.scheduler import occurrences

    if starts_at.year > 9000:
        raise InvalidInput("starts_at is too far in the future")
    now = datetime.now(UTC)
    try:
        found = occurrences(rule, start=now, end=now + timedelta(days=366), dtstart=starts_at, where="rule")
    except (OverflowError, ValueError) as exc:
        raise InvalidInput(f"rule {rule!r} cannot be evaluated: {exc}") from None
    return found[0] if found else None


def _out(schedule: PatrolSchedule, next_at: datetime | None = None) -> ScheduleOut:
    return ScheduleOut(id=schedule.id or "", area_id=schedule.area_id, rule=schedule.rule,
                       starts_at=schedule.starts_at, priority=schedule.priority.name.lower(),  # type: ignore[arg-type]
                       enabled=schedule.enabled, next_at=next_at)


@router.get("", response_model=Page[ScheduleOut], summary="List schedules")
def list_schedules(_: CurrentPrincipal, paging: Paging) -> Page[ScheduleOut]:
    from storage.repositories import schedules

    with uow() as session:
        rows = schedules.list_all(session=session)
        items = [_out(r) for r in rows[paging.offset:paging.offset + paging.limit]]
    return Page(items=items, total=len(rows), offset=paging.offset, limit=paging.limit)


@router.post("", status_code=201, response_model=ScheduleOut, responses={**CONFLICT, **NOT_FOUND},
             summary="Add a schedule")
def create_schedule(body: ScheduleCreate, principal: Operator) -> ScheduleOut:
    from storage.repositories import areas, atomic

    next_at = _check_rule(body.rule, body.starts_at)
    with uow() as session:
        if areas.get(session=session, area_id=body.area_id) is None:
            raise NotFound(f"patrol area {body.area_id!r} does not exist")
    schedule = PatrolSchedule(id=body.id, area_id=body.area_id, rule=body.rule, starts_at=body.starts_at,
                              priority=Priority[body.priority.upper()], enabled=body.enabled)
    with uow() as session:
        atomic.create_schedule(session=session, schedule=schedule)
        out = _out(schedule, next_at)
        audit(session, principal, "schedule.create", "schedule", body.id, after=out)
    return out


@router.patch("/{schedule_id}", response_model=ScheduleOut, responses=NOT_FOUND, summary="Change a schedule")
def patch_schedule(schedule_id: ScheduleId, body: SchedulePatch, principal: Operator) -> ScheduleOut:
    from storage.repositories import schedules

    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if "priority" in changes:
        changes["priority"] = Priority[changes["priority"].upper()]
    with uow() as session:
        found = [s for s in schedules.list_all(session=session) if s.id == schedule_id]
        if not found:
            raise NotFound(f"schedule {schedule_id!r} does not exist")
        before = found[0]
        after = replace(before, **changes)
        next_at = _check_rule(after.rule, after.starts_at or datetime.now(UTC))
        schedules.upsert(session=session, schedule=after)
        out = _out(after, next_at)
        audit(session, principal, "schedule.update", "schedule", schedule_id, before=_out(before), after=out)
    return out
