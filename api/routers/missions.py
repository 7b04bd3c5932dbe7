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
    requested_by: str
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
    summary: dict[str, Any] = Field(description="altitude, GSD, length, duration and photo count of the plan")
    route: dict[str, Any] | None = Field(None, description="GeoJSON LineString of the planned waypoints")


def mission_out(mission: Mission, pending: Any = None) -> MissionOut:
    plan = mission.plan or {}
    items = plan.get("items") or []
    coords = [[i["lon"], i["lat"]] for i in items if isinstance(i, dict) and i.get("lat") and i.get("lon")]
    summary = {k: plan[k] for k in ("altitude_m", "gsd_cm", "length_m", "duration_s", "frame_count",
                                    "trigger_distance_m") if k in plan}
    return MissionOut(
        id=mission.id, kind=mission.kind, status=mission.status, area_id=mission.area_id, dock_id=mission.dock_id,
        priority=mission.priority.name.lower(), scheduled_for=mission.scheduled_for, summary=summary,
        pending=None if pending is None else PendingCommand(command=str(pending.command),  # type: ignore[arg-type]
                                                            requested_by=pending.requested_by,
                                                            requested_at=pending.requested_at),
        route={"type": "LineString", "coordinates": coords} if len(coords) >= 2 else None)


@router.get("", response_model=Page[MissionOut], summary="List missions, newest first")
def list_missions(_: CurrentPrincipal, paging: Paging,
                  status: Annotated[MissionStatus | None, Query()] = None,
                  dock_id: Annotated[str | None, Query(max_length=64)] = None) -> Page[MissionOut]:
    from storage.repositories import commands, queries

    with uow() as session:
        found, total = queries.missions(session=session, status=status, dock_id=dock_id, offset=paging.offset,
                                        limit=paging.limit)
        waiting = commands.pending(session=session, mission_ids=[m.id for m in found])
    return Page(items=[mission_out(m, waiting.get(m.id)) for m in found], total=total, offset=paging.offset,
                limit=paging.limit)


def _load(mission_id: str) -> MissionOut:
    from storage.repositories import commands, flights

    with uow() as session:
        mission = flights.require_mission(session=session, mission_id=mission_id)
        return mission_out(mission, commands.pending(session=session, mission_ids=[mission_id]).get(mission_id))


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
    from storage.repositories import commands, flights
    from storage.repositories.commands import CommandKind, CommandStatus

    with uow() as session:
        mission = flights.require_mission(session=session, mission_id=mission_id)
        waiting = commands.pending(session=session, mission_ids=[mission_id]).get(mission_id)
        before = mission_out(mission, waiting).model_dump(include={"status", "pending"})
        if kind == "launch":
            if mission.status is not MissionStatus.PLANNED or waiting is not None:
                state = f"{mission.status}" + (f" with a pending {waiting.command}" if waiting else "")
                raise Conflict(f"mission {mission_id!r} is {state}; only a planned mission with nothing pending "
                               "can be launched")
            commands.request(session=session, mission_id=mission_id, command=CommandKind.LAUNCH,
                             requested_by=principal.actor)
        elif waiting is not None and waiting.command is CommandKind.LAUNCH:
            commands.settle(session=session, command_id=waiting.id, status=CommandStatus.CANCELLED,
                            note=f"aborted by {principal.actor} before the patrol service took it")
        elif mission.status is MissionStatus.FLYING and waiting is None:
            commands.request(session=session, mission_id=mission_id, command=CommandKind.ABORT,
                             requested_by=principal.actor)
        else:
            raise Conflict(f"mission {mission_id!r} is {mission.status} with nothing to abort")
        now = commands.pending(session=session, mission_ids=[mission_id]).get(mission_id)
        out = mission_out(mission, now)
        audit(session, principal, f"mission.{kind}", "mission", mission_id, before=before,
              after=out.model_dump(include={"status", "pending"}))
    return out


@router.post("/{mission_id}/launch", status_code=202, response_model=MissionOut,
             responses={**NOT_FOUND, **CONFLICT}, summary="Launch now (a request for the patrol service)")
def launch_mission(mission_id: MissionId, principal: Operator) -> MissionOut:
    """Records a pending `launch` command for a planned mission (202 Accepted).

    Honest scope: the API records and audits the request; the long-running patrol service that
    takes pending commands and flies them is a separate component (today `dockpatrol demo` and the
    pipeline fly patrols directly), so a launch stays pending until such a service runs.
    """
    return _request(mission_id, principal, "launch")


@router.post("/{mission_id}/abort", response_model=MissionOut, responses={**NOT_FOUND, **CONFLICT},
             summary="Abort a mission")
def abort_mission(mission_id: MissionId, principal: Operator) -> MissionOut:
    """A launch still pending is cancelled at once; for a flying mission an `abort` command is
    recorded for the patrol service, which commands return-to-launch."""
    return _request(mission_id, principal, "abort")
