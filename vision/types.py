"""Types vision hands to the pipeline: `Finding`, a detection placed on the ground."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely

from dockpatrol.taxonomy import Category


@dataclass(frozen=True, eq=False)
class Finding:
    """One detected object on the ground: a WGS84 GeoJSON polygon plus what and how sure.

    ``evidence_key`` stays None until the pipeline has stored the evidence crop.
    """

    geometry: dict[str, Any]  # GeoJSON Polygon, lon/lat
    class_name: str
    category: Category
    score: float
    seen_at: datetime
    frame_id: str | None
    box_xyxy_px: tuple[float, float, float, float]
    centroid_lon: float
    centroid_lat: float
    area_m2: float
    model: str = ""
    evidence_key: str | None = None

    def shape(self) -> shapely.Polygon:
        """The geometry as a shapely polygon in lon/lat."""
        return shapely.geometry.shape(self.geometry)

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON Feature with the finding's attributes as properties."""
        return {
            "type": "Feature",
            "geometry": self.geometry,
            "properties": {
                "class": self.class_name,
                "category": self.category.value,
                "score": round(self.score, 4),
                "seen_at": self.seen_at.isoformat(),
                "frame_id": self.frame_id,
                "area_m2": round(self.area_m2, 2),
                "model": self.model,
                "evidence_key": self.evidence_key,
            },
        }
