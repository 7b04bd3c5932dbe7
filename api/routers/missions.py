"""Missions: plan a patrol of an area from a dock, ask for it to launch now, or abort it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.auth import CurrentPrincipal, Principal, audit
from api.routers._common import Operator, Paging, uow
from api.schemas import CONFLICT, ID_PATTERN, NOT_FOUND, PROBLEMS, Page, StrictIn
from dockpatrol.errors import Conflict, NotFound
from missions.types import Mission, MissionStatus, Priority

router = APIRouter(prefix="/api/missions", tags=["missions"], responses=PROBLEMS)
MissionId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]


class MissionPlanIn(StrictIn):
    area_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN, examples=["A01"])
    dock_id: str | None = Field(None, min_length=1, max_length=64, pattern=ID_PATTERN,
                                description="default: the dock nearest the area")
    priority: Literal["emergency", "reinspection", "routine"] = "routine"


class PendingCommand(BaseModel):
    command: Literal["launch", "abort"]
    requested_at: datetime


class MissionOut(BaseModel):
    id: str
    kind: str
    status: MissionStatus
    area_id: str | None
    dock_id: str | None
    priority: str
    scheduled_for: datetime | None
    pending: PendingCommand | None = Field(None, description="a launch or abort waiting for the patrol service")
    watch: str = Field(description="where to follow it: the mission, then its flight's `/api/flights/{id}/live`")
    summary: dict[str, Any] = Field(description="altitude, GSD, length, duration and photo count of the plan")
    route: dict[str, Any] | None = Field(None, description="GeoJSON LineString of the planned waypoints")


def _pending(mission: Mission) -> PendingCommand | None:
    if mission.status not in (MissionStatus.PLANNED, MissionStatus.FLYING):
        return None
    if mission.abort_requested_at is not None:
        return PendingCommand(command="abort", requested_at=mission.abort_requested_at)
    if mission.status is MissionStatus.PLANNED and mission.scheduled_for is not None:
        return PendingCommand(command="launch", requested_at=mission.scheduled_for)
    return None


def mission_out(mission: Mission) -> MissionOut:
    plan = mission.plan or {}
    items = plan.get("items") or []
    coords = [[i["lon"], i["lat"]] for i in items if isinstance(i, dict) and i.get("lat") and i.get("lon")]
    summary = {k: plan[k] for k in ("altitude_m", "gsd_cm", "length_m", "duration_s", "frame_count",
                                    "trigger_distance_m") if k in plan}
    return MissionOut(
        id=mission.id, kind=mission.kind, status=mission.status, area_id=mission.area_id, dock_id=mission.dock_id,
        priority=mission.priority.name.lower(), scheduled_for=mission.scheduled_for, summary=summary,
        pending=_pending(mission),
        watch=f"/api/missions/{mission.id}",
        route={"type": "LineString", "coordinates": coords} if len(coords) >= 2 else None)


@router.get("", response_model=Page[MissionOut], summary="List missions, newest first")
def list_missions(_: CurrentPrincipal, paging: Paging,
                  status: Annotated[MissionStatus | None, Query()] = None,
                  dock_id: Annotated[str | None, Query(max_length=64)] = None) -> Page[MissionOut]:
    from storage.repositories import queries

    with uow() as session:
        found, total = queries.missions(session=session, status=status, dock_id=dock_id, offset=paging.offset,
                                        limit=paging.limit)
    return Page(items=[mission_out(m) for m in found], total=total, offset=paging.offset,
                limit=paging.limit)


def _load(mission_id: str) -> MissionOut:
    from storage.repositories import flights

    with uow() as session:
        return mission_out(flights.require_mission(session=session, mission_id=mission_id))


@router.get("/{mission_id}", response_model=MissionOut, responses=NOT_FOUND, summary="One mission")
def get_mission(mission_id: MissionId, _: CurrentPrincipal) -> MissionOut:
    return _load(mission_id)


@router.post("", status_code=201, response_model=MissionOut, responses=NOT_FOUND,
             summary="Plan a patrol of an area")
def plan_mission(body: MissionPlanIn, principal: Operator) -> MissionOut:
    """Plans the survey with the same planner as `dockpatrol plan` (GSD → altitude, overlap, no-fly
    zones, range) and stores it as a `planned` mission; the first sortie is kept when the area needs
    several."""
    from shapely.geometry import shape

    from dockpatrol.geo import haversine_m
    from missions.planfile import plan_to_dict
    from missions.planner import plan_survey
    from storage.repositories import areas, docks, flights

    with uow() as session:
        area = areas.require(session=session, area_id=body.area_id)
        zones = areas.list_no_fly(session=session)
        if body.dock_id:
            dock = docks.require(session=session, dock_id=body.dock_id)
        else:
            centre = shape(area.polygon).centroid
            fleet = docks.list_all(session=session)
            if not fleet:
                raise NotFound("no dock is registered; add one first")
            dock = min(fleet, key=lambda d: haversine_m(d.lon, d.lat, centre.x, centre.y))
    plan = plan_survey(area, dock=dock, no_fly=zones)
    mission = Mission(id=f"M-{uuid.uuid4().hex[:12]}", kind="patrol", status=MissionStatus.PLANNED, area_id=area.id,
                      dock_id=dock.id, priority=Priority[body.priority.upper()], plan=plan_to_dict(plan.sorties[0]))
    with uow() as session:
        flights.save_mission(session=session, mission=mission)
        out = mission_out(mission)
        audit(session, principal, "mission.plan", "mission", mission.id, after=out.model_dump(exclude={"route"}))
    return out


def _request(mission_id: str, principal: Principal, kind: str) -> MissionOut:
    """Hand a launch or abort to the patrol service through the requests it already reads each tick."""
    from datetime import UTC

    from pipeline.service import request_abort, request_launch
    from storage.repositories import flights

    now = datetime.now(UTC)
    with uow() as session:
        mission = flights.require_mission(session=session, mission_id=mission_id)
        if kind == "abort" and (mission.status not in (MissionStatus.PLANNED, MissionStatus.FLYING)
                                or mission.abort_requested_at is not None):
            state = "already being aborted" if mission.abort_requested_at else str(mission.status)
            raise Conflict(f"mission {mission_id!r} is {state}; nothing to abort")
        before = mission_out(mission).model_dump(include={"status", "pending"})
    changed = request_launch(mission_id=mission_id, at=now) if kind == "launch" else \
        request_abort(mission_id=mission_id, at=now)
    out = mission_out(changed)
    with uow() as session:
        audit(session, principal, f"mission.{kind}", "mission", mission_id, before=before,
              after=out.model_dump(include={"status", "pending"}))
    return out


_NO_SERVICE = ("The patrol service (`dockpatrol run`, or `dockpatrol serve --patrol` in this process) takes the "
               "request on its next tick. When no patrol service is running, the request stays recorded and "
               "nothing flies until one starts (a launch is then flown if the scheduler still finds a dock).")


@router.post("/{mission_id}/launch", status_code=202, response_model=MissionOut,
             responses={**NOT_FOUND, **CONFLICT}, summary="Launch now (a request for the patrol service)",
             description="Requests a planned mission to fly now (202 Accepted): the response's `id` is the "
                         "request and `watch` where to follow it; its flight appears in `GET /api/flights` and "
                         "streams positions at `/api/flights/{id}/live`. The scheduler picks the free dock "
                         "nearest the area, emergencies first. " + _NO_SERVICE)
def launch_mission(mission_id: MissionId, principal: Operator) -> MissionOut:
    return _request(mission_id, principal, "launch")


@router.post("/{mission_id}/abort", status_code=202, response_model=MissionOut,
             responses={**NOT_FOUND, **CONFLICT}, summary="Abort a mission (a request for the patrol service)",
             description="A flying vehicle is commanded back to its dock; a planned mission is skipped. " + _NO_SERVICE)
def abort_mission(mission_id: MissionId, principal: Operator) -> MissionOut:
    return _request(mission_id, principal, "abort")
