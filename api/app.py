"""The FastAPI application: routers per domain, auth, problem+json errors, the web console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from api import auth, context, problems
from api.middleware import BodySizeLimit, SecurityHeaders
from api.routers import admin, areas, changes, docks, flights, missions, platform, schedules, tickets, tiles
from api.schemas import Problem
from dockpatrol import __version__

CONSOLE_DIR = Path(__file__).resolve().parent / "console"
#: npm installs the console's map library here at set-up (`make console`); nothing comes from a CDN.
VENDOR_DIRS = {"leaflet": CONSOLE_DIR / "node_modules" / "leaflet" / "dist",
               "swagger-ui": CONSOLE_DIR / "node_modules" / "swagger-ui-dist"}
#: The console only loads its own files; Leaflet positions map panes with inline styles.
CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

DESCRIPTION = """Dock-based patrol drones: plan, schedule, fly (MAVLink), detect, georeference, ticket.

Every endpoint except `/health`, `POST /api/auth/token` and the console's static files (this
page included) needs `Authorization: Bearer <token>`, this document's `/openapi.json` too: a JWT from the password flow (30 minutes) or a machine API token
(`dpt_…`, revocable). Errors are RFC 9457 `application/problem+json` (schema `Problem`).
Mutations are recorded in the audit log (`GET /api/audit`)."""


def create_app() -> FastAPI:
    app = FastAPI(title="dockpatrol", version=__version__, description=DESCRIPTION, docs_url=None, redoc_url=None,
                  openapi_url=None)
    problems.install(app)
    app.add_middleware(BodySizeLimit)
    app.add_middleware(SecurityHeaders, console_prefix="/console", console_csp=CONSOLE_CSP)
    for router in (auth.router, docks.router, areas.router, schedules.router, missions.router, flights.router,
                   tickets.router, changes.router, admin.router, platform.router, tiles.router):
        app.include_router(router)

    @app.get("/health", tags=["platform"], summary="Liveness and configured backends (no token needed)")
    def health() -> dict[str, Any]:
        db = context.database()
        store = context.object_store()
        return {"status": "ok", "version": __version__, "database": db.dialect, "objects": type(store).__name__}

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document(_: auth.CurrentPrincipal) -> JSONResponse:
        """The API's OpenAPI document, for signed-in callers: it maps every operation an attacker could try."""
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs() -> RedirectResponse:
        """Swagger UI is a console page: it borrows the console's sign-in to fetch the document and try calls."""
        return RedirectResponse("/console/api-docs.html")

    for name, path in VENDOR_DIRS.items():
        if path.is_dir():
            app.mount(f"/console/vendor/{name}", StaticFiles(directory=path), name=f"vendor-{name}")
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
    _document_problem_schema(app)
    return app


def missing_console_assets() -> list[str]:
    """The npm packages the console needs that set-up has not installed yet."""
    return [name for name, path in VENDOR_DIRS.items() if not path.is_dir()]


def _document_problem_schema(app: FastAPI) -> None:
    """Make sure the OpenAPI document always carries the Problem schema the error responses name."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.setdefault("Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}"))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
