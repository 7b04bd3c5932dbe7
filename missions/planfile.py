"""plan.json: the one file format between ``dockpatrol plan`` and ``dockpatrol fly`` (writer and reader).

``plan_to_dict``/``plan_from_dict`` are pure; the reader refuses anything malformed with the
field that is wrong, and (by default) any navigation item above the ceiling (missions.safety.CEILING_M).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from dockpatrol.camera import CameraModel
from dockpatrol.errors import InvalidInput
from dockpatrol.taxonomy import parse_category
from missions.safety import CEILING_M
from missions.types import FenceVertex, MissionItem, MissionPlan

FORMAT = "dockpatrol-plan"
VERSION = 1
MAX_PLAN_BYTES = 16 * 1024 * 1024
T = TypeVar("T")


def _num(v: float) -> float | None:
    """JSON has no NaN: MAVLink's 'unset' NaN params travel as null."""
    return None if isinstance(v, float) and math.isnan(v) else float(v)


def plan_to_dict(plan: MissionPlan) -> dict[str, Any]:
    """The plan as a plan.json document (version 1)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "dock_id": plan.dock_id,
        "home": {"lon": plan.home_lon, "lat": plan.home_lat},
        "altitude_m": plan.altitude_m,
        "trigger_distance_m": plan.trigger_distance_m,
        "length_m": plan.length_m,
        "duration_s": plan.duration_s,
        "frame_count": plan.frame_count,
        "sortie": plan.sortie,
        "sorties": plan.sorties,
        "area_id": plan.area_id,
        "scenarios": sorted(str(s) for s in plan.scenarios),
        "gsd_cm": plan.gsd_cm,
        "camera": {"width_px": plan.camera.width_px, "height_px": plan.camera.height_px,
                   "hfov_deg": plan.camera.hfov_deg},
        "items": [
            {"command": int(it.command), "frame": int(it.frame), "lat": it.lat, "lon": it.lon,
             "altitude_m": it.altitude_m, "params": [_num(p) for p in it.params], "autocontinue": it.autocontinue}
            for it in plan.items
        ],
        "fence": [
            {"lat": v.lat, "lon": v.lon, "polygon_index": v.polygon_index, "vertex_count": v.vertex_count,
             "inclusion": v.inclusion}
            for v in plan.fence
        ],
    }


class _Reader:
    """Typed field access that names the offending field."""

    def __init__(self, doc: Mapping[str, Any], where: str) -> None:
        if not isinstance(doc, Mapping):
            raise InvalidInput(f"{where}: expected an object")
        self.doc = doc
        self.where = where

    def get(self, key: str, kind: type | tuple[type, ...], *, default: Any = ..., allow_none: bool = False) -> Any:
        if key not in self.doc:
            if default is ...:
                raise InvalidInput(f"{self.where}: missing {key!r}")
            return default
        v = self.doc[key]
        if v is None and allow_none:
            return None
        if kind in (float, int) or kind == (int, float):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InvalidInput(f"{self.where}: {key!r} must be a finite number, got {v!r}")
            if kind is int and v != int(v):
                raise InvalidInput(f"{self.where}: {key!r} must be a whole number, got {v!r}")
            return int(v) if kind is int else float(v)
        if not isinstance(v, kind):
            raise InvalidInput(f"{self.where}: {key!r} has the wrong type ({type(v).__name__})")
        return v


def _item(raw: Any, k: int, ceiling_m: float | None) -> MissionItem:
    r = _Reader(raw, f"plan item {k}")
    params = r.get("params", list)
    if len(params) != 4:
        raise InvalidInput(f"plan item {k}: 'params' must hold 4 numbers (MAVLink param1-4), got {len(params)}")
    ps = []
    for p in params:
        if p is None:
            ps.append(math.nan)
        elif isinstance(p, (int, float)) and not isinstance(p, bool):
            ps.append(float(p))
        else:
            raise InvalidInput(f"plan item {k}: params must be numbers or null, got {p!r}")
    lat, lon = r.get("lat", float), r.get("lon", float)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput(f"plan item {k}: ({lon}, {lat}) is outside WGS84 lon/lat range")
    item = MissionItem(command=r.get("command", int), lat=lat, lon=lon, altitude_m=r.get("altitude_m", float),
                       params=(ps[0], ps[1], ps[2], ps[3]), frame=r.get("frame", int),
                       autocontinue=r.get("autocontinue", bool, default=True))
    if ceiling_m is not None and item.is_nav and item.altitude_m > ceiling_m + 1e-6:
        raise InvalidInput(f"plan item {k} flies at {item.altitude_m:g} m, above the {ceiling_m:g} m ceiling")
    return item


def plan_from_dict(doc: Any, *, ceiling_m: float | None = CEILING_M) -> MissionPlan:
    """A MissionPlan from a plan.json document; InvalidInput names the first bad field."""
    r = _Reader(doc, "plan.json")
    if doc.get("format") != FORMAT:
        raise InvalidInput(f"plan.json: 'format' must be {FORMAT!r}, got {doc.get('format')!r}")
    version = r.get("version", int)
    if version != VERSION:
        raise InvalidInput(f"plan.json: version {version} is not supported (this reader knows {VERSION})")
    home = _Reader(r.get("home", Mapping), "plan.json home")
    home_lon, home_lat = home.get("lon", float), home.get("lat", float)
    if not (-90 <= home_lat <= 90 and -180 <= home_lon <= 180):
        raise InvalidInput(f"plan.json: home ({home_lon}, {home_lat}) is outside WGS84 lon/lat range")
    raw_items = r.get("items", list)
    if not raw_items:
        raise InvalidInput("plan.json: 'items' is empty")
    items = tuple(_item(raw, k, ceiling_m) for k, raw in enumerate(raw_items, start=1))
    fence = []
    for k, raw in enumerate(r.get("fence", list, default=[]), start=1):
        f = _Reader(raw, f"plan fence vertex {k}")
        fence.append(FenceVertex(lat=f.get("lat", float), lon=f.get("lon", float),
                                 polygon_index=f.get("polygon_index", int), vertex_count=f.get("vertex_count", int),
                                 inclusion=f.get("inclusion", bool, default=True)))
    cam_raw = r.get("camera", Mapping, default=None, allow_none=True)
    camera = CameraModel()
    if cam_raw is not None:
        c = _Reader(cam_raw, "plan.json camera")
        camera = CameraModel(width_px=c.get("width_px", int), height_px=c.get("height_px", int),
                             hfov_deg=c.get("hfov_deg", float))
    try:
        scenarios = frozenset(parse_category(str(s)) for s in r.get("scenarios", list, default=[]))
    except InvalidInput as exc:
        raise InvalidInput(f"plan.json: {exc}") from None
    sortie, sorties = r.get("sortie", int, default=1), r.get("sorties", int, default=1)
    if not 1 <= sortie <= sorties:
        raise InvalidInput(f"plan.json: sortie {sortie} of {sorties} is not a valid position")
    area_id = r.get("area_id", str, default=None, allow_none=True)
    dock_id = r.get("dock_id", str)
    return MissionPlan(
        dock_id=dock_id, items=items, trigger_distance_m=r.get("trigger_distance_m", float, default=0.0),
        length_m=r.get("length_m", float, default=0.0), duration_s=r.get("duration_s", float, default=0.0),
        home_lon=home_lon, home_lat=home_lat, altitude_m=r.get("altitude_m", float, default=0.0),
        frame_count=r.get("frame_count", int, default=0), fence=tuple(fence), area_id=area_id,
        scenarios=scenarios, gsd_cm=r.get("gsd_cm", float, default=None, allow_none=True), camera=camera,
        sortie=sortie, sorties=sorties,
    )


def dumps_plan(plan: MissionPlan) -> str:
    """plan.json text (indented, UTF-8 safe)."""
    return json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def loads_plan(text: str | bytes, *, ceiling_m: float | None = CEILING_M) -> MissionPlan:
    """A MissionPlan from plan.json text."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"plan.json is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise InvalidInput("plan.json: expected a JSON object")
    return plan_from_dict(doc, ceiling_m=ceiling_m)


def write_plan(path: str | Path, plan: MissionPlan) -> None:
    """Write plan.json atomically (a reader never sees half a file)."""
    write_text_atomic(Path(path), dumps_plan(plan))


def read_plan_document(path: str | Path, parse: Callable[[Any], T]) -> T:
    """Read a JSON plan file of bounded size and parse it; every error names the file."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"{p}: no such plan file")
    if p.stat().st_size > MAX_PLAN_BYTES:
        raise InvalidInput(f"{p}: larger than {MAX_PLAN_BYTES // (1024 * 1024)} MB; not a plan file")
    try:
        doc = json.loads(p.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{p}: not valid JSON ({exc})") from None
    try:
        return parse(doc)
    except InvalidInput as exc:
        message = str(exc)
        raise InvalidInput(message if message.startswith(str(p)) else f"{p}: {message}") from None


def read_plan(path: str | Path, *, ceiling_m: float | None = CEILING_M) -> MissionPlan:
    """Read and validate a plan.json file."""
    return read_plan_document(path, lambda doc: plan_from_dict(doc, ceiling_m=ceiling_m))


def write_text_atomic(path: Path, text: str) -> None:
    """Write text to a temporary file beside ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
