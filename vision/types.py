"""Types vision hands to the pipeline: `Frame` (a stored image and its pose), `Finding` (a detection
placed on the ground) and their stored forms and lifecycles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import shapely

from dockpatrol.camera import CameraModel, GeoPose
from dockpatrol.taxonomy import Category


class FrameStatus(StrEnum):
    """A frame's lifecycle: stored raw, then analysed; or kept aside as quarantined (unreadable),
    unplaced (readable, but its pose cannot put it on the ground) or too tilted (the camera looked too
    far from straight down, or its attitude is unknown, to place findings reliably)."""

    STORED = "stored"
    QUARANTINED = "quarantined"
    UNPLACED = "unplaced"
    TOO_TILTED = "too_tilted"
    ANALYSED = "analysed"


@dataclass(frozen=True)
class Frame:
    """One captured image as stored: the object key of its raw bytes, and its pose when known.

    Pose fields are None for a frame that could not be read or placed; ``altitude_above_ground_m``
    is the camera's height above the ground plane (as :class:`dockpatrol.camera.GeoPose` uses it).
    """

    id: str
    object_key: str
    sha256: str
    flight_id: str | None = None
    captured_at: datetime | None = None
    lon: float | None = None
    lat: float | None = None
    altitude_above_ground_m: float | None = None
    yaw_deg: float | None = None
    pitch_deg: float | None = None
    roll_deg: float | None = None
    camera: CameraModel | None = None
    width_px: int | None = None
    height_px: int | None = None
    status: FrameStatus = FrameStatus.STORED
    error: str = ""

    def pose(self) -> GeoPose | None:
        """The camera pose, or None when the frame has no position (unknown angles take GeoPose's defaults)."""
        if self.lon is None or self.lat is None or self.altitude_above_ground_m is None:
            return None
        angles = {k: v for k, v in (("yaw_deg", self.yaw_deg), ("pitch_deg", self.pitch_deg),
                                    ("roll_deg", self.roll_deg)) if v is not None}
        return GeoPose(lon=self.lon, lat=self.lat, altitude_m=self.altitude_above_ground_m, **angles)


@dataclass(frozen=True, eq=False)
class Finding:
    """One detected object on the ground: a WGS84 GeoJSON polygon plus what and how sure.

    ``evidence_key`` stays None until the pipeline has stored the evidence crop; ``box_xyxy_px`` is
    None for a finding read back from a store that did not keep its pixel box.
    """

    geometry: dict[str, Any]  # GeoJSON Polygon, lon/lat
    class_name: str
    category: Category
    score: float
    seen_at: datetime
    frame_id: str | None
    box_xyxy_px: tuple[float, float, float, float] | None
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


class FindingStatus(StrEnum):
    """A stored finding's lifecycle: new until a ticket is opened for it or a reviewer dismisses it."""

    NEW = "new"
    TICKETED = "ticketed"
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class StoredFinding:
    """A finding as stored: what vision found, which flight and area it belongs to, and where it stands."""

    id: str
    finding: Finding
    flight_id: str | None = None
    area_id: str | None = None
    status: FindingStatus = FindingStatus.NEW
    ticket_id: str | None = None


