"""Geodesy shared by every package: WGS84 lon/lat validation and the local UTM projection.

Storage and APIs speak WGS84 lon/lat (GeoJSON order); metric work happens in the UTM zone
that contains the area, through one cached transformer per zone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, overload

import numpy as np
import shapely
from pyproj import CRS, Proj, Transformer

from dockpatrol.errors import InvalidInput

WGS84_EPSG = 4326


def check_lonlat(lon: float, lat: float, *, where: str = "coordinate") -> None:
    """Raise InvalidInput unless (lon, lat) is a finite WGS84 position in GeoJSON order."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidInput(f"{where}: ({lon}, {lat}) is not a finite number pair")
    if not -180.0 <= lon <= 180.0 or not -90.0 <= lat <= 90.0:
        hint = " (looks like lat, lon order; GeoJSON is lon, lat)" if abs(lat) > 90 >= abs(lon) else ""
        raise InvalidInput(f"{where}: ({lon}, {lat}) is outside WGS84 lon/lat range{hint}")


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the UTM zone containing (lon, lat): 326zz north, 327zz south."""
    check_lonlat(lon, lat)
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


@lru_cache(maxsize=64)
def _transformers(epsg: int) -> tuple[Transformer, Transformer]:
    crs = CRS.from_epsg(epsg)
    fwd = Transformer.from_crs(WGS84_EPSG, crs, always_xy=True)
    inv = Transformer.from_crs(crs, WGS84_EPSG, always_xy=True)
    return fwd, inv


@lru_cache(maxsize=64)
def _proj(epsg: int) -> Proj:
    return Proj(CRS.from_epsg(epsg))


@dataclass(frozen=True)
class LocalProjection:
    """WGS84 ⇄ a projected metric CRS (UTM by default); arrays in, arrays out."""

    epsg: int

    @classmethod
    def around(cls, lon: float, lat: float) -> LocalProjection:
        """The UTM projection of the zone containing (lon, lat)."""
        return cls(utm_epsg(lon, lat))

    @property
    def crs(self) -> CRS:
        return CRS.from_epsg(self.epsg)

    def to_metric(self, lon: np.ndarray | float, lat: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Easting, northing in metres for lon/lat (degrees)."""
        fwd, _ = _transformers(self.epsg)
        x, y = fwd.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(x), np.asarray(y)

    def to_lonlat(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Lon, lat in degrees for easting/northing in metres."""
        _, inv = _transformers(self.epsg)
        lon, lat = inv.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        return np.asarray(lon), np.asarray(lat)

    def geometry_to_metric(self, geom: Any) -> Any:
        """A shapely geometry (or array of them) from lon/lat into this projection's metres."""
        return shapely.transform(geom, lambda xy: np.column_stack(self.to_metric(xy[:, 0], xy[:, 1])))

    def geometry_to_lonlat(self, geom: Any) -> Any:
        """A shapely geometry (or array of them) from this projection's metres into lon/lat."""
        return shapely.transform(geom, lambda xy: np.column_stack(self.to_lonlat(xy[:, 0], xy[:, 1])))

    def grid_convergence_deg(self, lon: float, lat: float) -> float:
        """Angle from true north to grid north at (lon, lat); grid yaw = true yaw - this."""
        factors = _proj(self.epsg).get_factors(lon, lat)
        return float(factors.meridian_convergence)


#: Mean radius of the WGS84 ellipsoid, metres (the sphere great-circle distances use).
EARTH_MEAN_RADIUS_M = 6_371_008.8


@overload
def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float: ...
@overload
def haversine_m(lon1: float, lat1: float, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray: ...


def haversine_m(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> Any:
    """Great-circle distance in metres on the WGS84 mean sphere; scalars give a float, arrays broadcast."""
    if np.ndim(lon2) == 0 and np.ndim(lat2) == 0 and np.ndim(lon1) == 0 and np.ndim(lat1) == 0:
        p1, p2 = math.radians(lat1), math.radians(lat2)
        dp, dl = p2 - p1, math.radians(lon2 - lon1)
        a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        return 2 * EARTH_MEAN_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_MEAN_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
