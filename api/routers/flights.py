"""Flights (status, track), their frames as short-lived signed links, and findings on the map."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api import context
from api.auth import CurrentPrincipal
from api.routers._common import Paging, uow
from api.schemas import ID_PATTERN, NOT_FOUND, PROBLEMS, Page
from dockpatrol.errors import InvalidInput, NotFound
from flight.types import Flight
from vision.types import StoredFinding

router = APIRouter(tags=["flights"], responses=PROBLEMS)
FlightId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
#: Links to imagery live minutes: long enough to view, too short to be worth passing around.
FRAME_LINK_S = 300


class FlightOut(BaseModel):
    id: str
    mission_id: str | None
    dock_id: str | None
    status: str = Field(examples=["flying", "landed", "failed"])
    started_at: datetime | None
    ended_at: datetime | None
    result: str
    summary: dict[str, Any]


class FrameOut(BaseModel):
    id: str
    flight_id: str | None
    captured_at: datetime | None
    lon: float | None
    lat: float | None
    altitude_above_ground_m: float | None
    yaw_deg: float | None
    width_px: int | None
    height_px: int | None
    status: str
    url: str | None = Field(description="signed link valid for a few minutes; never a storage path")


class FindingOut(BaseModel):
    id: str
    class_name: str
    category: str
    score: float
    seen_at: datetime
    status: str
    flight_id: str | None
    frame_id: str | None
    area_id: str | None
    ticket_id: str | None
    geometry: dict[str, Any]
    evidence_url: str | None = Field(description="signed link to the evidence crop, valid for minutes")


def signed(key: str | None) -> str | None:
    """A short-lived link for an object key, or None when the object is missing."""
    if not key:
        return None
    try:
        return context.object_store().presigned_url(key, expires_s=FRAME_LINK_S)
    except (NotFound, InvalidInput):
        return None


def flight_out(flight: Flight) -> FlightOut:
    return FlightOut(id=flight.id, mission_id=flight.mission_id, dock_id=flight.dock_id, status=flight.status,
                     started_at=flight.started_at, ended_at=flight.ended_at, result=flight.result,
                     summary=flight.summary or {})


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``min_lon,min_lat,max_lon,max_lat`` (the map's view) → floats; InvalidInput otherwise."""
    import math

    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InvalidInput(f"bbox {text!r} is not four numbers min_lon,min_lat,max_lon,max_lat") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidInput(f"bbox {text!r} is not four finite numbers min_lon,min_lat,max_lon,max_lat")
    a, b, c, d = values
    if not (-180 <= a <= c <= 180 and -90 <= b <= d <= 90):
        raise InvalidInput(f"bbox {text!r}: need -180 ≤ min_lon ≤ max_lon ≤ 180 and -90 ≤ min_lat ≤ max_lat ≤ 90")
    return a, b, c, d


BBoxQuery = Annotated[str | None, Query(max_length=200, description="min_lon,min_lat,max_lon,max_lat",
                                        examples=["113.10,23.00,113.20,23.06"])]


@router.get("/api/flights", response_model=Page[FlightOut], summary="List flights, newest first")
def list_flights(_: CurrentPrincipal, paging: Paging,
                 dock_id: Annotated[str | None, Query(max_length=64)] = None,
                 status: Annotated[str | None, Query(max_length=32)] = None,
                 mission_id: Annotated[str | None, Query(max_length=64, description="the flights of a mission")]
                 = None) -> Page[FlightOut]:
    from storage.repositories import queries

    with uow() as session:
        rows, total = queries.flights(session=session, dock_id=dock_id, status=status, mission_id=mission_id,
                                      offset=paging.offset, limit=paging.limit)
        return Page(items=[flight_out(r) for r in rows], total=total, offset=paging.offset, limit=paging.limit)


@router.get("/api/flights/{flight_id}", response_model=FlightOut, responses=NOT_FOUND, summary="Flight status")
def get_flight(flight_id: FlightId, _: CurrentPrincipal) -> FlightOut:
    from storage.repositories import flights

    with uow() as session:
        return flight_out(flights.require_flight(session=session, flight_id=flight_id))


@router.get("/api/flights/{flight_id}/track", responses=NOT_FOUND, summary="Flight track as GeoJSON")
def get_track(flight_id: FlightId, _: CurrentPrincipal) -> dict[str, Any]:
    """The recorded track when the flight log holds one, else the line through its photo positions."""
    from storage.repositories import flights

    with uow() as session:
        flights.require_flight(session=session, flight_id=flight_id)
        frames = flights.frames_of_flight(session=session, flight_id=flight_id)
        points = [[f.lon, f.lat] for f in frames if f.lon is not None and f.lat is not None]
    store = context.object_store()
    key = f"flights/{flight_id}/track.geojson"
    if store.exists(key):
        try:
            return dict(json.loads(store.get(key)))
        except ValueError:
            pass  # a damaged log falls back to the photo positions below
    geometry = {"type": "LineString", "coordinates": points} if len(points) >= 2 else None
    return {"type": "Feature", "geometry": geometry, "properties": {"flight_id": flight_id, "source": "frames"}}


#: How often the live stream looks for news, and how long one stream may stay open.
LIVE_POLL_S = 1.0
LIVE_MAX_S = 30 * 60
ENDED = ("landed", "failed")


def _snapshot(flight_id: str) -> tuple[FlightOut, list[list[float]]]:
    from storage.repositories import flights

    with uow() as session:
        flight = flight_out(flights.require_flight(session=session, flight_id=flight_id))
        points = [[f.lon, f.lat] for f in flights.frames_of_flight(session=session, flight_id=flight_id)
                  if f.lon is not None and f.lat is not None]
    return flight, points


@router.get("/api/flights/{flight_id}/live", responses={**NOT_FOUND, 200: {"content": {"text/event-stream": {}}}},
            response_class=StreamingResponse, summary="Live flight status and positions (Server-Sent Events)")
async def live(flight_id: FlightId, _: CurrentPrincipal) -> StreamingResponse:
    """`status` events when the flight's status changes, `positions` events with the new photo
    positions as they are stored, a comment line as a heartbeat; the stream ends when the flight
    has landed or failed (or after 30 minutes: reconnect). Send the bearer header (use fetch, not
    EventSource, which cannot)."""
    from fastapi.concurrency import run_in_threadpool

    first = await run_in_threadpool(_snapshot, flight_id)  # 404 before the stream starts

    async def events() -> AsyncIterator[str]:
        flight, points = first
        sent_status, sent_points = None, 0
        started = time.monotonic()
        while True:
            if flight.status != sent_status:
                sent_status = flight.status
                yield f"event: status\ndata: {flight.model_dump_json()}\n\n"
            if len(points) > sent_points:
                yield f"event: positions\ndata: {json.dumps(points[sent_points:])}\n\n"
                sent_points = len(points)
            if flight.status in ENDED or time.monotonic() - started > LIVE_MAX_S:
                yield "event: end\ndata: {}\n\n"
                return
            yield ": waiting\n\n"
            await asyncio.sleep(LIVE_POLL_S)
            flight, points = await run_in_threadpool(_snapshot, flight_id)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/api/flights/{flight_id}/frames", response_model=Page[FrameOut], responses=NOT_FOUND,
            summary="A flight's frames with signed links")
def list_frames(flight_id: FlightId, _: CurrentPrincipal, paging: Paging) -> Page[FrameOut]:
    from storage.repositories import flights, queries

    with uow() as session:
        flights.require_flight(session=session, flight_id=flight_id)
        rows, total = queries.frames(session=session, flight_id=flight_id, offset=paging.offset,
                                     limit=paging.limit)
        items = [FrameOut(id=f.id, flight_id=f.flight_id, captured_at=f.captured_at, lon=f.lon, lat=f.lat,
                          altitude_above_ground_m=f.altitude_above_ground_m, yaw_deg=f.yaw_deg, width_px=f.width_px,
                          height_px=f.height_px, status=f.status, url=signed(f.object_key)) for f in rows]
    return Page(items=items, total=total, offset=paging.offset, limit=paging.limit)


def finding_out(stored: StoredFinding) -> FindingOut:
    f = stored.finding
    return FindingOut(id=stored.id, class_name=f.class_name, category=f.category, score=f.score, seen_at=f.seen_at,
                      status=stored.status, flight_id=stored.flight_id, frame_id=f.frame_id, area_id=stored.area_id,
                      ticket_id=stored.ticket_id, geometry=f.geometry, evidence_url=signed(f.evidence_key))


class FindingPage(BaseModel):
    """A page of findings; ``next_offset`` is null on the last page (no total: counting a wide view is slow)."""

    items: list[FindingOut]
    offset: int
    limit: int
    next_offset: int | None


@router.get("/api/findings", response_model=FindingPage, tags=["findings"],
            summary="Findings in the map's view, newest first")
def list_findings(_: CurrentPrincipal, paging: Paging, bbox: BBoxQuery = None,
                  category: Annotated[str | None, Query(max_length=32)] = None,
                  flight_id: Annotated[str | None, Query(max_length=64)] = None) -> FindingPage:
    from storage.repositories import queries

    with uow() as session:
        rows, more = queries.findings(session=session, bbox=parse_bbox(bbox), category=category,
                                       flight_id=flight_id, offset=paging.offset, limit=paging.limit)
        return FindingPage(items=[finding_out(r) for r in rows], offset=paging.offset, limit=paging.limit,
                           next_offset=paging.offset + paging.limit if more else None)


@router.get("/api/findings/{finding_id}", response_model=FindingOut, responses=NOT_FOUND, tags=["findings"],
            summary="One finding")
def get_finding(finding_id: Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)],
                _: CurrentPrincipal) -> FindingOut:
    from storage.repositories import findings

    with uow() as session:
        return finding_out(findings.require_finding(session=session, finding_id=finding_id))
