"""Docks (机库): the fleet's stations, their status and the vehicle each one houses."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.auth import CurrentPrincipal, audit
from api.routers._common import Operator, Paging, uow
from api.schemas import CONFLICT, ID_PATTERN, NOT_FOUND, PROBLEMS, Page, StrictIn
from api.vehicles import allow_list, check_vehicle_url
from missions.types import Dock, DockStatus

router = APIRouter(prefix="/api/docks", tags=["docks"], responses=PROBLEMS)
DockId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]


class DockCreate(StrictIn):
    id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN, examples=["D9"])
    name: str = Field(min_length=1, max_length=200, examples=["桂城街道 9 号机库"])
    lon: float = Field(ge=-180, le=180, examples=[113.1523])
    lat: float = Field(ge=-90, le=90, examples=[23.0312])
    elevation_amsl_m: float | None = Field(None, ge=-500, le=9000,
                                           description="dock ground elevation above mean sea level; null: unknown")
    vehicle_url: str = Field("sim:", max_length=300, examples=["sim:", "tcp:10.20.0.9:5760"],
                             description="sim: (built-in simulator), udp/tcp host:port or /dev/… on the allow-list")
    max_range_m: float = Field(5000.0, gt=0, le=50_000)
    endurance_s: float = Field(2400.0, gt=0, le=36_000)
    charge_s: float = Field(1800.0, ge=0, le=86_400)
    cruise_speed_m_s: float = Field(10.0, gt=0, le=40)


class DockPatch(StrictIn):
    """Only the fields given change; status and camera stay unless named."""

    name: str | None = Field(None, min_length=1, max_length=200)
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    elevation_amsl_m: float | None = Field(None, ge=-500, le=9000)
    vehicle_url: str | None = Field(None, max_length=300)
    max_range_m: float | None = Field(None, gt=0, le=50_000)
    endurance_s: float | None = Field(None, gt=0, le=36_000)
    charge_s: float | None = Field(None, ge=0, le=86_400)
    cruise_speed_m_s: float | None = Field(None, gt=0, le=40)
    status: DockStatus | None = Field(None, examples=["maintenance"])


class DockOut(BaseModel):
    id: str
    name: str
    lon: float
    lat: float
    elevation_amsl_m: float | None
    vehicle_url: str
    max_range_m: float
    endurance_s: float
    charge_s: float
    cruise_speed_m_s: float
    status: DockStatus
    camera: dict[str, Any]


def dock_out(dock: Dock) -> DockOut:
    return DockOut(id=dock.id, name=dock.name, lon=dock.lon, lat=dock.lat, elevation_amsl_m=dock.elevation_amsl_m,
                   vehicle_url=dock.vehicle_url, max_range_m=dock.max_range_m, endurance_s=dock.endurance_s,
                   charge_s=dock.charge_s, cruise_speed_m_s=dock.cruise_speed_m_s, status=dock.status,
                   camera=dataclasses.asdict(dock.camera))


def _vehicle_allow_list() -> list[str]:
    with uow() as session:
        return allow_list(session)


@router.get("", response_model=Page[DockOut], summary="List docks")
def list_docks(_: CurrentPrincipal, paging: Paging) -> Page[DockOut]:
    from storage.repositories import docks

    with uow() as session:
        everything = docks.list_all(session=session)
    chosen = everything[paging.offset:paging.offset + paging.limit]
    return Page(items=[dock_out(d) for d in chosen], total=len(everything), offset=paging.offset,
                limit=paging.limit)


@router.get("/{dock_id}", response_model=DockOut, responses=NOT_FOUND, summary="One dock")
def get_dock(dock_id: DockId, _: CurrentPrincipal) -> DockOut:
    from storage.repositories import docks

    with uow() as session:
        return dock_out(docks.require(session=session, dock_id=dock_id))


@router.post("", status_code=201, response_model=DockOut, responses=CONFLICT, summary="Register a dock")
def create_dock(body: DockCreate, principal: Operator) -> DockOut:
    """Register a new dock. An id that exists is 409: use PATCH to change a dock."""
    from missions.areas import dock_from_mapping
    from storage.repositories import atomic

    check_vehicle_url(body.vehicle_url, _vehicle_allow_list())
    dock = dock_from_mapping(body.model_dump(exclude_none=True), where="dock")  # the one dock check, as for files
    dock = dataclasses.replace(dock, cruise_speed_m_s=body.cruise_speed_m_s)
    with uow() as session:
        atomic.create_dock(session=session, dock=dock)
        out = dock_out(dock)
        audit(session, principal, "dock.create", "dock", dock.id, after=out)
    return out


@router.patch("/{dock_id}", response_model=DockOut, responses={**NOT_FOUND, **CONFLICT},
              summary="Change some fields of a dock")
def patch_dock(dock_id: DockId, body: DockPatch, principal: Operator) -> DockOut:
    from storage.repositories import docks

    changes = body.model_dump(exclude_unset=True)
    if any(v is None for k, v in changes.items() if k != "elevation_amsl_m"):
        from dockpatrol.errors import InvalidInput

        raise InvalidInput(f"null is not a value for {', '.join(k for k, v in changes.items() if v is None)}"
                           " (leave a field out to keep it)")
    if "vehicle_url" in changes:
        check_vehicle_url(changes["vehicle_url"], _vehicle_allow_list())
    with uow() as session:
        before = docks.require(session=session, dock_id=dock_id)
        after = dataclasses.replace(before, **changes)
        docks.upsert(session=session, dock=after)
        out = dock_out(after)
        audit(session, principal, "dock.update", "dock", dock_id, before=dock_out(before), after=out)
    return out
