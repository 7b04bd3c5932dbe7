"""ArduCopter-like vehicle model for the simulator: boot and EKF readiness, modes, arming, mission
execution, kinematics, battery, camera and failsafes, stepped in simulated seconds (no I/O here).

Behaviour follows measurements of ArduCopter 4.7 SITL (docs/flight.md); sim/vehicle.py carries it over MAVLink.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum, IntFlag
from types import MappingProxyType
from typing import Any

import numpy as np
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from dockpatrol.camera import GeoPose
from dockpatrol.errors import InvalidInput
from dockpatrol.geo import check_lonlat

_WGS84_A_M = 6378137.0
_WGS84_E2 = 6.69437999014e-3
GRAVITY_M_S2 = 9.80665
#: Horizontal drag per unit airspeed squared (1/m): about 15° of tilt at 10 m/s airspeed.
_DRAG_PER_M = 0.026
#: ArduPilot's force-arm / force-disarm magic number in param2 of MAV_CMD_COMPONENT_ARM_DISARM.
FORCE_MAGIC = 21196.0


class CopterMode(IntEnum):
    """ArduCopter flight modes as HEARTBEAT.custom_mode numbers."""

    STABILIZE = 0
    ACRO = 1
    ALT_HOLD = 2
    AUTO = 3
    GUIDED = 4
    LOITER = 5
    RTL = 6
    CIRCLE = 7
    LAND = 9
    BRAKE = 17
    SMART_RTL = 21


ARMABLE_MODES = frozenset({CopterMode.STABILIZE, CopterMode.ACRO, CopterMode.ALT_HOLD, CopterMode.GUIDED,
                           CopterMode.LOITER})
POSITION_MODES = frozenset({CopterMode.AUTO, CopterMode.GUIDED, CopterMode.LOITER, CopterMode.RTL,
                            CopterMode.CIRCLE, CopterMode.BRAKE, CopterMode.SMART_RTL})


class LandedState(IntEnum):
    """MAV_LANDED_STATE values reported in EXTENDED_SYS_STATE."""

    UNDEFINED = 0
    ON_GROUND = 1
    IN_AIR = 2
    TAKEOFF = 3
    LANDING = 4


class MissionState(IntEnum):
    """MISSION_STATE values reported in MISSION_CURRENT."""

    NO_MISSION = 1
    NOT_STARTED = 2
    ACTIVE = 3
    PAUSED = 4
    COMPLETE = 5


C = mavlink
NAV_COMMANDS = frozenset({C.MAV_CMD_NAV_WAYPOINT, C.MAV_CMD_NAV_LOITER_UNLIM, C.MAV_CMD_NAV_LOITER_TURNS,
                          C.MAV_CMD_NAV_LOITER_TIME, C.MAV_CMD_NAV_RETURN_TO_LAUNCH, C.MAV_CMD_NAV_LAND,
                          C.MAV_CMD_NAV_TAKEOFF, C.MAV_CMD_NAV_DELAY})
#: Commands ArduPilot stores with a location; download reports them in a global frame.
LOCATION_COMMANDS = frozenset({C.MAV_CMD_NAV_WAYPOINT, C.MAV_CMD_NAV_LOITER_UNLIM, C.MAV_CMD_NAV_LOITER_TURNS,
                               C.MAV_CMD_NAV_LOITER_TIME, C.MAV_CMD_NAV_LAND, C.MAV_CMD_NAV_TAKEOFF,
                               C.MAV_CMD_DO_SET_HOME, C.MAV_CMD_DO_SET_ROI})
MISSION_COMMANDS = NAV_COMMANDS | frozenset({
    C.MAV_CMD_DO_JUMP, C.MAV_CMD_DO_CHANGE_SPEED, C.MAV_CMD_DO_SET_HOME, C.MAV_CMD_DO_SET_SERVO,
    C.MAV_CMD_DO_SET_RELAY, C.MAV_CMD_DO_DIGICAM_CONTROL, C.MAV_CMD_DO_MOUNT_CONTROL,
    C.MAV_CMD_DO_SET_CAM_TRIGG_DIST, C.MAV_CMD_DO_SET_ROI, C.MAV_CMD_CONDITION_DELAY,
    C.MAV_CMD_CONDITION_YAW, C.MAV_CMD_DO_FENCE_ENABLE, C.MAV_CMD_IMAGE_START_CAPTURE,
    C.MAV_CMD_IMAGE_STOP_CAPTURE, C.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW,
})
#: DO items ArduCopter itself verifies, so they are reported with MISSION_ITEM_REACHED; camera items run
#: inside AP_Mission and are never reported.
REPORTED_DO_COMMANDS = frozenset({C.MAV_CMD_DO_CHANGE_SPEED, C.MAV_CMD_DO_SET_HOME, C.MAV_CMD_DO_SET_SERVO,
                                  C.MAV_CMD_DO_SET_RELAY, C.MAV_CMD_DO_SET_ROI, C.MAV_CMD_CONDITION_DELAY,
                                  C.MAV_CMD_CONDITION_YAW, C.MAV_CMD_DO_FENCE_ENABLE,
                                  C.MAV_CMD_DO_MOUNT_CONTROL})
RELATIVE_FRAMES = frozenset({C.MAV_FRAME_GLOBAL_RELATIVE_ALT, C.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                             C.MAV_FRAME_GLOBAL_TERRAIN_ALT, C.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT})
GLOBAL_FRAMES = frozenset({C.MAV_FRAME_GLOBAL, C.MAV_FRAME_GLOBAL_INT}) | RELATIVE_FRAMES


class FenceType(IntFlag):
    """ArduPilot's FENCE_TYPE bits."""

    ALT_MAX = 1
    CIRCLE = 2
    POLYGON = 4
    ALT_MIN = 8


#: ArduCopter 4.7 firmware defaults of the parameters the simulator acts on (names as the firmware spells them).
FIRMWARE_PARAMS: Mapping[str, float] = MappingProxyType({
    "FENCE_ENABLE": 0.0,
    "FENCE_TYPE": float(FenceType.ALT_MAX | FenceType.CIRCLE | FenceType.POLYGON),
    "FENCE_ACTION": 1.0,
    "FENCE_RADIUS": 300.0,
    "FENCE_ALT_MAX": 100.0,
    "FENCE_ALT_MIN": -10.0,
    "FENCE_MARGIN": 2.0,
    "CAM1_TYPE": 1.0,
    "SERVO9_FUNCTION": 10.0,
})
#: What ArduPilot SITL's default copter.parm changes: a 150 m circle fence.
SITL_PARAMS: Mapping[str, float] = MappingProxyType({**FIRMWARE_PARAMS, "FENCE_RADIUS": 150.0})


def stored_altitude_m(z_m: float) -> float:
    """An altitude as ArduPilot keeps it: the float32 on the wire times 100 in float32, truncated to whole cm."""
    return int(np.float32(z_m) * np.float32(100.0)) / 100.0


@dataclass(frozen=True)
class SimVehicleConfig:
    """Everything that makes one simulated copter; times are simulated seconds unless named ``*_wall_s``.

    The speed-up accelerates the world (flight, battery, boot, disarm timers), not the radio: mission
    protocol retries and the GCS-loss timeout run on the wall clock like the link they model.
    """

    home_lon: float
    home_lat: float
    home_alt_amsl_m: float = 10.0
    speedup: float = 1.0
    system_id: int = 1
    gcs_system_id: int = 255
    epoch_utc: datetime | None = None
    boot_s: float = 1.0
    gps_fix_s: float = 2.0
    #: When the EKF origin (and home) is set: position modes are accepted from then on and seq 0 downloads
    #: as home, not (0, 0, 0) (SITL: ~19 s); short so tests stay fast.
    origin_s: float = 2.5
    #: When the EKF has a position estimate and arming is allowed (SITL: ~40 s); short so tests stay fast.
    ekf_ready_s: float = 4.0
    #: The clock starts when the first client connects, as SITL boots on its first TCP client.
    boot_on_first_client: bool = False
    #: Parameter defaults (FIRMWARE_PARAMS or SITL_PARAMS), answered over PARAM_* and acted on (fence).
    params: Mapping[str, float] = field(default_factory=lambda: FIRMWARE_PARAMS)
    prearm_report_interval_s: float = 30.0
    wp_speed_m_s: float = 10.0
    climb_speed_m_s: float = 2.5
    descent_speed_m_s: float = 1.5
    land_speed_m_s: float = 0.5
    land_slow_below_m: float = 10.0
    accel_m_s2: float = 2.5
    wp_radius_m: float = 2.0
    yaw_rate_deg_s: float = 90.0
    rtl_altitude_m: float = 15.0
    rtl_loiter_s: float = 5.0
    wind_north_m_s: float = 0.0
    wind_east_m_s: float = 0.0
    battery_cells: int = 6
    battery_capacity_mah: float = 10000.0
    hover_current_a: float = 20.0
    battery_low_percent: float = 20.0
    battery_critical_percent: float = 10.0
    battery_arm_min_percent: float = 25.0
    disarm_delay_s: float = 10.0
    gcs_failsafe: bool = True
    gcs_timeout_wall_s: float = 5.0
    camera_enabled: bool = True
    camera_min_interval_s: float = 0.1
    #: PX4-style CAMERA_IMAGE_CAPTURED next to CAMERA_FEEDBACK; ArduPilot never sends it.
    send_image_captured: bool = False
    mission_capacity: int = 650
    fence_capacity: int = 100
    rally_capacity: int = 10
    mission_retry_wall_s: float = 1.0
    mission_timeout_wall_s: float = 8.0
    #: The vehicle's turnaround per mission item (request after an accepted item, item after a request);
    #: ArduPilot SITL on loopback: ~1.5 ms.
    mission_item_rtt_wall_s: float = 0.0015
    max_step_s: float = 0.1
    stream_max_wall_hz: float = 25.0

    def __post_init__(self) -> None:
        check_lonlat(self.home_lon, self.home_lat, where="simulated vehicle home")
        if not 0.01 <= self.speedup <= 1000.0:
            raise InvalidInput(f"speed-up must be within 0.01..1000, got {self.speedup}")
        if not 1 <= self.system_id <= 255:
            raise InvalidInput(f"MAVLink system id must be within 1..255, got {self.system_id}")
        if not self.boot_s <= self.origin_s <= self.ekf_ready_s:
            raise InvalidInput(f"boot ({self.boot_s} s) ≤ EKF origin ({self.origin_s} s) ≤ position estimate "
                               f"({self.ekf_ready_s} s) must hold")
        if not 0.0 <= self.mission_item_rtt_wall_s <= 1.0:
            raise InvalidInput(f"mission item round trip must be within 0..1 s, got {self.mission_item_rtt_wall_s}")

    @classmethod
    def sitl(cls, *, home_lon: float, home_lat: float, **overrides: Any) -> SimVehicleConfig:
        """A vehicle with ArduPilot SITL's measured defaults (see SITL_DEFAULTS), overridable field by field."""
        return cls(home_lon=home_lon, home_lat=home_lat, **{**SITL_DEFAULTS, **overrides})


#: SimVehicleConfig fields that make the simulator behave like ArduCopter 4.7 SITL with default copter.parm:
#: boot on the first TCP client, EKF origin at ~19 s, arming possible at ~40 s, 150 m circle fence.
SITL_DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "boot_on_first_client": True,
    "origin_s": 19.0,
    "ekf_ready_s": 40.0,
    "params": SITL_PARAMS,
    "mission_item_rtt_wall_s": 0.0015,
})


@dataclass(frozen=True)
class StoredItem:
    """A mission/fence/rally item as the vehicle stores it (lat/lon in degE7, as MISSION_ITEM_INT carries)."""

    command: int
    frame: int
    params: tuple[float, float, float, float]
    lat_e7: int
    lon_e7: int
    altitude_m: float
    autocontinue: bool = True

    @property
    def relative(self) -> bool:
        return self.frame in RELATIVE_FRAMES

    @property
    def has_position(self) -> bool:
        return self.lat_e7 != 0 or self.lon_e7 != 0


@dataclass(frozen=True)
class CaptureRecord:
    """One photo the simulated camera took: 1-based index (as CAMERA_FEEDBACK.img_idx) and the true pose."""

    index: int
    captured_at: datetime
    time_boot_s: float
    pose: GeoPose
    altitude_amsl_m: float
    vehicle_roll_deg: float
    vehicle_pitch_deg: float


@dataclass(frozen=True)
class StatusText:
    severity: int
    text: str


@dataclass(frozen=True)
class ItemReached:
    seq: int


@dataclass(frozen=True)
class CurrentChanged:
    seq: int


@dataclass(frozen=True)
class HomeChanged:
    pass


ModelEvent = StatusText | ItemReached | CurrentChanged | HomeChanged | CaptureRecord


@dataclass
class _Nav:
    """Progress through the current navigation command."""

    seq: int
    command: int
    target: tuple[float, float, float] | None = None
    arrived_at_s: float | None = None
    hold_s: float = 0.0
    orbit_angle_rad: float | None = None
    orbit_left_rad: float = 0.0
    orbit_radius_m: float = 0.0
    orbit_center: tuple[float, float] = (0.0, 0.0)


@dataclass
class _Rtl:
    """Phases of a return to launch: climb, return, loiter above home, land."""

    phase: str
    altitude_m: float
    loiter_until_s: float = 0.0


def _severity(name: str) -> int:
    return {"info": C.MAV_SEVERITY_INFO, "warning": C.MAV_SEVERITY_WARNING,
            "critical": C.MAV_SEVERITY_CRITICAL, "notice": C.MAV_SEVERITY_NOTICE}[name]


@dataclass
class _Fence:
    inclusions: list[list[tuple[float, float]]] = field(default_factory=list)
    exclusions: list[list[tuple[float, float]]] = field(default_factory=list)
    circles: list[tuple[float, float, float, bool]] = field(default_factory=list)

    def contains(self, n_m: float, e_m: float) -> bool:
        """True when (n, e) is inside every inclusion zone and outside every exclusion zone."""
        for poly in self.inclusions:
            if not _point_in_polygon(n_m, e_m, poly):
                return False
        for poly in self.exclusions:
            if _point_in_polygon(n_m, e_m, poly):
                return False
        for cn, ce, radius, inclusion in self.circles:
            inside = math.hypot(n_m - cn, e_m - ce) <= radius
            if inside != inclusion:
                return False
        return True

    @property
    def empty(self) -> bool:
        return not (self.inclusions or self.exclusions or self.circles)


def _informative_params(config: SimVehicleConfig) -> dict[str, float]:
    """Parameters that mirror the simulator's configuration, under ArduCopter 4.7's names."""
    return {
        "MAV_SYSID": float(config.system_id),
        "MAV_GCS_SYSID": float(config.gcs_system_id),
        "WPNAV_SPEED": config.wp_speed_m_s * 100,
        "WPNAV_SPEED_UP": config.climb_speed_m_s * 100,
        "WPNAV_SPEED_DN": config.descent_speed_m_s * 100,
        "LAND_SPEED": config.land_speed_m_s * 100,
        "RTL_ALT": config.rtl_altitude_m * 100,
        "DISARM_DELAY": config.disarm_delay_s,
        "FS_GCS_ENABLE": 1.0 if config.gcs_failsafe else 0.0,
        "FS_GCS_TIMEOUT": config.gcs_timeout_wall_s,
        "BATT_CAPACITY": config.battery_capacity_mah,
    }


def _point_in_polygon(n_m: float, e_m: float, poly: list[tuple[float, float]]) -> bool:
    inside = False
    j = len(poly) - 1
    for i in range(len(poly)):
        ni, ei = poly[i]
        nj, ej = poly[j]
        if (ei > e_m) != (ej > e_m) and n_m < (nj - ni) * (e_m - ei) / (ej - ei) + ni:
            inside = not inside
        j = i
    return inside


class CopterModel:
    """One simulated ArduCopter; ``step`` advances it, ``drain_events`` hands out what it announced."""

    def __init__(self, config: SimVehicleConfig) -> None:
        self.config = config
        self.time_s = 0.0
        self.epoch_utc = config.epoch_utc or datetime.now(UTC)
        lat0 = math.radians(config.home_lat)
        s2 = math.sin(lat0) ** 2
        self._m_per_rad_lat = _WGS84_A_M * (1 - _WGS84_E2) / (1 - _WGS84_E2 * s2) ** 1.5
        self._m_per_rad_lon = _WGS84_A_M / math.sqrt(1 - _WGS84_E2 * s2) * math.cos(lat0)
        self.n_m = 0.0
        self.e_m = 0.0
        self.altitude_above_home_m = 0.0
        self.vn_m_s = 0.0
        self.ve_m_s = 0.0
        self.vu_m_s = 0.0
        self.yaw_deg = 0.0
        self.roll_deg = 0.0
        self.pitch_deg = 0.0
        self.mode = CopterMode.STABILIZE
        self.armed = False
        self.landed = True
        self.home_set = False
        self.home_ne_m = (0.0, 0.0)
        self.home_alt_amsl_m = config.home_alt_amsl_m
        self.speed_m_s = config.wp_speed_m_s
        self.wind_ne_m_s = (config.wind_north_m_s, config.wind_east_m_s)
        self.consumed_mah = 0.0
        self.current_a = 0.0
        self.mission: list[StoredItem] = [self._home_item()]
        self.fence_items: list[StoredItem] = []
        self.rally_items: list[StoredItem] = []
        self.fence = _Fence()
        self.params: dict[str, float] = {**config.params, **_informative_params(config)}
        #: FENCE_TYPE bits switched on (FENCE_ENABLE or MAV_CMD_DO_FENCE_ENABLE); 0 = fence off
        self.fence_enabled_types = FenceType(0)
        if self.params.get("FENCE_ENABLE", 0.0) >= 1.0:
            self.enable_fence(True)
        self.fence_breached = False
        self.mission_state = MissionState.NO_MISSION
        self.current_seq = 0
        self.trigger_distance_m = 0.0
        self.image_index = 0
        self.failsafe_gcs = False
        self.failsafe_battery = 0  # 0 none, 1 low, 2 critical
        self._events: list[ModelEvent] = []
        self._booted = False
        self._gps_fixed = False
        self._ekf_ready = False
        self._origin_set = False
        #: ArduPilot keeps one MISSION_ITEM_REACHED pending per link: items finished in the same loop merge
        self._reached_pending: int | None = None
        self._next_prearm_report_s = config.boot_s + 0.5
        self._guided_target: tuple[float, float, float] | None = None
        self._taking_off = False
        self._landing = False
        self._falling = False
        self._auto_armed = False
        self._nav: _Nav | None = None
        self._next_scan_seq = 1
        self._rtl: _Rtl | None = None
        self._rtl_hold = (0.0, 0.0)
        self._on_ground_since_s = 0.0
        self._last_trigger_ne: tuple[float, float] | None = None
        self._last_capture_s = -math.inf
        self._interval_s = 0.0
        self._interval_left = 0
        self._next_interval_s = 0.0
        self._accel_ne = (0.0, 0.0)

    # ---- geometry -------------------------------------------------------------------------------

    def ne_to_lonlat(self, n_m: float, e_m: float) -> tuple[float, float]:
        lat = self.config.home_lat + math.degrees(n_m / self._m_per_rad_lat)
        lon = self.config.home_lon + math.degrees(e_m / self._m_per_rad_lon)
        return lon, lat

    def lonlat_to_ne(self, lon: float, lat: float) -> tuple[float, float]:
        n = math.radians(lat - self.config.home_lat) * self._m_per_rad_lat
        e = math.radians(lon - self.config.home_lon) * self._m_per_rad_lon
        return n, e

    @property
    def lonlat(self) -> tuple[float, float]:
        return self.ne_to_lonlat(self.n_m, self.e_m)

    @property
    def altitude_amsl_m(self) -> float:
        return self.config.home_alt_amsl_m + self.altitude_above_home_m

    @property
    def home_lonlat(self) -> tuple[float, float]:
        return self.ne_to_lonlat(*self.home_ne_m)

    @property
    def ground_speed_m_s(self) -> float:
        return math.hypot(self.vn_m_s, self.ve_m_s)

    @property
    def airspeed_m_s(self) -> float:
        return math.hypot(self.vn_m_s - self.wind_ne_m_s[0], self.ve_m_s - self.wind_ne_m_s[1])

    @property
    def utc_now(self) -> datetime:
        return self.epoch_utc + timedelta(seconds=self.time_s)

    # ---- readiness and battery -----------------------------------------------------------------

    @property
    def booted(self) -> bool:
        return self._booted

    @property
    def gps_fixed(self) -> bool:
        return self._gps_fixed

    @property
    def ekf_ready(self) -> bool:
        """The EKF has a position estimate: arming is possible."""
        return self._ekf_ready

    @property
    def origin_set(self) -> bool:
        """The EKF origin is set: the vehicle knows where it is (position, home, position modes)."""
        return self._origin_set

    @property
    def fence_enabled(self) -> bool:
        return bool(self.fence_enabled_types)

    def enable_fence(self, enabled: bool, types: int = 0) -> None:
        """MAV_CMD_DO_FENCE_ENABLE: p2 = 0 means every type in FENCE_TYPE; other types are ignored."""
        configured = FenceType(int(self.params.get("FENCE_TYPE", 0.0)) & 0xF)
        mask = configured if types == 0 else FenceType(types & 0xF) & configured
        if enabled:
            self.fence_enabled_types |= mask
        else:
            self.fence_enabled_types &= ~mask
        self.fence_breached = False

    def set_param(self, name: str, value: float) -> bool:
        """PARAM_SET: False for a name the vehicle does not have (ArduPilot then stays silent)."""
        if name not in self.params:
            return False
        self.params[name] = float(value)
        if name == "FENCE_ENABLE":
            self.enable_fence(value >= 1.0)
        return True

    @property
    def battery_remaining_percent(self) -> float:
        return max(0.0, 100.0 * (1.0 - self.consumed_mah / self.config.battery_capacity_mah))

    @property
    def battery_voltage_v(self) -> float:
        soc = self.battery_remaining_percent / 100.0
        return self.config.battery_cells * (3.5 + 0.7 * soc) - 0.002 * self.config.battery_cells * self.current_a

    def set_battery_remaining(self, percent: float) -> None:
        """Inject a state of charge (tests: low-battery failsafe)."""
        pct = min(100.0, max(0.0, percent))
        self.consumed_mah = self.config.battery_capacity_mah * (1.0 - pct / 100.0)

    def prearm_failure(self) -> str | None:
        """The first failing pre-arm check, worded as ArduPilot's STATUSTEXT, or None when armable."""
        if not self._booted or not self._gps_fixed:
            return "PreArm: Need 3D Fix"
        if not self._origin_set:
            return "PreArm: Need Position Estimate"
        if self.battery_remaining_percent < self.config.battery_arm_min_percent:
            return "PreArm: Battery 1 below minimum arming capacity"
        if self.fence_enabled and self._fence_breach() is not None:
            return "PreArm: Fence: vehicle outside fence"
        return None

    @property
    def landed_state(self) -> LandedState:
        if self.landed:
            return LandedState.ON_GROUND
        if self._landing or self._falling:
            return LandedState.LANDING
        if self._taking_off:
            return LandedState.TAKEOFF
        return LandedState.IN_AIR

    def drain_events(self) -> list[ModelEvent]:
        events, self._events = self._events, []
        return events

    def _text(self, text: str, severity: str = "info") -> None:
        self._events.append(StatusText(_severity(severity), text))

    # ---- commands -------------------------------------------------------------------------------

    def set_mode(self, mode: int, *, failsafe: bool = False) -> bool:
        """Switch flight mode as ArduCopter would; False (mode unchanged) when refused."""
        try:
            new = CopterMode(mode)
        except ValueError:
            return False
        if new in POSITION_MODES and not self._origin_set:
            self._text(f"Mode change to {new.name} failed: requires position", "warning")
            return False
        if new == CopterMode.AUTO and len(self.mission) < 2:
            self._text("Mode change to AUTO failed: no mission", "warning")
            return False
        if new == CopterMode.AUTO and self.armed and self.landed and not self._starts_with_takeoff():
            self._text("Auto: Missing Takeoff Cmd", "warning")
            return False
        if new == self.mode and not failsafe:
            return True
        self.mode = new
        self._rtl = None
        self._landing = False
        self._guided_target = None
        if new != CopterMode.AUTO:
            self._nav = None
        if not self.armed:
            return True
        if new == CopterMode.AUTO:
            # on the ground AUTO waits for a takeoff signal (GUIDED takeoff or MISSION_START set auto-armed)
            if self._auto_armed or not self.landed:
                self._auto_armed = True
                self._mission_start_or_resume()
        elif new == CopterMode.RTL:
            if self.landed:
                self._disarm()
            else:
                self._rtl_begin()
        elif new == CopterMode.LAND:
            if self.landed:
                self._disarm()
            else:
                self._landing = True
        elif new == CopterMode.GUIDED:
            self._guided_target = (self.n_m, self.e_m, self.altitude_above_home_m) if not self.landed else None
        return True

    def arm(self, *, force: bool = False) -> tuple[bool, str | None]:
        """Arm the motors; (False, reason) with ArduPilot's PreArm/Arm wording when refused."""
        if self.armed:
            return True, None
        if not force:
            failure = self.prearm_failure()
            if failure:
                return False, failure
            # the pre-arm checks pass once the origin is set; the arming check wants the EKF's estimate
            if not self._ekf_ready:
                return False, "Arm: Need Position Estimate"
            if self.mode not in ARMABLE_MODES:
                return False, "Arm: Mode not armable"
        self.armed = True
        self.landed = True
        self._on_ground_since_s = self.time_s
        self._auto_armed = False
        self.failsafe_battery = 0 if self.battery_remaining_percent > self.config.battery_low_percent else 1
        return True, None

    def disarm(self, *, force: bool = False) -> bool:
        if not self.armed:
            return True
        if not self.landed and not force:
            return False
        if not self.landed:
            self._falling = True
        self._disarm()
        return True

    def takeoff(self, altitude_m: float) -> bool:
        """MAV_CMD_NAV_TAKEOFF in GUIDED: climb to altitude_m above home; refused unless armed on the ground."""
        if not self.armed or not self.landed or self.mode != CopterMode.GUIDED or altitude_m <= 0.5:
            return False
        self._guided_target = (self.n_m, self.e_m, altitude_m)
        self._taking_off = True
        self._auto_armed = True
        return True

    def mission_start(self, first_seq: int = 0) -> bool:
        """MAV_CMD_MISSION_START: AUTO and start now, taking off when on the ground (sets auto-armed)."""
        if not self.armed or len(self.mission) < 2:
            return False
        if not self.set_mode(CopterMode.AUTO):
            return False
        self._auto_armed = True
        if first_seq >= 1:
            self._next_scan_seq = first_seq
            self.mission_state = MissionState.NOT_STARTED
        self._mission_start_or_resume()
        return True

    def guided_goto(self, lon: float, lat: float, *, altitude_m: float) -> bool:
        """GUIDED reposition (DO_REPOSITION) to lon/lat at altitude_m above home; refused unless flying GUIDED."""
        if self.mode != CopterMode.GUIDED or not self.armed or self.landed:
            return False
        n, e = self.lonlat_to_ne(lon, lat)
        self._guided_target = (n, e, altitude_m)
        return True

    def set_speed(self, speed_m_s: float) -> None:
        if speed_m_s > 0:
            self.speed_m_s = min(speed_m_s, 20.0)

    def set_home(self, lon: float | None = None, lat: float | None = None, *, alt_amsl_m: float | None = None) -> None:
        """DO_SET_HOME: the given point, or where the vehicle is when lon/lat are None."""
        if lon is None or lat is None:
            self.home_ne_m = (self.n_m, self.e_m)
        else:
            self.home_ne_m = self.lonlat_to_ne(lon, lat)
        if alt_amsl_m is not None:
            self.home_alt_amsl_m = alt_amsl_m
        self.home_set = True
        self.mission[0] = self._home_item()
        self._events.append(HomeChanged())

    def set_current(self, seq: int) -> bool:
        if not 1 <= seq < len(self.mission):
            return False
        self.current_seq = seq
        self._next_scan_seq = seq
        if self.mode == CopterMode.AUTO and self.armed and not self.landed:
            self._nav = None
            self._rtl = None
            self._landing = False
            self.mission_state = MissionState.ACTIVE
            self._advance_from(seq)
        else:
            self.mission_state = MissionState.NOT_STARTED
        self._events.append(CurrentChanged(seq))
        return True

    def set_trigger_distance(self, distance_m: float, *, trigger_now: bool = False) -> None:
        """DO_SET_CAM_TRIGG_DIST: accepted always; does nothing before boot or without a camera."""
        if not self._booted or not self.config.camera_enabled:
            return
        self.trigger_distance_m = max(0.0, distance_m)
        self._last_trigger_ne = None
        if trigger_now:
            self.take_picture()

    def start_interval_capture(self, interval_s: float, count: int) -> None:
        if not self._booted or not self.config.camera_enabled:
            return
        if interval_s <= 0 or count == 1:
            self.take_picture()
            return
        self._interval_s = interval_s
        self._interval_left = count if count > 0 else -1
        self._next_interval_s = self.time_s

    def stop_interval_capture(self) -> None:
        self._interval_s = 0.0
        self._interval_left = 0

    def take_picture(self) -> bool:
        """One photo now; a trigger less than camera_min_interval_s after the last is dropped silently."""
        return self._take_picture_at(self.n_m, self.e_m, self.altitude_above_home_m, self.time_s)

    def clear_mission(self) -> bool:
        if self.mode == CopterMode.AUTO and self.armed and self.mission_state == MissionState.ACTIVE:
            return False
        self.mission = [self._home_item()]
        self.mission_state = MissionState.NO_MISSION
        self.current_seq = 0
        self._next_scan_seq = 1
        return True

    def mission_changed(self) -> None:
        """Called after uploads: a stored mission exists (or not) and a fresh one starts from seq 1."""
        if self.mission_state != MissionState.ACTIVE:
            self.mission_state = MissionState.NOT_STARTED if len(self.mission) > 1 else MissionState.NO_MISSION
            self._next_scan_seq = 1

    def set_fence(self, items: list[StoredItem]) -> None:
        """Commit a fence upload (vertex lists are validated by the protocol layer)."""
        fence = _Fence()
        i = 0
        while i < len(items):
            item = items[i]
            if item.command in (C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                                C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
                count = int(item.params[0])
                poly = [self.lonlat_to_ne(it.lon_e7 / 1e7, it.lat_e7 / 1e7) for it in items[i:i + count]]
                if item.command == C.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION:
                    fence.inclusions.append(poly)
                else:
                    fence.exclusions.append(poly)
                i += max(count, 1)
                continue
            if item.command in (C.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION, C.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION):
                cn, ce = self.lonlat_to_ne(item.lon_e7 / 1e7, item.lat_e7 / 1e7)
                fence.circles.append((cn, ce, item.params[0],
                                      item.command == C.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION))
            i += 1
        self.fence_items = list(items)
        self.fence = fence
        self.fence_breached = False

    # ---- failsafes from outside ----------------------------------------------------------------

    def gcs_lost(self) -> None:
        """GCS heartbeats stopped (the transport times this on the wall clock): RTL, or disarm on the ground."""
        if self.failsafe_gcs or not self.armed:
            return
        self.failsafe_gcs = True
        self._text("GCS Failsafe", "critical")
        if self.landed:
            self._disarm()
        elif self.mode not in (CopterMode.RTL, CopterMode.LAND):
            self._failsafe_rtl()

    def gcs_regained(self) -> None:
        if self.failsafe_gcs:
            self.failsafe_gcs = False
            self._text("GCS Failsafe Cleared", "critical")

    # ---- stepping -------------------------------------------------------------------------------

    def step(self, dt_s: float) -> None:
        """Advance the vehicle by dt_s simulated seconds."""
        prev = (self.n_m, self.e_m, self.altitude_above_home_m, self.time_s)
        self.time_s += dt_s
        self._boot_progress()
        if self.armed or self._falling:
            self._navigate()
            self._move(dt_s)
            self._ground_checks()
            self._fence_check()
        else:
            self.vn_m_s = self.ve_m_s = self.vu_m_s = 0.0
            self.roll_deg = self.pitch_deg = 0.0
        self._battery(dt_s)
        self._camera(prev)
        self.flush_reached()

    def _reached(self, seq: int) -> None:
        self._reached_pending = seq

    def flush_reached(self) -> None:
        """Announce the one pending MISSION_ITEM_REACHED (the last item finished since the previous flush)."""
        if self._reached_pending is not None:
            self._events.append(ItemReached(self._reached_pending))
            self._reached_pending = None

    def _boot_progress(self) -> None:
        cfg = self.config
        if not self._booted and self.time_s >= cfg.boot_s:
            self._booted = True
            self._text("ArduPilot Ready")
        if not self._gps_fixed and self.time_s >= cfg.gps_fix_s:
            self._gps_fixed = True
            self._text("GPS 1: detected u-blox")
        if not self._origin_set and self.time_s >= cfg.origin_s and self._gps_fixed:
            self._origin_set = True
            self._text("EKF3 IMU0 origin set")
            self.set_home(alt_amsl_m=cfg.home_alt_amsl_m)
        if not self._ekf_ready and self.time_s >= cfg.ekf_ready_s and self._origin_set:
            self._ekf_ready = True
            self._text("EKF3 IMU0 is using GPS")
        if self._booted and not self.armed and self.time_s >= self._next_prearm_report_s:
            self._next_prearm_report_s = self.time_s + cfg.prearm_report_interval_s
            failure = self.prearm_failure()
            if failure:
                self._text(failure, "critical")

    def _starts_with_takeoff(self) -> bool:
        for item in self.mission[1:]:
            if item.command in NAV_COMMANDS:
                return item.command == C.MAV_CMD_NAV_TAKEOFF
        return False

    def _home_item(self) -> StoredItem:
        lon, lat = self.home_lonlat
        return StoredItem(C.MAV_CMD_NAV_WAYPOINT, C.MAV_FRAME_GLOBAL, (0.0, 0.0, 0.0, 0.0),
                          round(lat * 1e7), round(lon * 1e7), self.home_alt_amsl_m)

    # ---- mission execution ---------------------------------------------------------------------

    def _mission_start_or_resume(self) -> None:
        if self.mission_state == MissionState.ACTIVE and self._nav is not None:
            return
        if self.mission_state in (MissionState.COMPLETE, MissionState.NO_MISSION):
            self._next_scan_seq = 1
        self.mission_state = MissionState.ACTIVE
        self._advance_from(self._next_scan_seq)

    def _advance_from(self, seq: int) -> None:
        """Run DO items up to the next navigation item at or after seq and start that item."""
        i = seq
        while i < len(self.mission):
            item = self.mission[i]
            if item.command in NAV_COMMANDS:
                self._start_nav(i, item)
                return
            self._run_do(i, item)
            i += 1
        self._mission_complete()

    def _start_nav(self, seq: int, item: StoredItem) -> None:
        self.current_seq = seq
        self._events.append(CurrentChanged(seq))
        nav = _Nav(seq=seq, command=item.command)
        cmd = item.command
        alt = self._item_alt(item)
        if cmd == C.MAV_CMD_NAV_TAKEOFF:
            nav.target = (self.n_m, self.e_m, max(alt, self.altitude_above_home_m))
            self._taking_off = self.landed or self.altitude_above_home_m < alt - 1.0
        elif cmd in (C.MAV_CMD_NAV_WAYPOINT, C.MAV_CMD_NAV_LOITER_UNLIM, C.MAV_CMD_NAV_LOITER_TIME,
                     C.MAV_CMD_NAV_LOITER_TURNS):
            n, e = self._item_ne(item)
            # ArduPilot keeps the current altitude for an item with altitude 0
            nav.target = (n, e, alt if item.altitude_m != 0 else self.altitude_above_home_m)
            if cmd in (C.MAV_CMD_NAV_WAYPOINT, C.MAV_CMD_NAV_LOITER_TIME):
                nav.hold_s = max(0.0, item.params[0])
            elif cmd == C.MAV_CMD_NAV_LOITER_TURNS:
                nav.orbit_radius_m = max(abs(item.params[2]), 5.0)
                nav.orbit_left_rad = 2 * math.pi * max(item.params[0], 0.0)
                nav.orbit_center = (n, e)
            else:
                nav.hold_s = math.inf
        elif cmd == C.MAV_CMD_NAV_LAND:
            if item.has_position:
                n, e = self._item_ne(item)
                nav.target = (n, e, self.altitude_above_home_m)
            else:
                nav.target = None
                self._landing = True
        elif cmd == C.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            self._rtl_begin()
        elif cmd == C.MAV_CMD_NAV_DELAY:
            nav.hold_s = max(0.0, item.params[0])
            nav.target = (self.n_m, self.e_m, self.altitude_above_home_m)
            nav.arrived_at_s = self.time_s
        self._nav = nav
        # DO items after this one run when it completes (AP_Mission starts them on the way to the next nav item)
        self._next_scan_seq = seq + 1

    def _item_alt(self, item: StoredItem) -> float:
        return item.altitude_m if item.relative else item.altitude_m - self.home_alt_amsl_m

    def _item_ne(self, item: StoredItem) -> tuple[float, float]:
        if not item.has_position:
            return self.n_m, self.e_m
        return self.lonlat_to_ne(item.lon_e7 / 1e7, item.lat_e7 / 1e7)

    def _run_do(self, seq: int, item: StoredItem) -> None:
        cmd, p = item.command, item.params
        if cmd == C.MAV_CMD_DO_SET_CAM_TRIGG_DIST:
            self.set_trigger_distance(p[0], trigger_now=p[2] >= 1.0)
        elif cmd == C.MAV_CMD_DO_DIGICAM_CONTROL:
            # DO_DIGICAM_CONTROL's "shoot" is param5, which a mission item carries in x
            if item.lat_e7 == 1 or p[3] == 1.0:
                self.take_picture()
        elif cmd == C.MAV_CMD_DO_CHANGE_SPEED:
            self.set_speed(p[1])
        elif cmd == C.MAV_CMD_DO_SET_HOME:
            if p[0] >= 1.0:
                self.set_home()
            else:
                self.set_home(item.lon_e7 / 1e7, item.lat_e7 / 1e7, alt_amsl_m=item.altitude_m)
        elif cmd == C.MAV_CMD_IMAGE_START_CAPTURE:
            self.start_interval_capture(p[1], int(p[2]))
        elif cmd == C.MAV_CMD_IMAGE_STOP_CAPTURE:
            self.stop_interval_capture()
        elif cmd == C.MAV_CMD_DO_FENCE_ENABLE:
            self.enable_fence(p[0] >= 1.0, int(p[1]))
        if cmd in REPORTED_DO_COMMANDS:
            self._reached(seq)

    def _nav_done(self) -> None:
        nav = self._nav
        if nav is None:
            return
        if nav.arrived_at_s is None or nav.command != C.MAV_CMD_NAV_WAYPOINT or nav.hold_s == 0:
            self._reached(nav.seq)
        self._nav = None
        self._taking_off = False
        self._advance_from(self._next_scan_seq)

    def _mission_complete(self) -> None:
        self.mission_state = MissionState.COMPLETE
        self._nav = None
        self._next_scan_seq = 1
        self._guided_target = (self.n_m, self.e_m, self.altitude_above_home_m)
        if self.landed:
            self._disarm()

    def _navigate(self) -> None:
        """Choose the position target for this step from the mode and the current command."""
        if self.mode == CopterMode.AUTO and self._auto_armed and self._nav is not None:
            self._navigate_mission(self._nav)
        elif self._rtl is not None:
            self._rtl_update()

    def _navigate_mission(self, nav: _Nav) -> None:
        cmd = nav.command
        if cmd == C.MAV_CMD_NAV_TAKEOFF:
            assert nav.target is not None
            if self.altitude_above_home_m >= nav.target[2] - 1.0:
                self._nav_done()
        elif cmd == C.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            self._rtl_update()
        elif cmd == C.MAV_CMD_NAV_LAND:
            if nav.target is not None and math.hypot(nav.target[0] - self.n_m, nav.target[1] - self.e_m) <= 1.0:
                nav.target = None
                self._landing = True
        elif cmd == C.MAV_CMD_NAV_LOITER_TURNS:
            self._orbit(nav)
        elif cmd == C.MAV_CMD_NAV_DELAY:
            if self.time_s - (nav.arrived_at_s or self.time_s) >= nav.hold_s:
                self._nav_done()
        elif nav.target is not None:
            d = math.hypot(nav.target[0] - self.n_m, nav.target[1] - self.e_m)
            if nav.arrived_at_s is None and d <= self.config.wp_radius_m and abs(nav.target[2] - self.altitude_above_home_m) <= 1.0:
                nav.arrived_at_s = self.time_s
                if nav.hold_s > 0:
                    self._reached(nav.seq)
            if nav.arrived_at_s is not None and self.time_s - nav.arrived_at_s >= nav.hold_s:
                self._nav_done()

    def _orbit(self, nav: _Nav) -> None:
        cn, ce = nav.orbit_center
        r = nav.orbit_radius_m
        if nav.orbit_angle_rad is None:
            bearing = math.atan2(self.e_m - ce, self.n_m - cn) if (self.n_m, self.e_m) != (cn, ce) else 0.0
            edge = (cn + r * math.cos(bearing), ce + r * math.sin(bearing))
            assert nav.target is not None
            nav.target = (edge[0], edge[1], nav.target[2])
            if math.hypot(edge[0] - self.n_m, edge[1] - self.e_m) <= self.config.wp_radius_m:
                nav.orbit_angle_rad = bearing
            return
        if nav.orbit_left_rad <= 0:
            self._nav_done()

    def _orbit_advance(self, nav: _Nav, dt_s: float) -> None:
        if nav.orbit_angle_rad is None or nav.target is None:
            return
        step = min(self.speed_m_s * dt_s / nav.orbit_radius_m, nav.orbit_left_rad)
        nav.orbit_angle_rad += step
        nav.orbit_left_rad -= step
        cn, ce = nav.orbit_center
        nav.target = (cn + nav.orbit_radius_m * math.cos(nav.orbit_angle_rad),
                      ce + nav.orbit_radius_m * math.sin(nav.orbit_angle_rad), nav.target[2])

    # ---- RTL --------------------------------------------------------------------------------------

    def _rtl_begin(self) -> None:
        alt = max(self.config.rtl_altitude_m, self.altitude_above_home_m)
        phase = "climb" if self.altitude_above_home_m < alt - 0.5 else "return"
        self._rtl = _Rtl(phase=phase, altitude_m=alt)
        self._rtl_hold = (self.n_m, self.e_m)
        self._landing = False

    def _rtl_update(self) -> None:
        rtl = self._rtl
        if rtl is None:
            return
        hn, he = self.home_ne_m
        if rtl.phase == "climb" and self.altitude_above_home_m >= rtl.altitude_m - 0.5:
            rtl.phase = "return"
        if rtl.phase == "return" and math.hypot(hn - self.n_m, he - self.e_m) <= 1.0:
            rtl.phase = "loiter"
            rtl.loiter_until_s = self.time_s + self.config.rtl_loiter_s
        if rtl.phase == "loiter" and self.time_s >= rtl.loiter_until_s:
            rtl.phase = "land"
            self._landing = True

    def _target(self) -> tuple[float, float, float] | None:
        if self._rtl is not None:
            hn, he = self.home_ne_m
            if self._rtl.phase == "climb":
                return (*self._rtl_hold, self._rtl.altitude_m)
            return (hn, he, self._rtl.altitude_m)
        if self.mode == CopterMode.AUTO and self._nav is not None and self._auto_armed:
            return self._nav.target
        return self._guided_target

    # ---- kinematics -----------------------------------------------------------------------------

    def _move(self, dt_s: float) -> None:
        cfg = self.config
        if self._falling:
            self.vn_m_s = self.ve_m_s = 0.0
            self.vu_m_s = -10.0
            self.altitude_above_home_m = max(0.0, self.altitude_above_home_m + self.vu_m_s * dt_s)
            if self.altitude_above_home_m <= 0.0:
                self._falling = False
                self.landed = True
                self.vu_m_s = 0.0
            return
        target = self._target()
        if self.landed and (self._landing or target is None or target[2] <= 0.5):
            self.vn_m_s = self.ve_m_s = self.vu_m_s = 0.0
            return
        if target is None:
            target = (self.n_m, self.e_m, self.altitude_above_home_m)
        if self.mode == CopterMode.AUTO and self._nav is not None:
            self._orbit_advance(self._nav, dt_s)
        tn, te, talt = target
        # horizontal: accelerate toward the target, braking to arrive (v = sqrt(2 a d))
        dn, de = tn - self.n_m, te - self.e_m
        dist = math.hypot(dn, de)
        if self._landing:
            want_n = want_e = 0.0
        else:
            speed = min(self.speed_m_s, math.sqrt(2 * cfg.accel_m_s2 * dist), dist / dt_s) if dist > 1e-3 else 0.0
            want_n, want_e = (dn / dist * speed, de / dist * speed) if dist > 1e-3 else (0.0, 0.0)
        dvn, dve = want_n - self.vn_m_s, want_e - self.ve_m_s
        dv = math.hypot(dvn, dve)
        max_dv = 2 * cfg.accel_m_s2 * dt_s
        if dv > max_dv:
            dvn, dve = dvn / dv * max_dv, dve / dv * max_dv
        self._accel_ne = (dvn / dt_s, dve / dt_s)
        self.vn_m_s += dvn
        self.ve_m_s += dve
        self.n_m += self.vn_m_s * dt_s
        self.e_m += self.ve_m_s * dt_s
        # vertical
        if self._landing:
            rate = cfg.land_speed_m_s if self.altitude_above_home_m <= cfg.land_slow_below_m else cfg.descent_speed_m_s
            self.vu_m_s = -rate
        else:
            dz = talt - self.altitude_above_home_m
            self.vu_m_s = max(-cfg.descent_speed_m_s, min(cfg.climb_speed_m_s, dz * 1.5))
        self.altitude_above_home_m += self.vu_m_s * dt_s
        if self.landed and self.altitude_above_home_m > 0.05:
            self.landed = False
        if self._taking_off and self.mode == CopterMode.GUIDED and self.altitude_above_home_m >= talt - 1.0:
            self._taking_off = False
        if self.altitude_above_home_m <= 0.0:
            self.altitude_above_home_m = 0.0
            if self.vu_m_s < 0 and not self.landed:
                self._touchdown()
        self._attitude(dt_s)

    def _attitude(self, dt_s: float) -> None:
        speed = self.ground_speed_m_s
        if speed > 1.0:
            want = math.degrees(math.atan2(self.ve_m_s, self.vn_m_s)) % 360.0
            diff = (want - self.yaw_deg + 180.0) % 360.0 - 180.0
            limit = self.config.yaw_rate_deg_s * dt_s
            self.yaw_deg = (self.yaw_deg + max(-limit, min(limit, diff))) % 360.0
        if self.landed:
            self.roll_deg = self.pitch_deg = 0.0
            return
        an, ae = self._accel_ne
        van, vae = self.vn_m_s - self.wind_ne_m_s[0], self.ve_m_s - self.wind_ne_m_s[1]
        va = math.hypot(van, vae)
        tn = (an + _DRAG_PER_M * va * van) / GRAVITY_M_S2
        te = (ae + _DRAG_PER_M * va * vae) / GRAVITY_M_S2
        yaw = math.radians(self.yaw_deg)
        forward = tn * math.cos(yaw) + te * math.sin(yaw)
        right = -tn * math.sin(yaw) + te * math.cos(yaw)
        self.pitch_deg = -math.degrees(math.atan(forward))
        self.roll_deg = math.degrees(math.atan(right))

    def _touchdown(self) -> None:
        self.landed = True
        self.vn_m_s = self.ve_m_s = self.vu_m_s = 0.0
        self._on_ground_since_s = self.time_s
        nav = self._nav
        if self.mode == CopterMode.AUTO and nav is not None and nav.command in (
                C.MAV_CMD_NAV_LAND, C.MAV_CMD_NAV_RETURN_TO_LAUNCH):
            self._landing = False
            self._rtl = None
            self._nav_done()
            self._disarm()
        elif self._landing or self.mode in (CopterMode.LAND, CopterMode.RTL):
            self._landing = False
            self._rtl = None
            self._disarm()

    def _ground_checks(self) -> None:
        """ArduCopter disarms a copter left armed on the ground (DISARM_DELAY)."""
        if not self.armed or not self.landed:
            return
        if self._taking_off or (self._guided_target is not None and self._guided_target[2] > 0.5):
            self._on_ground_since_s = self.time_s
            return
        if self.mode == CopterMode.AUTO and self._auto_armed and self._nav is not None:
            self._on_ground_since_s = self.time_s
            return
        if self.time_s - self._on_ground_since_s >= self.config.disarm_delay_s:
            self._disarm()

    def _disarm(self) -> None:
        self.armed = False
        self._taking_off = False
        self._landing = False
        self._guided_target = None
        self._auto_armed = False
        self._rtl = None
        if self.mode == CopterMode.AUTO and self.mission_state == MissionState.ACTIVE:
            self.mission_state = MissionState.PAUSED
        self.vn_m_s = self.ve_m_s = 0.0

    def _failsafe_rtl(self) -> None:
        if not self.set_mode(CopterMode.RTL, failsafe=True):
            self.set_mode(CopterMode.LAND, failsafe=True)

    def _fence_breach(self) -> str | None:
        """The first enabled fence the vehicle is outside of, as ArduPilot names it, or None."""
        types = self.fence_enabled_types
        margin = self.params.get("FENCE_MARGIN", 0.0)
        if FenceType.ALT_MAX in types and self.altitude_above_home_m > self.params.get("FENCE_ALT_MAX", math.inf):
            return "Max altitude"
        hn, he = self.home_ne_m
        if FenceType.CIRCLE in types and \
                math.hypot(self.n_m - hn, self.e_m - he) > self.params.get("FENCE_RADIUS", math.inf) - margin:
            return "Circle"
        if FenceType.POLYGON in types and not self.fence.empty and not self.fence.contains(self.n_m, self.e_m):
            return "Polygon"
        return None

    def _fence_check(self) -> None:
        if not self.fence_enabled or self.landed:
            return
        breach = self._fence_breach()
        if breach is None:
            self.fence_breached = False
            return
        if self.fence_breached:
            return
        self.fence_breached = True
        self._text(f"{breach} fence breached", "critical")
        if self.params.get("FENCE_ACTION", 1.0) != 0.0 and self.mode not in (CopterMode.RTL, CopterMode.LAND):
            self._failsafe_rtl()

    # ---- battery -----------------------------------------------------------------------------------

    def _battery(self, dt_s: float) -> None:
        cfg = self.config
        if not self.armed:
            self.current_a = 0.6
        elif self.landed:
            self.current_a = 2.0
        else:
            air = self.airspeed_m_s / 10.0
            climb = max(self.vu_m_s, 0.0) / max(cfg.climb_speed_m_s, 0.1)
            self.current_a = cfg.hover_current_a * (1.0 + 0.25 * air * air + 0.3 * climb)
        self.consumed_mah += self.current_a * dt_s / 3.6
        if not self.armed or self.landed:
            return
        pct = self.battery_remaining_percent
        if pct <= cfg.battery_critical_percent and self.failsafe_battery < 2:
            self.failsafe_battery = 2
            self._text(f"Battery 1 is critical {self.battery_voltage_v:.2f}V used {self.consumed_mah:.0f} mAh",
                       "critical")
            if self.mode != CopterMode.LAND:
                self.set_mode(CopterMode.LAND, failsafe=True)
        elif pct <= cfg.battery_low_percent and self.failsafe_battery < 1:
            self.failsafe_battery = 1
            self._text(f"Battery 1 is low {self.battery_voltage_v:.2f}V used {self.consumed_mah:.0f} mAh",
                       "critical")
            if self.mode not in (CopterMode.RTL, CopterMode.LAND):
                self._failsafe_rtl()

    # ---- camera -------------------------------------------------------------------------------------

    def _camera(self, prev: tuple[float, float, float, float]) -> None:
        if self._interval_s > 0 and self._interval_left != 0 and self.time_s >= self._next_interval_s:
            self._next_interval_s += self._interval_s
            if self._interval_left > 0:
                self._interval_left -= 1
            self.take_picture()
        if self.trigger_distance_m <= 0:
            return
        if self._last_trigger_ne is None:
            self._last_trigger_ne = (prev[0], prev[1])
        pn, pe, palt, pt = prev
        for _ in range(100):
            ln, le = self._last_trigger_ne
            d_now = math.hypot(self.n_m - ln, self.e_m - le)
            if d_now < self.trigger_distance_m:
                return
            d_prev = math.hypot(pn - ln, pe - le)
            frac = 1.0 if d_now - d_prev <= 1e-9 else min(1.0, max(0.0, (self.trigger_distance_m - d_prev)
                                                                   / (d_now - d_prev)))
            tn = pn + (self.n_m - pn) * frac
            te = pe + (self.e_m - pe) * frac
            talt = palt + (self.altitude_above_home_m - palt) * frac
            tt = pt + (self.time_s - pt) * frac
            self._last_trigger_ne = (tn, te)
            self._take_picture_at(tn, te, talt, tt)
            pn, pe, palt, pt = tn, te, talt, tt

    def _take_picture_at(self, n_m: float, e_m: float, alt_m: float, t_s: float) -> bool:
        if not self._booted or not self.config.camera_enabled:
            return False
        if t_s - self._last_capture_s < self.config.camera_min_interval_s:
            return False
        self._last_capture_s = t_s
        self.image_index += 1
        lon, lat = self.ne_to_lonlat(n_m, e_m)
        pose = GeoPose(lon=lon, lat=lat, altitude_m=alt_m, yaw_deg=self.yaw_deg, pitch_deg=-90.0, roll_deg=0.0)
        self._events.append(CaptureRecord(
            index=self.image_index, captured_at=self.epoch_utc + timedelta(seconds=t_s), time_boot_s=t_s,
            pose=pose, altitude_amsl_m=self.config.home_alt_amsl_m + alt_m,
            vehicle_roll_deg=self.roll_deg, vehicle_pitch_deg=self.pitch_deg))
        return True
