"""A GeoJSON geometry column that is PostGIS ``geometry(…, 4326)`` on PostgreSQL and text on SQLite.

Python code always sees a GeoJSON mapping (lon/lat). Rows also carry bbox columns so that a
bounding-box query works on both backends; PostgreSQL adds a GiST-indexed exact intersects.
"""

from __future__ import annotations

import json
from typing import Any

import shapely
from geoalchemy2 import Geometry
from shapely.geometry import mapping, shape
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

BBox = tuple[float, float, float, float]
SRID = 4326


class GeoJSONGeometry(TypeDecorator[dict[str, Any]]):
    """Stores a GeoJSON geometry dict; PostGIS geometry on PostgreSQL, JSON text elsewhere."""

    impl = Text
    cache_ok = True
    # Read by geoalchemy2's DDL hooks; the migration creates the GiST index itself.
    spatial_index = False
    use_N_D_index = False

    def load_dialect_impl(self, dialect: Dialect | None) -> TypeEngine[Any]:
        # geoalchemy2's DDL hooks may probe with dialect=None.
        if dialect is not None and dialect.name == "postgresql":
            return dialect.type_descriptor(Geometry(geometry_type="GEOMETRY", srid=SRID, spatial_index=False))
        return Text() if dialect is None else dialect.type_descriptor(Text())

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return f"SRID={SRID};{shape(value).wkt}"
        return json.dumps(value, separators=(",", ":"))

    def process_result_value(self, value: Any, dialect: Dialect) -> dict[str, Any] | None:
        if value is None:
            return None
        if dialect.name == "postgresql":
            raw = value.data if hasattr(value, "data") else value
            geom = shapely.from_wkb(bytes(raw) if isinstance(raw, memoryview) else raw)
            return plain_geojson(mapping(geom))
        return json.loads(value)


def plain_geojson(obj: Any) -> Any:
    """shapely's mapping() returns tuples; GeoJSON readers expect lists."""
    if isinstance(obj, dict):
        return {k: plain_geojson(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain_geojson(v) for v in obj]
    return obj


def bbox_of(geometry: dict[str, Any]) -> BBox:
    """(min_lon, min_lat, max_lon, max_lat) of a GeoJSON geometry."""
    minx, miny, maxx, maxy = shape(geometry).bounds
    return float(minx), float(miny), float(maxx), float(maxy)
