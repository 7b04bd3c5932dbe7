"""Jurisdiction grids (网格): the units tickets are routed by, as :class:`missions.types.Jurisdiction`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from missions.areas import locate_jurisdiction
from missions.types import Jurisdiction
from storage.repositories._base import get_row, intersecting, list_rows, require_row, upsert_row
from storage.tables import JurisdictionRow


def to_domain(row: JurisdictionRow) -> Jurisdiction:
    return Jurisdiction(id=row.id, name=row.name, polygon=row.geometry, kind=row.kind, parent_id=row.parent_id)


def upsert(*, session: Session, jurisdiction: Jurisdiction) -> Jurisdiction:
    """Insert or replace a jurisdiction cell."""
    upsert_row(session, JurisdictionRow, jurisdiction.id, name=jurisdiction.name, geometry=jurisdiction.polygon,
               kind=jurisdiction.kind, parent_id=jurisdiction.parent_id)
    return jurisdiction


def get(*, session: Session, jurisdiction_id: str) -> Jurisdiction | None:
    row = get_row(session, JurisdictionRow, jurisdiction_id)
    return to_domain(row) if row else None


def require(*, session: Session, jurisdiction_id: str) -> Jurisdiction:
    return to_domain(require_row(session, JurisdictionRow, jurisdiction_id, "jurisdiction"))


def list_all(*, session: Session) -> list[Jurisdiction]:
    return [to_domain(r) for r in list_rows(session, JurisdictionRow, JurisdictionRow.id)]


def containing(*, session: Session, lon: float, lat: float) -> Jurisdiction | None:
    """The jurisdiction a point belongs to, by :func:`missions.areas.locate_jurisdiction`'s rule."""
    candidates = [to_domain(r) for r in intersecting(session, JurisdictionRow, bbox=(lon, lat, lon, lat))]
    return locate_jurisdiction(candidates, lon=lon, lat=lat)
