"""Shared repository mechanics: lookup by id, not-found errors, spatial queries on both backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from shapely.geometry import box, shape
from sqlalchemy import and_, func, inspect, select
from sqlalchemy.orm import Session

from dockpatrol.errors import NotFound
from storage.geometry import SRID, BBox
from storage.tables import Base, GeoMixin

RowT = TypeVar("RowT", bound=Base)
GeoRowT = TypeVar("GeoRowT", bound=GeoMixin)


def get_row(session: Session, row_type: type[RowT], row_id: Any) -> RowT | None:
    return session.get(row_type, row_id)


def require_row(session: Session, row_type: type[RowT], row_id: Any, what: str) -> RowT:
    row = session.get(row_type, row_id)
    if row is None:
        raise NotFound(f"{what} {row_id!r} does not exist")
    return row


def columns_of(row_type: type[Base]) -> frozenset[str]:
    """The mapped column attribute names of a table class."""
    return frozenset(attr.key for attr in inspect(row_type).column_attrs)


def upsert_row(session: Session, row_type: type[RowT], row_id: Any, **values: Any) -> RowT:
    """Insert or update by primary key; geometry (if given) also refreshes the bbox columns.

    A keyword that names no column raises TypeError: a misspelt field must never be dropped silently.
    """
    unknown = sorted(set(values) - columns_of(row_type))
    if unknown:
        raise TypeError(f"{row_type.__tablename__} has no column {', '.join(map(repr, unknown))}")
    row = session.get(row_type, row_id)
    if row is None:
        row = row_type(id=row_id)
        session.add(row)
    geometry = values.pop("geometry", None)
    for key, value in values.items():
        setattr(row, key, value)
    if geometry is not None:
        row.set_geometry(geometry)  # type: ignore[attr-defined]
    session.flush()
    return row


def intersecting(
    session: Session, row_type: type[GeoRowT], *, bbox: BBox | None = None, geometry: dict[str, Any] | None = None
) -> list[GeoRowT]:
    """Rows whose geometry intersects a bbox or a GeoJSON geometry.

    Both backends filter on the bbox columns first; PostgreSQL then uses PostGIS
    ST_Intersects (GiST-indexed), SQLite the same exact test in shapely.
    """
    if (bbox is None) == (geometry is None):
        raise ValueError("give exactly one of bbox or geometry")
    query_geom = box(*bbox) if bbox is not None else shape(geometry)
    minx, miny, maxx, maxy = query_geom.bounds
    cols = row_type
    stmt = select(row_type).where(
        and_(cols.min_lon <= maxx, cols.max_lon >= minx, cols.min_lat <= maxy, cols.max_lat >= miny)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.where(func.ST_Intersects(cols.geometry, func.ST_GeomFromText(query_geom.wkt, SRID)))
        return list(session.scalars(stmt))
    return [row for row in session.scalars(stmt) if shape(row.geometry).intersects(query_geom)]


def list_rows(session: Session, row_type: type[RowT], *order_by: Any) -> Sequence[RowT]:
    stmt = select(row_type)
    if order_by:
        stmt = stmt.order_by(*order_by)
    return session.scalars(stmt).all()
