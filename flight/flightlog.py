"""Flight track recorder: thinned positions in vehicle time, capture points, written as GeoJSON (lon/lat)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockpatrol.geo import haversine_m
from flight.camera import CaptureInfo
from flight.telemetry import Position


@dataclass
class TrackRecorder:
    """Keeps a position when the vehicle moved ``min_spacing_m`` or ``min_interval_s`` of vehicle time passed."""

    min_spacing_m: float = 2.0
    min_interval_s: float = 1.0
    points: list[Position] = field(default_factory=list)
    length_m: float = 0.0
    max_relative_altitude_m: float = 0.0

    def add(self, pos: Position) -> None:
        self.max_relative_altitude_m = max(self.max_relative_altitude_m, pos.relative_altitude_m)
        if self.points:
            last = self.points[-1]
            d = haversine_m(last.longitude_deg, last.latitude_deg, pos.longitude_deg, pos.latitude_deg)
            d3 = math.hypot(d, pos.relative_altitude_m - last.relative_altitude_m)
            if d3 < self.min_spacing_m and pos.vehicle_time_s - last.vehicle_time_s < self.min_interval_s:
                return
            self.length_m += d
        self.points.append(pos)

    @property
    def last(self) -> Position | None:
        return self.points[-1] if self.points else None


def track_geojson(track: TrackRecorder, captures: list[CaptureInfo], *, properties: dict[str, Any],
                  home_lonlat: tuple[float, float] | None) -> dict[str, Any]:
    """A FeatureCollection: the track LineString (lon, lat, metres above home), captures and home as Points."""
    features: list[dict[str, Any]] = []
    coords = [[p.longitude_deg, p.latitude_deg, round(p.relative_altitude_m, 2)] for p in track.points]
    features.append({
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": coords} if len(coords) >= 2 else None,
        "properties": {"kind": "track", "vehicle_times_s": [round(p.vehicle_time_s, 2) for p in track.points],
                       "length_m": round(track.length_m, 1),
                       "max_relative_altitude_m": round(track.max_relative_altitude_m, 1), **properties},
    })
    for c in captures:
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [c.longitude_deg, c.latitude_deg, round(c.relative_altitude_m, 2)]},
            "properties": {"kind": "capture", "index": c.index, "time_utc_us": c.time_utc_us,
                           "relative_altitude_m": c.relative_altitude_m, "yaw_deg": round(c.yaw_deg, 1),
                           "source": c.source},
        })
    if home_lonlat is not None:
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": list(home_lonlat)},
                         "properties": {"kind": "home"}})
    return {"type": "FeatureCollection", "features": features}


def write_geojson(path: Path, collection: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(collection, separators=(",", ":")))
    tmp.replace(path)
    return path
