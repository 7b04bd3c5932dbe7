"""Changes between two patrols of an area (数据比对): on the map by area, flight and kind, and one with its evidence.

Read-only: decisions on a change go through the review queue (``/api/review/{id}/accept|reject``),
which audits them and opens tickets through routing. Environmental staff and the operations centre
read changes; evidence crops come as short-lived signed links, never storage paths.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.auth import Principal, require_roles
from api.routers._common import Paging, uow
from api.routers.flights import BBoxQuery, parse_bbox, signed
from api.schemas import ID_PATTERN, NOT_FOUND, PROBLEMS, Page
from dockpatrol.identity import Role
from vision.change import ChangeKind, RecordedChange

router = APIRouter(tags=["changes"], responses=PROBLEMS)
ChangeReader = Annotated[Principal, Depends(require_roles(Role.ENVIRONMENTAL, Role.OPS_CENTRE))]
ChangeId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]


class ChangeOut(BaseModel):
    id: str
    area_id: str | None
    before_flight_id: str | None
    after_flight_id: str | None
    kind: ChangeKind
    surface_class: str | None = Field(examples=["bare_soil_increase", "new_structure"],
                                      description="what a surface change looks like; None for object changes")
    class_name: str | None = Field(description="the object's class for appeared/vanished/grew")
    category: str | None
    area_m2: float
    score: float
    review_weight: float = Field(description="queue order: score × log(1 + area) × category urgency")
    status: str = Field(examples=["pending_review", "accepted", "rejected"])
    created_at: datetime | None
    bbox: tuple[float, float, float, float] = Field(description="min_lon, min_lat, max_lon, max_lat")
    geometry: dict[str, Any]


class ChangeDetail(ChangeOut):
    review_item_id: str = Field(description="the change's item in the review queue")
    before_url: str | None = Field(description="crop of the earlier patrol (signed, minutes); None when none")
    after_url: str | None = Field(description="crop of the later patrol (signed, minutes); None when none")
    detail: dict[str, Any]


class ChangePage(Page[ChangeOut]):
    pass


def change_out(change: RecordedChange) -> ChangeOut:
    from shapely.geometry import shape

    e = change.event
    minx, miny, maxx, maxy = shape(e.geometry).bounds
    return ChangeOut(id=change.id, area_id=change.area_id, before_flight_id=change.before_flight_id,
                     after_flight_id=change.after_flight_id, kind=e.kind,
                     surface_class=None if e.surface_class is None else str(e.surface_class),
                     class_name=e.class_name, category=None if e.category is None else str(e.category),
                     area_m2=round(e.area_m2, 2), score=round(e.score, 4), review_weight=round(e.review_weight, 4),
                     status=change.status, created_at=change.created_at, bbox=(minx, miny, maxx, maxy),
                     geometry=e.geometry)


@router.get("/api/changes", response_model=ChangePage, summary="Changes between patrols, most important first")
def list_changes(_: ChangeReader, paging: Paging, bbox: BBoxQuery = None,
                 area_id: Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)] = None,
                 flight_id: Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN,
                                                        description="either flight of the comparison")] = None,
                 kind: ChangeKind | None = None,
                 status: Annotated[str | None, Query(max_length=32, examples=["pending_review"])] = None,
                 ) -> ChangePage:
    from storage.repositories import changes

    with uow() as session:
        items, total = changes.query(session=session, area_id=area_id, flight_id=flight_id,
                                     kind=None if kind is None else str(kind), status=status, bbox=parse_bbox(bbox),
                                     offset=paging.offset, limit=paging.limit)
    return ChangePage(items=[change_out(c) for c in items], total=total, offset=paging.offset, limit=paging.limit)


@router.get("/api/changes/{change_id}", response_model=ChangeDetail, responses=NOT_FOUND,
            summary="One change with signed before/after evidence links")
def get_change(change_id: ChangeId, _: ChangeReader) -> ChangeDetail:
    from pipeline.compare import review_item_id
    from storage.repositories import changes

    with uow() as session:
        change = changes.require(session=session, change_id=change_id)
    e = change.event
    return ChangeDetail(**change_out(change).model_dump(), review_item_id=review_item_id(change.id),
                        before_url=signed(e.before_key), after_url=signed(e.after_key), detail=dict(e.detail))
