"""Central mission types: docks, patrol areas and MissionPlans in MAVLink's own command terms."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from dockpatrol.camera import CameraModel
from dockpatrol.taxonomy import Category

#: Target ground sample distance (cm per pixel) per scenario: fine enough that the smallest thing the
#: scenario's detectors look for still spans tens of pixels in a 640-px detector slice.
SCENARIO_GSD_CM: dict[Category, float] = {
    # rooftop additions, shed roof seams and site fences are 0.5-3 m wide
    Category.CONSTRUCTION: 2.5,
    # dumped waste piles, uncovered soil patches and discoloured water are metres across
    Category.POLLUTION: 3.0,
    # smoke plumes, flames and burn scars are large; a higher flight also sees more around them
    Category.FIRE: 5.0,
}


def target_gsd_cm(scenarios: frozenset[Category] | set[Category] | tuple[Category, ...]) -> float:
    """The finest of the scenarios' target GSDs (construction's when none is given)."""
    if not scenarios:
        return SCENARIO_GSD_CM[Category.CONSTRUCTION]
    return min(SCENARIO_GSD_CM[Category(s)] for s in scenarios)


class MavCmd(IntEnum):
    """MAV_CMD numbers used by patrol missions (values from MAVLink common.xml)."""

    NAV_WAYPOINT = 16
    NAV_LOITER_UNLIM = 17
    NAV_LOITER_TURNS = 18
    NAV_LOITER_TIME = 19
    NAV_RETURN_TO_LAUNCH = 20
    NAV_LAND = 21
    NAV_TAKEOFF = 22
    NAV_DELAY = 93
    DO_CHANGE_SPEED = 178
    DO_SET_HOME = 179
    DO_DIGICAM_CONTROL = 203
    DO_MOUNT_CONTROL = 205
    DO_SET_CAM_TRIGG_DIST = 206
    NAV_FENCE_POLYGON_VERTEX_INCLUSION = 5001
    NAV_FENCE_POLYGON_VERTEX_EXCLUSION = 5002
    NAV_RALLY_POINT = 5100


class MavFrame(IntEnum):
    """MAV_FRAME values for mission items."""

    GLOBAL = 0
    MISSION = 2
    GLOBAL_RELATIVE_ALT = 3
    GLOBAL_INT = 5
    GLOBAL_RELATIVE_ALT_INT = 6


#: The navigation commands: the vehicle moves for these (DO items run between them), and only these carry
#: an altitude the ceiling applies to. The one list (flight/ and the QGC reader use it too).
NAV_COMMANDS = frozenset({MavCmd.NAV_WAYPOINT, MavCmd.NAV_LOITER_UNLIM, MavCmd.NAV_LOITER_TURNS,
                          MavCmd.NAV_LOITER_TIME, MavCmd.NAV_RETURN_TO_LAUNCH, MavCmd.NAV_LAND, MavCmd.NAV_TAKEOFF,
                          MavCmd.NAV_DELAY})
#: Navigation commands that fly to the item's own lat/lon (takeoff climbs in place, RTL flies home, a delay waits).
POSITION_COMMANDS = NAV_COMMANDS - {MavCmd.NAV_TAKEOFF, MavCmd.NAV_RETURN_TO_LAUNCH, MavCmd.NAV_DELAY}


@dataclass(frozen=True)
class MissionItem:
    """One MAVLink mission item; ``altitude_m`` is metres above the dock (home).

    ``params`` are MAVLink params 1–4; lat/lon are params 5/6 (0 where the command has none).
    """

    command: int
    lat: float = 0.0
    lon: float = 0.0
    altitude_m: float = 0.0
    params: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    frame: int = MavFrame.GLOBAL_RELATIVE_ALT_INT
    autocontinue: bool = True

    @property
    def is_nav(self) -> bool:
        return self.command in NAV_COMMANDS


@dataclass(frozen=True)
class FenceVertex:
    """A polygon fence vertex; ``inclusion`` False marks a no-fly (exclusion) polygon."""

    lat: float
    lon: float
    polygon_index: int
    vertex_count: int
    inclusion: bool = True


@dataclass(frozen=True)
class RallyPoint:
    """A safe point the vehicle may divert to instead of home; ``altitude_m`` above home."""

    lat: float
    lon: float
    altitude_m: float


@dataclass(frozen=True)
class MissionPlan:
    """A flyable plan for one dock: mission items (seq 1..n; home is added on upload) and fence."""

    dock_id: str
    items: tuple[MissionItem, ...]
    trigger_distance_m: float
    length_m: float
    duration_s: float
    #: where the vehicle takes off (the dock); None when the plan does not say
    home_lon: float | None = None
    home_lat: float | None = None
    altitude_m: float = 0.0
    frame_count: int = 0
    fence: tuple[FenceVertex, ...] = ()
    area_id: str | None = None
    scenarios: frozenset[Category] = frozenset()
    gsd_cm: float | None = None
    camera: CameraModel = field(default_factory=CameraModel)
    sortie: int = 1
    sorties: int = 1
    meta: dict[str, Any] = field(default_factory=dict)
    rally_points: tuple[RallyPoint, ...] = ()


class DockStatus(StrEnum):
    READY = "ready"
    CHARGING = "charging"
    FLYING = "flying"
    MAINTENANCE = "maintenance"
    OFFLINE = "offline"


@dataclass(frozen=True)
class Dock:
    """A drone dock (机库) and the vehicle it houses."""

    id: str
    name: str
    lon: float
    lat: float
    #: ground elevation of the dock above mean sea level; None when nobody surveyed it
    elevation_amsl_m: float | None = None
    vehicle_url: str = "sim:"
    max_range_m: float = 5000.0
    endurance_s: float = 2400.0
    charge_s: float = 1800.0
    status: DockStatus = DockStatus.READY
    cruise_speed_m_s: float = 10.0
    camera: CameraModel = field(default_factory=CameraModel)


@dataclass(frozen=True)
class PatrolArea:
    """A patrol area: a GeoJSON Polygon (lon/lat), what to look for, at what GSD, how often."""

    id: str
    name: str
    polygon: dict[str, Any]
    scenarios: frozenset[Category]
    gsd_cm: float = 2.5
    cadence: str | None = None
    jurisdiction_id: str | None = None


@dataclass(frozen=True)
class NoFlyZone:
    """A polygon (GeoJSON lon/lat) no flight may enter at any altitude: airport, hospital, prison."""

    id: str
    name: str
    polygon: dict[str, Any]
    reason: str = ""


@dataclass(frozen=True)
class Jurisdiction:
    """One cell of a jurisdiction grid (网格): the unit tickets are routed by.

    ``kind`` names the level ("grid", "community", "street"); ``parent_id`` the cell it belongs to.
    """

    id: str
    name: str
    polygon: dict[str, Any]
    department: str | None = None
    kind: str = "grid"
    parent_id: str | None = None


class Priority(IntEnum):
    """How urgent a patrol is; lower runs first. One scale for schedules, requests and stored missions."""

    EMERGENCY = 0
    REINSPECTION = 1
    ROUTINE = 2


class MissionStatus(StrEnum):
    """A stored mission's lifecycle: planned, flying, analysing its photos, then completed or failed.

    ``completed`` means the analysis is complete too; ``skipped`` is a patrol that could not launch
    (weather, dock offline, aborted before takeoff) and ``reason`` says why.
    """

    PLANNED = "planned"
    FLYING = "flying"
    ANALYSING = "analysing"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Mission:
    """A mission as stored: which area and dock, when, how urgent, and the sortie flown (plan.json form).

    ``plan`` is the document :func:`missions.planfile.plan_to_dict` writes, so it reads back with
    :func:`missions.planfile.plan_from_dict`.
    """

    id: str
    kind: str = "patrol"
    status: MissionStatus = MissionStatus.PLANNED
    area_id: str | None = None
    dock_id: str | None = None
    scheduled_for: datetime | None = None
    priority: Priority = Priority.ROUTINE
    plan: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    ticket_id: str | None = None
    #: an operator asked for an abort the patrol service has not acted on yet (or has: the status says)
    abort_requested_at: datetime | None = None
