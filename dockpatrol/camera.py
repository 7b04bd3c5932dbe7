"""Pinhole camera model and pose: GSD, footprint, pixel ⇄ ground in a metric frame.

One implementation serves the planner (GSD → altitude), the twin's renderer (ground → pixel)
and georeferencing (pixel → ground), so they cannot disagree on conventions:
image x right, y down, pixel (i, j) covers [i, i+1) × [j, j+1); yaw clockwise from north
(0 = image top points north when nadir); gimbal pitch 0 = horizon, -90 = straight down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from dockpatrol.errors import GeorefError, InvalidInput
from dockpatrol.geo import LocalProjection


class CameraMount(StrEnum):
    """How a camera is carried: on a stabilised gimbal (its own attitude) or fixed to the airframe (the vehicle's)."""

    GIMBAL = "gimbal"
    #: Looking straight down from the airframe, image top toward the nose: it tilts as the vehicle banks.
    FIXED = "fixed"


@dataclass(frozen=True)
class CameraModel:
    """An ideal pinhole camera (square pixels, centred principal point, no distortion) and how it is mounted."""

    width_px: int = 4000
    height_px: int = 3000
    hfov_deg: float = 73.7
    name: str = "generic-4k"
    mount: CameraMount = CameraMount.GIMBAL
    source: str = ""  # where the optics came from (a tag, a table, an override), recorded with frames

    def __post_init__(self) -> None:
        if self.width_px <= 0 or self.height_px <= 0:
            raise InvalidInput(f"camera size must be positive, got {self.width_px}x{self.height_px}")
        if not 1.0 <= self.hfov_deg <= 170.0:
            raise InvalidInput(f"camera hfov_deg must be within 1..170, got {self.hfov_deg}")
        if self.mount not in {m.value for m in CameraMount}:
            raise InvalidInput(f"camera mount must be one of {', '.join(CameraMount)}, got {self.mount!r}")
        object.__setattr__(self, "mount", CameraMount(self.mount))  # a card read from JSON holds the string

    @property
    def focal_px(self) -> float:
        """Focal length in pixels."""
        return (self.width_px / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)

    @property
    def vfov_deg(self) -> float:
        return math.degrees(2.0 * math.atan((self.height_px / 2.0) / self.focal_px))

    def gsd_m(self, altitude_m: float) -> float:
        """Ground sample distance (metres per pixel) at nadir from altitude_m above flat ground."""
        return altitude_m / self.focal_px

    def altitude_for_gsd_m(self, gsd_m: float) -> float:
        """Altitude above ground at which a nadir frame has the given GSD."""
        if gsd_m <= 0:
            raise InvalidInput(f"target GSD must be positive, got {gsd_m}")
        return gsd_m * self.focal_px

    def footprint_m(self, altitude_m: float) -> tuple[float, float]:
        """Nadir footprint (width_m across image x, height_m across image y)."""
        g = self.gsd_m(altitude_m)
        return self.width_px * g, self.height_px * g

    def scaled(self, width_px: int) -> CameraModel:
        """Same optics, another resolution (keeps aspect ratio and field of view)."""
        height_px = round(self.height_px * width_px / self.width_px)
        return replace(self, width_px=width_px, height_px=height_px)


@dataclass(frozen=True)
class CameraPose:
    """Camera position in a metric frame (x east, y north, z up, metres) and its attitude."""

    x_m: float
    y_m: float
    z_m: float
    yaw_deg: float = 0.0
    pitch_deg: float = -90.0
    roll_deg: float = 0.0

    def axes(self) -> np.ndarray:
        """3×3 rows: image-right, image-down and optical-axis unit vectors in the metric frame."""
        yaw, pitch, roll = (math.radians(a) for a in (self.yaw_deg, self.pitch_deg, self.roll_deg))
        heading = np.array([math.sin(yaw), math.cos(yaw), 0.0])
        right = np.array([math.cos(yaw), -math.sin(yaw), 0.0])
        up = np.array([0.0, 0.0, 1.0])
        forward = math.cos(pitch) * heading + math.sin(pitch) * up
        down = math.sin(pitch) * heading - math.cos(pitch) * up
        x_axis = math.cos(roll) * right + math.sin(roll) * down
        y_axis = -math.sin(roll) * right + math.cos(roll) * down
        return np.stack([x_axis, y_axis, forward])


def pixels_to_ground(
    camera: CameraModel, pose: CameraPose, u_px: np.ndarray, v_px: np.ndarray, *, ground_z_m: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Intersect the rays through pixel coordinates with the plane z = ground_z_m."""
    u = np.asarray(u_px, dtype=float)
    v = np.asarray(v_px, dtype=float)
    f = camera.focal_px
    axes = pose.axes()
    dx = (u - camera.width_px / 2.0) / f
    dy = (v - camera.height_px / 2.0) / f
    rays = dx[..., None] * axes[0] + dy[..., None] * axes[1] + axes[2]
    dz = rays[..., 2]
    if np.any(dz >= -1e-9):
        raise GeorefError("a pixel's ray does not reach the ground (at or above the horizon)")
    t = (ground_z_m - pose.z_m) / dz
    if np.any(t <= 0):
        raise GeorefError(f"camera at z={pose.z_m:.1f} m is not above the ground plane z={ground_z_m:.1f} m")
    return pose.x_m + t * rays[..., 0], pose.y_m + t * rays[..., 1]


def ground_to_pixels(
    camera: CameraModel, pose: CameraPose, x_m: np.ndarray, y_m: np.ndarray, z_m: np.ndarray | float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Project metric points into continuous pixel coordinates; points behind the camera get NaN."""
    d = np.stack(
        np.broadcast_arrays(
            np.asarray(x_m, dtype=float) - pose.x_m,
            np.asarray(y_m, dtype=float) - pose.y_m,
            np.asarray(z_m, dtype=float) - pose.z_m,
        ),
        axis=-1,
    )
    cam = d @ pose.axes().T
    depth = cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(depth > 0, camera.width_px / 2.0 + camera.focal_px * cam[..., 0] / depth, np.nan)
        v = np.where(depth > 0, camera.height_px / 2.0 + camera.focal_px * cam[..., 1] / depth, np.nan)
    return u, v


def pose_from_axes(axes: np.ndarray) -> tuple[float, float, float]:
    """(yaw_deg, pitch_deg, roll_deg) of a CameraPose whose ``axes()`` are ``axes`` (rows: image right, image
    down, optical axis; metric frame x east, y north, z up); straight down, the roll is folded into the yaw."""
    x_axis, y_axis, forward = (np.asarray(a, dtype=float) for a in axes)
    pitch = math.asin(max(-1.0, min(1.0, float(forward[2]))))
    horizontal = math.hypot(float(forward[0]), float(forward[1]))
    if horizontal < 1e-9:
        # nadir or zenith: heading and roll are one rotation; keep roll 0 and read the heading off image-down
        heading = -y_axis if pitch < 0 else y_axis
        return math.degrees(math.atan2(heading[0], heading[1])) % 360.0, math.degrees(pitch), 0.0
    h = np.array([forward[0], forward[1], 0.0]) / horizontal
    yaw = math.atan2(h[0], h[1])
    right0 = np.array([math.cos(yaw), -math.sin(yaw), 0.0])
    down0 = math.sin(pitch) * h - math.cos(pitch) * np.array([0.0, 0.0, 1.0])
    roll = math.atan2(float(x_axis @ down0), float(x_axis @ right0))
    return math.degrees(yaw) % 360.0, math.degrees(pitch), math.degrees(roll)


def camera_attitude(mount: CameraMount, *, vehicle_yaw_deg: float, vehicle_roll_deg: float,
                    vehicle_pitch_deg: float, gimbal_pitch_deg: float = -90.0,
                    gimbal_roll_deg: float = 0.0) -> tuple[float, float, float]:
    """The camera's (yaw_deg, pitch_deg, roll_deg) in CameraPose terms.

    A gimbal holds its own pitch and roll whatever the airframe does (only the heading follows the
    vehicle); a fixed camera looks along the body's down axis, so the vehicle's roll (right wing
    down positive) and pitch (nose up positive), as CAMERA_FEEDBACK reports them, tilt it.
    """
    if mount == CameraMount.GIMBAL:
        return vehicle_yaw_deg % 360.0, gimbal_pitch_deg, gimbal_roll_deg
    psi, theta, phi = (math.radians(a) for a in (vehicle_yaw_deg, vehicle_pitch_deg, vehicle_roll_deg))
    cz, sz, cy, sy, cx, sx = math.cos(psi), math.sin(psi), math.cos(theta), math.sin(theta), math.cos(phi), math.sin(phi)
    body_to_ned = (np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
                   @ np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
                   @ np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]]))
    ned_to_enu = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    to_enu = ned_to_enu @ body_to_ned
    # image right = right wing (body y), image down = toward the tail (-body x), optical axis = body down (z)
    axes = np.stack([to_enu @ np.array([0.0, 1.0, 0.0]), to_enu @ np.array([-1.0, 0.0, 0.0]),
                     to_enu @ np.array([0.0, 0.0, 1.0])])
    return pose_from_axes(axes)


def off_nadir_deg(pitch_deg: float) -> float:
    """How far a camera's optical axis is from straight down (CameraPose pitch; roll turns about the axis)."""
    return abs(90.0 + pitch_deg)


@dataclass(frozen=True)
class GeoPose:
    """Where a camera is, in WGS84 terms: lon/lat, metres above the ground plane, attitude in degrees.

    ``yaw_deg`` is clockwise from true north; ``pitch_deg`` is the gimbal pitch (-90 nadir).
    """

    lon: float
    lat: float
    altitude_m: float
    yaw_deg: float = 0.0
    pitch_deg: float = -90.0
    roll_deg: float = 0.0

    def to_metric(self, projection: LocalProjection, *, ground_z_m: float = 0.0) -> CameraPose:
        """The same pose in ``projection``'s metric frame (yaw turned from true to grid north)."""
        x, y = projection.to_metric(self.lon, self.lat)
        yaw_grid = self.yaw_deg - projection.grid_convergence_deg(self.lon, self.lat)
        return CameraPose(float(x), float(y), ground_z_m + self.altitude_m, yaw_grid, self.pitch_deg, self.roll_deg)
