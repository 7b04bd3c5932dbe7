"""Jurisdiction grids (网格): the units tickets are routed by."""

from __future__ import annotations

from typing import Any

from shapely.geometry import Point, shape
from sqlalchemy.orm import Session

from storage.repositories._base import intersecting, list_rows, require_row, upsert_row
from storage.tables import JurisdictionRow


def upsert(
    *, session: Session, jurisdiction_id: str, name: str, geometry: dict[str, Any], kind: str = "grid",
    parent_id: str | None = None,
) -> JurisdictionRow:
    return upsert_row(session, JurisdictionRow, jurisdiction_id, name=name, geometry=geometry, kind=kind,
                      parent_id=parent_id)


def require(*, session: Session, jurisdiction_id: str) -> JurisdictionRow:
    return require_row(session, JurisdictionRow, jurisdiction_id, "jurisdiction")


def list_all(*, session: Session) -> list[JurisdictionRow]:
    return list(list_rows(session, JurisdictionRow, JurisdictionRow.id))


def containing(*, session: Session, lon: float, lat: float) -> JurisdictionRow | None:
    """The smallest jurisdiction containing the point (a grid before its parent community)."""
    point = Point(lon, lat)
    rows = intersecting(session, JurisdictionRow, bbox=(lon, lat, lon, lat))
    inside = [r for r in rows if shape(r.geometry).covers(point)]
    return min(inside, key=lambda r: shape(r.geometry).area) if inside else None
