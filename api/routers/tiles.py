"""Patrol mosaics as an XYZ base layer: the newest mosaic per area and its web-mercator tiles (rio-tiler).

The map loads tiles as ``<img>`` requests, which cannot carry a bearer header, so an authenticated
``GET /api/mosaics`` hands out a URL template signed for one mosaic and a short time; the tile
endpoint checks that signature instead of a token (the same idea as the signed object links).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from api import context
from api.auth import CurrentPrincipal, session_key
from api.routers._common import uow
from api.schemas import ID_PATTERN, NOT_FOUND, PROBLEMS, Problem
from dockpatrol.errors import Forbidden, NotFound

router = APIRouter(tags=["mosaics"], responses=PROBLEMS)

#: Life of a signed tile template: long enough for a working session, short enough not to leak for good.
TILE_LINK_S = 3600
TILE_PX = 256
#: Web-mercator zooms served: 12 shows a district, 24 is finer than any patrol's GSD.
MIN_ZOOM, MAX_ZOOM = 10, 24
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_cache_lock = threading.Lock()


class MosaicOut(BaseModel):
    flight_id: str
    area_id: str
    area_name: str
    captured_at: str | None = Field(None, description="when the patrol started (ISO 8601, UTC)")
    bounds: list[float] = Field(description="[west, south, east, north] in degrees (WGS 84)")
    gsd_m: float | None = Field(None, description="mosaic ground sample distance in metres")
    tile_url: str = Field(description="signed XYZ template: replace {z}/{x}/{y}; valid for an hour")
    min_zoom: int
    max_zoom: int


def _signature(flight_id: str, expires: int) -> str:
    # Domain-separated from session tokens, which share the key.
    return hmac.new(session_key(), f"tiles\n{flight_id}\n{expires}".encode(), hashlib.sha256).hexdigest()


def signed_tile_template(flight_id: str, *, now_s: float | None = None) -> str:
    """The XYZ URL template for one flight's mosaic, signed for :data:`TILE_LINK_S` seconds."""
    expires = int(now_s if now_s is not None else time.time()) + TILE_LINK_S
    return f"/api/tiles/{flight_id}/{{z}}/{{x}}/{{y}}.png?expires={expires}&sig={_signature(flight_id, expires)}"


def verify_tile_signature(flight_id: str, expires: int, sig: str) -> bool:
    """True for an unexpired template signed here for this flight; malformed input is simply False."""
    now = time.time()
    if not (now <= expires <= now + TILE_LINK_S) or not _SIGNATURE.match(sig):
        return False
    return hmac.compare_digest(_signature(flight_id, expires), sig)


def _mosaic_record(flight_id: str) -> dict[str, Any]:
    from storage.repositories import flights

    with uow() as session:
        flight = flights.get_flight(session=session, flight_id=flight_id)
    record = (flight.summary or {}).get("mosaic") if flight is not None else None
    if not record or not record.get("key"):
        raise NotFound(f"flight {flight_id!r} has no mosaic")
    return dict(record)


def mosaic_path(key: str) -> Path:
    """A local file of the stored COG that GDAL can open.

    The local store's file is opened in place. An S3 object is copied once into the data
    directory's tile cache, named by its ETag so a rebuilt mosaic replaces it: every tile then
    reads a local file, with no second set of S3 credentials for GDAL (/vsis3) to keep in step
    with the store's, and no per-tile round trips to S3.
    """
    from dockpatrol.settings import get_settings
    from storage.objects import LocalObjectStore, validate_key

    store = context.object_store()
    if isinstance(store, LocalObjectStore):
        path = store.root / validate_key(key)
        if not path.is_file():
            raise NotFound(f"mosaic object {key!r} does not exist")
        return path
    info = store.stat(key)
    cache = get_settings().data_dir / "tile-cache"
    path = cache / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}-{info.etag or int(info.modified_at.timestamp())}.tif"
    with _cache_lock:
        if not path.is_file():
            cache.mkdir(parents=True, exist_ok=True)
            # Unique per process: API workers may fetch the same mosaic at once; the rename is atomic.
            tmp = path.with_suffix(f".{os.getpid()}.part")
            tmp.write_bytes(store.get(key))
            tmp.replace(path)
    return path


def render_tile(path: Path, *, x: int, y: int, z: int) -> bytes:
    """One 256 px web-mercator PNG tile of the COG, transparent where the mosaic has no data.

    NotFound when the tile lies outside the mosaic.
    """
    from rio_tiler.errors import TileOutsideBounds
    from rio_tiler.io import Reader

    with Reader(str(path)) as cog:
        try:
            image = cog.tile(x, y, z, tilesize=TILE_PX, indexes=(1, 2, 3))
        except TileOutsideBounds:
            raise NotFound(f"tile {z}/{x}/{y} lies outside the mosaic") from None
    return image.render(img_format="PNG")


@router.get("/api/mosaics", response_model=list[MosaicOut], summary="Newest patrol mosaic per area, as XYZ tiles")
def list_mosaics(_: CurrentPrincipal) -> list[MosaicOut]:
    from storage.repositories import areas, flights

    out = []
    with uow() as session:
        for area in areas.list_all(session=session):
            with_mosaic = [f for f in flights.flights_of_area(session=session, area_id=area.id)
                           if (f.summary or {}).get("mosaic", {}).get("key")]
            if not with_mosaic:
                continue
            newest = with_mosaic[-1]
            out.append((area, newest))
    from rio_tiler.constants import WGS84_CRS
    from rio_tiler.io import Reader

    result = []
    for area, flight in out:
        try:
            path = mosaic_path(flight.summary["mosaic"]["key"])
        except NotFound:
            continue
        with Reader(str(path)) as cog:
            west, south, east, north = cog.get_geographic_bounds(WGS84_CRS)
            gsd = float(cog.dataset.res[0])
        result.append(MosaicOut(
            flight_id=flight.id, area_id=area.id, area_name=area.name,
            captured_at=flight.started_at.isoformat() if flight.started_at else None,
            bounds=[west, south, east, north], gsd_m=gsd, tile_url=signed_tile_template(flight.id),
            min_zoom=MIN_ZOOM, max_zoom=MAX_ZOOM))
    return result


@router.get("/api/tiles/{flight_id}/{z}/{x}/{y}.png", summary="One mosaic tile through a signed template",
            responses={**NOT_FOUND, 403: {"description": "bad or expired signature", "model": Problem}},
            response_class=Response)
def get_tile(flight_id: Annotated[str, PathParam(min_length=1, max_length=64, pattern=ID_PATTERN)],
             z: Annotated[int, PathParam(ge=0, le=30)], x: Annotated[int, PathParam(ge=0)],
             y: Annotated[int, PathParam(ge=0)], expires: Annotated[int, Query(ge=0, le=2**40)],
             sig: Annotated[str, Query(max_length=200)]) -> Response:
    """The signature is the credential (map tiles are <img> requests); it covers one flight's mosaic."""
    if not verify_tile_signature(flight_id, expires, sig):
        raise Forbidden("the tile link is invalid or has expired; ask /api/mosaics for a new one")
    if not (MIN_ZOOM <= z <= MAX_ZOOM) or x >= 2**z or y >= 2**z:
        raise NotFound(f"tile {z}/{x}/{y} is outside zooms {MIN_ZOOM}..{MAX_ZOOM} or the tile grid")
    path = mosaic_path(_mosaic_record(flight_id)["key"])
    return Response(render_tile(path, x=x, y=y, z=z), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=3600"})
