"""Patrol areas and no-fly zones: GeoJSON Features in, validated by the same code as the CLI."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, Field

from api.auth import CurrentPrincipal, audit
from api.routers._common import Operator, uow
from api.schemas import CONFLICT, ID_PATTERN, NOT_FOUND, PROBLEMS
from dockpatrol.errors import InvalidInput
from missions.types import NoFlyZone, PatrolArea

router = APIRouter(tags=["areas"], responses=PROBLEMS)
AreaId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]

AREA_EXAMPLE = {
    "type": "Feature", "id": "A42",
    "properties": {"name": "桂城 A42 工业园", "scenarios": ["construction", "pollution"], "cadence": "FREQ=WEEKLY"},
    "geometry": {"type": "Polygon", "coordinates": [[[113.150, 23.030], [113.154, 23.030], [113.154, 23.033],
                                                     [113.150, 23.033], [113.150, 23.030]]]},
}
ZONE_EXAMPLE = {
    "type": "Feature", "id": "NFZ-H1", "properties": {"name": "医院 hospital", "reason": "helipad"},
    "geometry": {"type": "Point", "coordinates": [113.16, 23.04]},
}
ZONE_EXAMPLE["properties"]["radius_m"] = 300


class Feature(BaseModel):
    type: str = Field("Feature", examples=["Feature"])
    id: str
    geometry: dict[str, Any]
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    type: str = Field("FeatureCollection", examples=["FeatureCollection"])
    features: list[Feature]


def area_feature(area: PatrolArea) -> Feature:
    return Feature(id=area.id, geometry=area.polygon,
                   properties={"name": area.name, "scenarios": sorted(str(s) for s in area.scenarios),
                               "gsd_cm": area.gsd_cm, "cadence": area.cadence,
                               "jurisdiction_id": area.jurisdiction_id})


def zone_feature(zone: NoFlyZone) -> Feature:
    return Feature(id=zone.id, geometry=zone.polygon, properties={"name": zone.name, "reason": zone.reason})


def _one_feature(doc: Any, what: str) -> Any:
    from missions.areas import features_from_geojson

    features = features_from_geojson(doc)
    if len(features) != 1:
        raise InvalidInput(f"send one {what} Feature at a time; this body holds {len(features)}")
    if features[0].id is None:
        raise InvalidInput(f"the {what} Feature needs an id (Feature.id or properties.id)")
    return features[0]


@router.get("/api/areas", response_model=FeatureCollection, summary="Patrol areas as GeoJSON")
def list_areas(_: CurrentPrincipal) -> FeatureCollection:
    from storage.repositories import areas

    with uow() as session:
        return FeatureCollection(features=[area_feature(a) for a in areas.list_all(session=session)])


@router.get("/api/areas/{area_id}", response_model=Feature, responses=NOT_FOUND, summary="One patrol area")
def get_area(area_id: AreaId, _: CurrentPrincipal) -> Feature:
    from storage.repositories import areas

    with uow() as session:
        return area_feature(areas.require(session=session, area_id=area_id))


@router.post("/api/areas", status_code=201, response_model=Feature, responses=CONFLICT,
             summary="Add a patrol area (GeoJSON Polygon Feature)")
def create_area(principal: Operator,
                body: Annotated[dict[str, Any], Body(examples=[AREA_EXAMPLE])]) -> Feature:
    """Validated exactly as `dockpatrol plan --area` validates a file: ring closure, self-intersection,
    size limits, scenarios. An id that exists is 409."""
    from missions.areas import area_from_feature
    from storage.repositories import atomic

    area = area_from_feature(_one_feature(body, "area"))
    _check_id(area.id)
    with uow() as session:
        atomic.create_area(session=session, area=area)
        out = area_feature(area)
        audit(session, principal, "area.create", "patrol_area", area.id, after=out)
    return out


@router.get("/api/grids", response_model=FeatureCollection, summary="Jurisdiction grids (网格) as GeoJSON")
def list_grids(_: CurrentPrincipal) -> FeatureCollection:
    """The cells tickets are routed by; the console draws them as the map's base outlines."""
    from storage.repositories import jurisdictions

    with uow() as session:
        return FeatureCollection(features=[
            Feature(id=j.id, geometry=j.polygon, properties={"name": j.name, "kind": j.kind, "parent_id": j.parent_id})
            for j in jurisdictions.list_all(session=session)])


@router.get("/api/no-fly-zones", response_model=FeatureCollection, summary="No-fly zones as GeoJSON")
def list_no_fly(_: CurrentPrincipal) -> FeatureCollection:
    from storage.repositories import areas

    with uow() as session:
        return FeatureCollection(features=[zone_feature(z) for z in areas.list_no_fly(session=session)])


@router.post("/api/no-fly-zones", status_code=201, response_model=FeatureCollection, responses=CONFLICT,
             summary="Add a no-fly zone (Polygon, MultiPolygon or Point + radius_m)")
def create_no_fly(principal: Operator,
                  body: Annotated[dict[str, Any], Body(examples=[ZONE_EXAMPLE])]) -> FeatureCollection:
    """A MultiPolygon becomes one zone per part (ids suffixed #1, #2, …), as in the CLI."""
    from missions.areas import no_fly_from_features
    from storage.repositories import atomic

    zones: list[NoFlyZone] = no_fly_from_features([_one_feature(body, "no-fly zone")])
    for z in zones:
        _check_id(z.id.split("#")[0])
    with uow() as session:
        out = []
        for zone in zones:
            atomic.create_no_fly(session=session, zone=zone)
            feature = zone_feature(zone)
            audit(session, principal, "no_fly_zone.create", "no_fly_zone", zone.id, after=feature)
            out.append(feature)
    return FeatureCollection(features=out)


def _check_id(value: str) -> None:
    import re

    from api.schemas import ID_PATTERN

    if len(value) > 64 or not re.match(ID_PATTERN, value):
        raise InvalidInput(f"id {value!r} must be 1-64 letters, digits or ._-")
