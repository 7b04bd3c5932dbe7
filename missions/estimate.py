"""Flight estimates from mission items: path length, duration and where the camera fires.

One walk over the items serves the planner, the safety check and imported QGC plans, so a
plan's length, duration and frame count mean the same wherever the plan came from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dockpatrol.geo import LocalProjection
from missions.types import POSITION_COMMANDS, MavCmd, MissionItem


@dataclass(frozen=True)
class FlightModel:
    """How a multicopter spends time besides cruising; defaults are for a ~9 kg dock quadcopter."""

    climb_m_s: float = 3.0
    descent_m_s: float = 1.5
    #: time lost at a corner sharper than turn_threshold_deg (brake, yaw, accelerate)
    turn_s: float = 4.0
    turn_threshold_deg: float = 30.0
    #: arming, motor spin-up, touchdown and disarm
    overhead_s: float = 20.0


@dataclass(frozen=True)
class FlightTrace:
    """The horizontal path a mission flies, in a metric frame, and the camera's trigger poses.

    ``xy_m`` includes home at the start (and at the end when the mission returns); ``triggers``
    rows are (x_m, y_m, heading_rad) with heading counter-clockwise from the x (east) axis.
    """

    projection: LocalProjection
    xy_m: np.ndarray
    triggers: np.ndarray
    length_m: float
    duration_s: float
    max_altitude_m: float
    returns_home: bool

    @property
    def frame_count(self) -> int:
        return int(self.triggers.shape[0])

    @property
    def max_distance_m(self) -> float:
        """Farthest horizontal distance from home anywhere on the path."""
        d = self.xy_m - self.xy_m[0]
        return float(np.sqrt((d * d).sum(axis=1)).max()) if len(d) else 0.0


_CIRCLE_SEGMENTS = 36


def trace(
    items: Sequence[MissionItem], *, home_lon: float, home_lat: float, speed_m_s: float,
    model: FlightModel = FlightModel(), projection: LocalProjection | None = None,
) -> FlightTrace:
    """Walk the items as ArduCopter flies them: vertical takeoff, straight legs, RTL, distance triggering.

    The camera fires when the vehicle is trigger-distance (straight line) from the last photo,
    as ArduPilot's AP_Camera does; DO_SET_CAM_TRIGG_DIST param3 = 1 also fires at once.
    """
    proj = projection or LocalProjection.around(home_lon, home_lat)
    nav = [it for it in items if it.command in POSITION_COMMANDS and not (it.lat == 0.0 and it.lon == 0.0)]
    lons = np.array([home_lon] + [it.lon for it in nav], dtype=float)
    lats = np.array([home_lat] + [it.lat for it in nav], dtype=float)
    mx, my = proj.to_metric(lons, lats)
    metric = {id(it): (float(mx[k + 1]), float(my[k + 1])) for k, it in enumerate(nav)}
    home = (float(mx[0]), float(my[0]))

    pos = home
    alt = 0.0
    max_alt = 0.0
    speed = speed_m_s
    duration = model.overhead_s
    length = 0.0
    turns = 0
    heading: float | None = None
    trig_d = 0.0
    last_shot: tuple[float, float] | None = None
    shots: list[np.ndarray] = []
    path = [home]
    returned = False
    turn_cos = math.cos(math.radians(model.turn_threshold_deg))

    def leg(target: tuple[float, float], target_alt: float) -> None:
        nonlocal pos, alt, duration, length, turns, heading, last_shot
        dx, dy = target[0] - pos[0], target[1] - pos[1]
        dist = math.hypot(dx, dy)
        dz = target_alt - alt
        vert_s = abs(dz) / (model.climb_m_s if dz > 0 else model.descent_m_s)
        duration += max(dist / speed, vert_s)
        alt = target_alt
        if dist < 1e-6:
            return
        ux, uy = dx / dist, dy / dist
        new_heading = math.atan2(uy, ux)
        if heading is not None and math.cos(new_heading - heading) < turn_cos:
            turns += 1
        heading = new_heading
        if trig_d > 0 and last_shot is not None:
            wx, wy = pos[0] - last_shot[0], pos[1] - last_shot[1]
            b = ux * wx + uy * wy
            c = wx * wx + wy * wy - trig_d * trig_d
            t0 = 0.0 if c >= 0 else -b + math.sqrt(b * b - c)
            if t0 <= dist + 1e-9:
                t = np.arange(t0, dist + 1e-9, trig_d)
                shots.append(np.column_stack([pos[0] + t * ux, pos[1] + t * uy, np.full(len(t), new_heading)]))
                last_shot = (pos[0] + t[-1] * ux, pos[1] + t[-1] * uy)
        length += dist
        pos = target
        path.append(target)

    for it in items:
        cmd = it.command
        if cmd == MavCmd.NAV_TAKEOFF:
            duration += max(it.altitude_m - alt, 0.0) / model.climb_m_s
            alt = it.altitude_m
        elif cmd == MavCmd.DO_CHANGE_SPEED:
            if it.params[1] > 0:
                speed = it.params[1]
        elif cmd == MavCmd.DO_SET_CAM_TRIGG_DIST:
            trig_d = max(it.params[0], 0.0)
            last_shot = pos if trig_d > 0 else None
            if trig_d > 0 and it.params[2] == 1:
                shots.append(np.array([[pos[0], pos[1], heading or 0.0]]))
        elif cmd == MavCmd.NAV_WAYPOINT:
            leg(metric.get(id(it), pos), it.altitude_m)
            duration += max(it.params[0], 0.0)
        elif cmd == MavCmd.NAV_LOITER_TURNS:
            centre = metric.get(id(it), pos)
            radius = abs(it.params[2]) or 30.0
            sign = -1.0 if it.params[2] >= 0 else 1.0  # positive radius = clockwise
            start = math.atan2(pos[1] - centre[1], pos[0] - centre[0]) if pos != centre else 0.0
            n = max(round(_CIRCLE_SEGMENTS * max(it.params[0], 0.0)), 1)
            for k in range(n + 1):
                a = start + sign * 2 * math.pi * k / _CIRCLE_SEGMENTS
                leg((centre[0] + radius * math.cos(a), centre[1] + radius * math.sin(a)), it.altitude_m)
        elif cmd == MavCmd.NAV_LAND:
            leg(metric.get(id(it), pos), alt)
            duration += alt / model.descent_m_s
            alt = 0.0
            break
        elif cmd == MavCmd.NAV_RETURN_TO_LAUNCH:
            leg(home, alt)
            duration += alt / model.descent_m_s
            alt = 0.0
            returned = True
            break
        max_alt = max(max_alt, alt)
    duration += turns * model.turn_s
    trig = np.concatenate(shots) if shots else np.zeros((0, 3))
    return FlightTrace(projection=proj, xy_m=np.array(path, dtype=float), triggers=trig, length_m=length,
                       duration_s=duration, max_altitude_m=max_alt, returns_home=returned)
