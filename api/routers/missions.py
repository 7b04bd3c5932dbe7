"""Missions: plan a patrol of an area from a dock, ask for it to launch now, or abort it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.auth import CurrentPrincipal, audit
from api.routers._common import Operator, Paging, uow
from api.schemas import CONFLICT, ID_PATTERN, NOT_FOUND, PROBLEMS, Page, StrictIn
from dockpatrol.errors import Conflict

router = APIRouter(prefix="/api/missions", tags=["missions"], responses=PROBLEMS)
MissionId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]

#: Where launch and abort may come from; anything else is a 409 naming the current status.
LAUNCHABLE = ("planned",)
ABORTABLE = ("planned", "queued", "flying")


class MissionPlanIn(StrictIn):
    area_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN, examples=["A01"])
    dock_id: str | None = Field(None, min_length=1, max_length=64, pattern=ID_PATTERN,
                                description="default: the nearest dock that can reach the area")
    priority: int = Field(50, ge=0, le=100)


class MissionOut(BaseModel):
    id: str
    kind: str
    status: str = Field(examples=["planned", "queued", "flying", "completed", "aborted"])
    area_id: str | None
    dock_id: str | None
    priority: int
    scheduled_for: datetime | None
    created_at: datetime
    updated_at: datetime
    summary: dict[str, Any] = Field(description="altitude, GSD, length, duration and photo count of the plan")
    route: dict[str, Any] | None = Field(None, description="GeoJSON LineString of the planned waypoints")


def mission_out(row: Any) -> MissionOut:
    plan = row.plan or {}
    items = plan.get("items") or []
    coords = [[i["lon"], i["lat"]] for i in items if isinstance(i, dict) and i.get("lat") and i.get("lon")]
    summary = {k: plan[k] for k in ("altitude_m", "gsd_cm", "length_m", "duration_s", "frame_count",
                                    "trigger_distance_m") if k in plan}
    return MissionOut(id=row.id, kind=row.kind, status=row.status, area_id=row.area_id, dock_id=row.dock_id,
                      priority=row.priority, scheduled_for=row.scheduled_for, created_at=row.created_at,
                      updated_at=row.updated_at, summary=summary,
                      route={"type": "LineString", "coordinates": coords} if len(coords) >= 2 else None)


@router.get("", response_model=Page[MissionOut], summary="List missions, newest first")
def list_missions(_: CurrentPrincipal, paging: Paging,
                  status: Annotated[str | None, Query(max_length=32)] = None,
                  dock_id: Annotated[str | None, Query(max_length=64)] = None) -> Page[MissionOut]:
    from storage.repositories import queries

    with uow() as session:
        rows, total = queries.missions(session=session, status=status, dock_id=dock_id, offset=paging.offset,
                                       limit=paging.limit)
        return Page(items=[mission_out(r) for r in rows], total=total, offset=paging.offset, limit=paging.limit)


@router.get("/{mission_id}", response_model=MissionOut, responses=NOT_FOUND, summary="One mission")
def get_mission(mission_id: MissionId, _: CurrentPrincipal) -> MissionOut:
    from storage.repositories import flights

    with uow() as session:
        return mission_out(flights.require_mission(session=session, mission_id=mission_id))


@router.post("", status_code=201, response_model=MissionOut, responses=NOT_FOUND,
             summary="Plan a patrol of an area")
def plan_mission(body: MissionPlanIn, principal: Operator) -> MissionOut:
    """Plans the survey with the same planner as `dockpatrol plan` (GSD → altitude, overlap, no-fly
    zones, range) and stores it as a `planned` mission; the first sortie is kept when the area needs
    several."""
    from dockpatrol.geo import haversine_m
    from missions.planfile import plan_to_dict
    from missions.planner import plan_survey
    from missions.types import NoFlyZone
    from storage.repositories import areas, docks, flights

    with uow() as session:
        area = areas.require(session=session, area_id=body.area_id)
        zones = [NoFlyZone(id=z["id"], name=z["properties"]["name"], polygon=z["geometry"])
                 for z in areas.list_no_fly(session=session)]
        if body.dock_id:
            dock = docks.require(session=session, dock_id=body.dock_id)
        else:
            from shapely.geometry import shape

            centre = shape(area.polygon).centroid
            fleet = docks.list_all(session=session)
            if not fleet:
                from dockpatrol.errors import NotFound

                raise NotFound("no dock is registered; add one first")
            dock = min(fleet, key=lambda d: haversine_m(d.lon, d.lat, centre.x, centre.y))
    plan = plan_survey(area, dock=dock, no_fly=zones)
    sortie = plan.sorties[0]
    mission_id = f"M-{uuid.uuid4().hex[:12]}"
    with uow() as session:
        row = flights.save_mission(session=session, mission_id=mission_id, kind="patrol", status="planned",
                                   area_id=area.id, dock_id=dock.id, priority=body.priority,
                                   plan=plan_to_dict(sortie))
        out = mission_out(row)
        audit(session, principal, "mission.plan", "mission", mission_id, after=out.model_dump(exclude={"route"}))
    return out


def _move(mission_id: str, principal: Any, *, allowed: tuple[str, ...], to: str, action: str) -> MissionOut:
    from storage.repositories import flights

    with uow() as session:
        row = flights.require_mission(session=session, mission_id=mission_id)
        if row.status not in allowed:
            raise Conflict(f"mission {mission_id!r} is {row.status}; {action} needs one of {', '.join(allowed)}")
        before = row.status
        row = flights.save_mission(session=session, mission_id=mission_id, status=to)
        out = mission_out(row)
        audit(session, principal, f"mission.{action}", "mission", mission_id, before={"status": before},
              after={"status": to})
    return out


@router.post("/{mission_id}/launch", response_model=MissionOut, responses={**NOT_FOUND, **CONFLICT},
             summary="Launch now (queues the mission for the patrol service)")
def launch_mission(mission_id: MissionId, principal: Operator) -> MissionOut:
    """Marks a planned mission `queued`: a request for the dock's patrol service to fly it now.

    Honest scope: this API records and audits the request; the long-running patrol service that
    picks queued missions up and flies them is separate (today `dockpatrol demo` and the pipeline
    fly patrols), so a queued mission stays queued until such a service runs.
    """
    return _move(mission_id, principal, allowed=LAUNCHABLE, to="queued", action="launch")


@router.post("/{mission_id}/abort", response_model=MissionOut, responses={**NOT_FOUND, **CONFLICT},
             summary="Abort a mission")
def abort_mission(mission_id: MissionId, principal: Operator) -> MissionOut:
    """A planned or queued mission is cancelled at once (`aborted`); a flying one is marked
    `abort_requested` for the patrol service, which commands return-to-launch."""
    from storage.repositories import flights

    with uow() as session:
        status = flights.require_mission(session=session, mission_id=mission_id).status
    target = "abort_requested" if status == "flying" else "aborted"
    return _move(mission_id, principal, allowed=ABORTABLE, to=target, action="abort")
