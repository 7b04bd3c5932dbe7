"""Patrol areas and no-fly zones: polygons operators draw, stored as validated GeoJSON."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from dockpatrol.taxonomy import Category
from missions.types import NoFlyZone, PatrolArea
from storage.geometry import BBox
from storage.repositories._base import get_row, intersecting, list_rows, require_row, upsert_row
from storage.tables import NoFlyZoneRow, PatrolAreaRow


def to_domain(row: PatrolAreaRow) -> PatrolArea:
    return PatrolArea(
        id=row.id, name=row.name, polygon=row.geometry, scenarios=frozenset(Category(s) for s in row.scenarios),
        gsd_cm=row.gsd_cm, cadence=row.cadence, jurisdiction_id=row.jurisdiction_id,
    )


def upsert(*, session: Session, area: PatrolArea) -> PatrolArea:
    upsert_row(
        session, PatrolAreaRow, area.id, name=area.name, geometry=area.polygon,
        scenarios=sorted(str(s) for s in area.scenarios), gsd_cm=area.gsd_cm, cadence=area.cadence,
        jurisdiction_id=area.jurisdiction_id,
    )
    return area


def get(*, session: Session, area_id: str) -> PatrolArea | None:
    row = get_row(session, PatrolAreaRow, area_id)
    return to_domain(row) if row else None


def require(*, session: Session, area_id: str) -> PatrolArea:
    return to_domain(require_row(session, PatrolAreaRow, area_id, "patrol area"))


def list_all(*, session: Session) -> list[PatrolArea]:
    return [to_domain(r) for r in list_rows(session, PatrolAreaRow, PatrolAreaRow.id)]


def intersecting_areas(
    *, session: Session, bbox: BBox | None = None, geometry: dict[str, Any] | None = None
) -> list[PatrolArea]:
    return [to_domain(r) for r in intersecting(session, PatrolAreaRow, bbox=bbox, geometry=geometry)]


def upsert_no_fly(*, session: Session, zone: NoFlyZone) -> NoFlyZone:
    upsert_row(session, NoFlyZoneRow, zone.id, name=zone.name, geometry=zone.polygon, reason=zone.reason)
    return zone


def list_no_fly(*, session: Session) -> list[NoFlyZone]:
    return [NoFlyZone(id=r.id, name=r.name, polygon=r.geometry, reason=r.reason)
            for r in list_rows(session, NoFlyZoneRow, NoFlyZoneRow.id)]
