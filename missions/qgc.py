"""QGroundControl ``.plan`` export and import (file version 1, mission version 2), so plans open in QGC.

Export writes SimpleItems, the fence polygons and rally points; import also flattens QGC's
survey and corridor ComplexItems through the mission items QGC stores inside them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dockpatrol.camera import CameraModel
from dockpatrol.errors import InvalidInput
from missions.areas import circle_polygon
from missions.estimate import FlightModel, trace
from missions.planfile import read_plan_document, write_text_atomic
from missions.types import FenceVertex, MavCmd, MavFrame, MissionItem, MissionPlan, RallyPoint

MAV_AUTOPILOT_ARDUPILOTMEGA = 3
MAV_TYPE_QUADROTOR = 2
#: QGroundControlQmlGlobal::AltMode: 1 = relative to home
ALT_MODE_RELATIVE = 1

# QGC files conventionally use the float frames; the _INT frames mean the same positions.
_TO_QGC_FRAME = {MavFrame.GLOBAL_RELATIVE_ALT_INT: MavFrame.GLOBAL_RELATIVE_ALT, MavFrame.GLOBAL_INT: MavFrame.GLOBAL}
_POSITIONAL_FRAMES = (MavFrame.GLOBAL_RELATIVE_ALT, MavFrame.GLOBAL_RELATIVE_ALT_INT)
_ABSOLUTE_FRAMES = (MavFrame.GLOBAL, MavFrame.GLOBAL_INT)


def _json_num(v: float) -> float | None:
    return None if isinstance(v, float) and math.isnan(v) else v


def _speed(plan: MissionPlan) -> float:
    for it in plan.items:
        if it.command == MavCmd.DO_CHANGE_SPEED and it.params[1] > 0:
            return float(it.params[1])
    return float(plan.meta.get("speed_m_s", 10.0))


def to_qgc(plan: MissionPlan, *, home_amsl_m: float | None = None) -> dict[str, Any]:
    """The plan as a QGC .plan document (mission, geoFence polygons, rallyPoints)."""
    speed = _speed(plan)
    items = []
    for k, it in enumerate(plan.items, start=1):
        frame = int(_TO_QGC_FRAME.get(int(it.frame), it.frame))
        entry: dict[str, Any] = {
            "autoContinue": it.autocontinue,
            "command": int(it.command),
            "doJumpId": k,
            "frame": frame,
            "params": [_json_num(p) for p in it.params] + [it.lat, it.lon, it.altitude_m],
            "type": "SimpleItem",
        }
        if frame in _POSITIONAL_FRAMES:
            entry.update({"AMSLAltAboveTerrain": None, "Altitude": it.altitude_m, "AltitudeMode": ALT_MODE_RELATIVE})
        items.append(entry)
    groups: dict[int, list[FenceVertex]] = {}
    for v in plan.fence:
        groups.setdefault(v.polygon_index, []).append(v)
    polygons = [{"inclusion": vs[0].inclusion, "polygon": [[v.lat, v.lon] for v in vs], "version": 1}
                for _, vs in sorted(groups.items())]
    return {
        "fileType": "Plan",
        "geoFence": {"circles": [], "polygons": polygons, "version": 2},
        "groundStation": "dockpatrol",
        "mission": {
            "cruiseSpeed": speed,
            "firmwareType": MAV_AUTOPILOT_ARDUPILOTMEGA,
            "globalPlanAltitudeMode": ALT_MODE_RELATIVE,
            "hoverSpeed": speed,
            "items": items,
            # QGC needs a number; the items are relative to home, so an unknown elevation only moves its display
            "plannedHomePosition": [plan.home_lat, plan.home_lon, 0.0 if home_amsl_m is None else home_amsl_m],
            "vehicleType": MAV_TYPE_QUADROTOR,
            "version": 2,
        },
        "rallyPoints": {"points": [[r.lat, r.lon, r.altitude_m] for r in plan.rally_points], "version": 2},
        "version": 1,
    }


def _number(v: Any, where: str) -> float:
    if v is None:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InvalidInput(f"{where}: expected a number, got {v!r}")
    return float(v)


def _latlon(pair: Any, where: str) -> tuple[float, float]:
    if not isinstance(pair, (list, tuple)) or len(pair) < 2:
        raise InvalidInput(f"{where}: expected [lat, lon], got {pair!r}")
    lat, lon = _number(pair[0], where), _number(pair[1], where)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput(f"{where}: ({lat}, {lon}) is outside WGS84 lat/lon range (QGC writes [lat, lon])")
    return lat, lon


def _simple_items(raw_items: Sequence[Any], where: str) -> list[Mapping[str, Any]]:
    """SimpleItems in flight order, ComplexItems expanded into the items QGC stored with them."""
    out: list[Mapping[str, Any]] = []
    for k, raw in enumerate(raw_items, start=1):
        if not isinstance(raw, Mapping):
            raise InvalidInput(f"{where} {k}: not an object")
        kind = raw.get("type")
        if kind == "SimpleItem":
            out.append(raw)
        elif kind == "ComplexItem":
            inner = (raw.get("TransectStyleComplexItem") or {}).get("Items")
            if not isinstance(inner, list) or not inner:
                raise InvalidInput(
                    f"{where} {k}: QGC complex item {raw.get('complexItemType')!r} carries no generated items; "
                    "re-save the plan in a recent QGroundControl"
                )
            out.extend(_simple_items(inner, f"{where} {k} item"))
        else:
            raise InvalidInput(f"{where} {k}: unknown item type {kind!r}")
    return out


def _item(raw: Mapping[str, Any], k: int, home_amsl_m: float | None) -> MissionItem:
    where = f"QGC item {k}"
    params = raw.get("params")
    if not isinstance(params, list) or len(params) != 7:
        raise InvalidInput(f"{where}: 'params' must hold 7 values (param1-4, lat, lon, alt)")
    p = [_number(v, where) for v in params]
    try:
        command, frame = int(raw["command"]), int(raw["frame"])
    except (KeyError, TypeError, ValueError):
        raise InvalidInput(f"{where}: needs integer 'command' and 'frame'") from None
    lat, lon, alt = (0.0 if math.isnan(v) else v for v in p[4:7])
    if frame in _POSITIONAL_FRAMES:
        frame = MavFrame.GLOBAL_RELATIVE_ALT_INT
    elif frame in _ABSOLUTE_FRAMES:
        if home_amsl_m is None:
            raise InvalidInput(f"{where}: uses an absolute (AMSL) frame but the plan has no planned home altitude")
        frame, alt = MavFrame.GLOBAL_RELATIVE_ALT_INT, alt - home_amsl_m
    elif frame != MavFrame.MISSION:
        raise InvalidInput(f"{where}: MAV_FRAME {frame} is not supported; use altitudes relative to home")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput(f"{where}: ({lat}, {lon}) is outside WGS84 lat/lon range")
    return MissionItem(command=command, lat=lat, lon=lon, altitude_m=alt, params=(p[0], p[1], p[2], p[3]),
                       frame=int(frame), autocontinue=bool(raw.get("autoContinue", True)))


def from_qgc(doc: Any, *, dock_id: str = "qgc", camera: CameraModel | None = None,
             model: FlightModel = FlightModel()) -> MissionPlan:
    """A MissionPlan from a QGC .plan document; length, duration and frames are re-estimated here."""
    if not isinstance(doc, Mapping) or doc.get("fileType") != "Plan":
        raise InvalidInput("not a QGroundControl plan: 'fileType' must be \"Plan\"")
    if doc.get("version") != 1:
        raise InvalidInput(f"QGC plan file version {doc.get('version')!r} is not supported (expected 1)")
    mission = doc.get("mission")
    if not isinstance(mission, Mapping) or not isinstance(mission.get("items"), list):
        raise InvalidInput("QGC plan has no mission items")
    home = mission.get("plannedHomePosition")
    home_lat, home_lon = _latlon(home, "QGC plannedHomePosition")
    home_amsl = _number(home[2], "QGC plannedHomePosition") if len(home) > 2 else math.nan
    raw_items = _simple_items(mission["items"], "QGC mission item")
    items = tuple(_item(r, k, None if math.isnan(home_amsl) else home_amsl)
                  for k, r in enumerate(raw_items, start=1))
    if not items:
        raise InvalidInput("QGC plan has no mission items")
    fence: list[FenceVertex] = []
    geofence = doc.get("geoFence") or {}
    index = 0
    for k, poly in enumerate(geofence.get("polygons") or [], start=1):
        pts = [_latlon(p, f"QGC fence polygon {k}") for p in poly.get("polygon") or []]
        if len(pts) < 3:
            raise InvalidInput(f"QGC fence polygon {k}: needs at least 3 vertices")
        inclusion = bool(poly.get("inclusion", True))
        fence += [FenceVertex(lat=la, lon=lo, polygon_index=index, vertex_count=len(pts), inclusion=inclusion)
                  for la, lo in pts]
        index += 1
    for k, circ in enumerate(geofence.get("circles") or [], start=1):
        c = circ.get("circle") or {}
        lat, lon = _latlon(c.get("center"), f"QGC fence circle {k}")
        radius = _number(c.get("radius"), f"QGC fence circle {k}")
        if not radius > 0:
            raise InvalidInput(f"QGC fence circle {k}: radius must be positive")
        # dockpatrol fences are polygons: the circle becomes a 24-gon drawn around it
        ring = list(circle_polygon(lon, lat, radius / math.cos(math.pi / 24), segments=24).exterior.coords)[:-1]
        inclusion = bool(circ.get("inclusion", True))
        fence += [FenceVertex(lat=y, lon=x, polygon_index=index, vertex_count=len(ring), inclusion=inclusion)
                  for x, y in ring]
        index += 1
    rally = []
    for k, pt in enumerate((doc.get("rallyPoints") or {}).get("points") or [], start=1):
        lat, lon = _latlon(pt, f"QGC rally point {k}")
        rally.append(RallyPoint(lat=lat, lon=lon, altitude_m=_number(pt[2], f"QGC rally point {k}") if len(pt) > 2
                                else 0.0))
    speed = next((it.params[1] for it in items if it.command == MavCmd.DO_CHANGE_SPEED and it.params[1] > 0), None)
    speed = speed or _number(mission.get("hoverSpeed", 5.0), "QGC hoverSpeed")
    t = trace(items, home_lon=home_lon, home_lat=home_lat, speed_m_s=speed if speed > 0 else 5.0, model=model)
    trig = next((it.params[0] for it in items if it.command == MavCmd.DO_SET_CAM_TRIGG_DIST and it.params[0] > 0),
                0.0)
    altitude = max((it.altitude_m for it in items if it.is_nav and it.command != MavCmd.NAV_RETURN_TO_LAUNCH),
                   default=0.0)
    meta: dict[str, Any] = {"source": "qgc", "ground_station": doc.get("groundStation"), "speed_m_s": speed}
    if not math.isnan(home_amsl):
        meta["home_amsl_m"] = home_amsl
    return MissionPlan(dock_id=dock_id, items=items, trigger_distance_m=float(trig), length_m=t.length_m,
                       duration_s=t.duration_s, home_lon=home_lon, home_lat=home_lat, altitude_m=altitude,
                       frame_count=t.frame_count, fence=tuple(fence), camera=camera or CameraModel(),
                       meta=meta, rally_points=tuple(rally))


def write_qgc(path: str | Path, plan: MissionPlan, *, home_amsl_m: float | None = None) -> None:
    """Write a .plan file atomically."""
    text = json.dumps(to_qgc(plan, home_amsl_m=home_amsl_m), indent=4, allow_nan=False) + "\n"
    write_text_atomic(Path(path), text)


def read_qgc(path: str | Path, **kwargs: Any) -> MissionPlan:
    """Read a QGC .plan file."""
    return read_plan_document(path, lambda doc: from_qgc(doc, **kwargs))
