"""The FastAPI application: health, fleet and area resources, signed object downloads."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query, Response
from pydantic import BaseModel, Field

from api import context, problems
from dockpatrol import __version__
from dockpatrol.errors import InvalidInput, NotFound
from flight.connection import parse_vehicle_url
from storage.objects import LocalObjectStore

SIM_URL = "sim:"


class DockIn(BaseModel):
    """The request body's shape; values are checked by missions.areas.dock_from_mapping, as for files."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str = Field(min_length=1, max_length=200)
    lon: float
    lat: float
    elevation_amsl_m: float | None = None
    vehicle_url: str = SIM_URL
    max_range_m: float | None = None
    endurance_s: float | None = None
    charge_s: float | None = None


def create_app() -> FastAPI:
    app = FastAPI(title="dockpatrol", version=__version__,
                  description="Dock-based patrol drones: plan, schedule, fly (MAVLink), detect, georeference.")
    problems.install(app)

    @app.get("/health")
    def health() -> dict[str, Any]:
        db = context.database()
        store = context.object_store()
        return {"status": "ok", "version": __version__, "database": db.dialect,
                "objects": type(store).__name__}

    @app.get("/api/docks")
    def list_docks() -> list[dict[str, Any]]:
        from dataclasses import asdict

        from storage.repositories import docks

        with context.database().unit_of_work() as session:
            return [asdict(d) for d in docks.list_all(session=session)]

    @app.post("/api/docks", status_code=201)
    def create_dock(body: DockIn) -> dict[str, Any]:
        from dataclasses import asdict

        from missions.areas import dock_from_mapping
        from storage.repositories import docks

        dock = dock_from_mapping(body.model_dump(exclude_none=True), where="dock")
        if dock.vehicle_url != SIM_URL:  # "sim:" = the built-in simulator stands in for this dock's drone
            parse_vehicle_url(dock.vehicle_url)
        with context.database().unit_of_work() as session:
            docks.upsert(session=session, dock=dock)
        return asdict(dock)

    @app.get("/api/areas")
    def list_areas() -> dict[str, Any]:
        from storage.repositories import areas

        with context.database().unit_of_work() as session:
            features = [
                {"type": "Feature", "id": a.id, "geometry": a.polygon,
                 "properties": {"name": a.name, "scenarios": sorted(a.scenarios), "gsd_cm": a.gsd_cm,
                                "cadence": a.cadence, "jurisdiction_id": a.jurisdiction_id}}
                for a in areas.list_all(session=session)
            ]
        return {"type": "FeatureCollection", "features": features}

    @app.get("/api/objects/{key:path}")
    def get_object(key: str, expires: int = Query(...), signature: str = Query(...)) -> Response:
        store = context.object_store()
        if not isinstance(store, LocalObjectStore):
            raise NotFound("objects are served by the S3 endpoint; ask for a presigned URL")
        if not store.verify_signature(key, expires, signature):
            raise InvalidInput("the link is invalid or has expired; request a new one")
        info = store.stat(key)
        return Response(store.get(key), media_type=info.content_type)

    return app
