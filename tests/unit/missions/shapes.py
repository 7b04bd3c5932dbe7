"""Test geometry near the Guicheng district centre, built in metres and returned as GeoJSON (lon/lat)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dockpatrol.geo import LocalProjection
from missions.types import Dock

LON0, LAT0 = 113.15, 23.03
PROJ = LocalProjection.around(LON0, LAT0)
X0, Y0 = (float(v) for v in PROJ.to_metric(LON0, LAT0))


def lonlat(east_m: float, north_m: float) -> tuple[float, float]:
    """The position east_m/north_m (grid metres) from the centre."""
    lon, lat = PROJ.to_lonlat(X0 + east_m, Y0 + north_m)
    return float(lon), float(lat)


def polygon(points_m: Sequence[tuple[float, float]]) -> dict:
    """A closed GeoJSON Polygon from metric vertices relative to the centre."""
    ring = [list(lonlat(x, y)) for x, y in points_m]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def rectangle(east_m: float, north_m: float, width_m: float, height_m: float, *, rotate_deg: float = 0.0) -> dict:
    """A rectangle centred east_m/north_m from the centre, rotated counter-clockwise by rotate_deg."""
    a = math.radians(rotate_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    corners = np.array([[-width_m / 2, -height_m / 2], [width_m / 2, -height_m / 2], [width_m / 2, height_m / 2],
                        [-width_m / 2, height_m / 2]]) @ rot.T + [east_m, north_m]
    return polygon([tuple(c) for c in corners])


def line(points_m: Sequence[tuple[float, float]]) -> dict:
    return {"type": "LineString", "coordinates": [list(lonlat(x, y)) for x, y in points_m]}


def dock(east_m: float = 0.0, north_m: float = 0.0, **kwargs: object) -> Dock:
    lon, lat = lonlat(east_m, north_m)
    return Dock(id=str(kwargs.pop("id", "D1")), name=str(kwargs.pop("name", "test dock")), lon=lon, lat=lat,
                **kwargs)  # type: ignore[arg-type]
