"""The web console in Debian's Chromium (Playwright, no browser download): each role signs in and works.

The server runs the patrol service in-process (as `dockpatrol serve --patrol` does) with the twin's
``sim:`` vehicles flying sped up, so an operator's launch really flies. Screenshots go to out/console/
(git-ignored) as test artifacts.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("DOCKPATROL_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("DOCKPATROL_ARTIFACTS_DIR", Path(__file__).resolve().parents[2] / "out" / "console"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("DOCKPATROL_REQUIRE_SERVERS"),
                       reason=f"Debian chromium not installed at {CHROMIUM} (scripts/services.sh install)"),
]


def _seed_tickets() -> None:
    """Two routed tickets (enforcement, fire) and two faint objects waiting in the review queue."""
    import io
    from datetime import UTC, datetime

    from PIL import Image

    from api import context
    from pipeline.tickets import ticket_objects
    from tickets.types import Candidate

    def square(lon: float, lat: float = 23.035) -> dict:
        ring = [[lon, lat], [lon + 3e-5, lat], [lon + 3e-5, lat + 3e-5], [lon, lat + 3e-5], [lon, lat]]
        return {"type": "Polygon", "coordinates": [ring]}

    for name, colour in (("shed", (70, 110, 160)), ("dump1", (120, 110, 90)), ("dump2", (90, 100, 70))):
        buf = io.BytesIO()
        Image.new("RGB", (96, 96), colour).save(buf, format="JPEG")
        context.object_store().put(f"evidence/F-demo/{name}.jpg", buf.getvalue(), content_type="image/jpeg")
    now = datetime.now(UTC)
    with context.database().unit_of_work() as s:
        ticket_objects(session=s, at=now, objects=[
            Candidate(key="F-demo:shed", class_name="steel_shed", category="construction", score=0.9,
                      geometry=square(113.137), seen_at=now, flight_id="F-demo",
                      evidence_key="evidence/F-demo/shed.jpg"),
            Candidate(key="F-demo:smoke", class_name="smoke", category="fire", score=0.9, geometry=square(113.165),
                      seen_at=now, flight_id="F-demo"),
            Candidate(key="F-demo:dump1", class_name="garbage_dump", category="pollution", score=0.2,
                      geometry=square(113.139), seen_at=now, flight_id="F-demo",
                      evidence_key="evidence/F-demo/dump1.jpg"),
            Candidate(key="F-demo:dump2", class_name="bare_soil", category="pollution", score=0.2,
                      geometry=square(113.141, 23.031), seen_at=now, flight_id="F-demo",
                      evidence_key="evidence/F-demo/dump2.jpg")])


def _seed_flight() -> None:
    from datetime import UTC, datetime, timedelta

    from api import context
    from api.demo_district import build_district
    from dockpatrol.taxonomy import Category
    from flight.types import Flight, FlightStatus
    from storage.repositories import findings, flights
    from vision.types import Finding, Frame

    district = build_district()
    dock = district.docks[0]
    now = datetime.now(UTC)
    with context.database().unit_of_work() as s:
        flights.save_flight(session=s, flight=Flight(id="F-demo", dock_id=dock.id, status=FlightStatus.LANDED,
                                                     started_at=now - timedelta(minutes=20), ended_at=now))
        for i in range(12):
            lon, lat = dock.lon + 0.0004 * i, dock.lat + 0.0003 * (i % 3)
            s_frame = Frame(id=f"F-demo-{i}", flight_id="F-demo", captured_at=now, lon=lon, lat=lat,
                            object_key=f"flights/F-demo/{i}.jpg", sha256=f"{i:064d}")
            flights.save_frame(session=s, frame=s_frame)
        for i, (cls, cat) in enumerate((("steel_shed", Category.CONSTRUCTION), ("garbage_dump", Category.POLLUTION),
                                        ("smoke", Category.FIRE))):
            lon, lat = dock.lon + 0.001 * (i + 1), dock.lat + 0.0006
            square = {"type": "Polygon", "coordinates": [[[lon, lat], [lon + 2e-4, lat], [lon + 2e-4, lat + 2e-4],
                                                          [lon, lat + 2e-4], [lon, lat]]]}
            finding = Finding(geometry=square, class_name=cls, category=cat, score=0.8, seen_at=now,
                              frame_id="F-demo-0", box_xyxy_px=None, centroid_lon=lon + 1e-4,
                              centroid_lat=lat + 1e-4, area_m2=400.0)
            findings.save_finding(session=s, finding_id=f"X{i}", finding=finding, flight_id="F-demo", area_id=None)


#: the area an operator launches: small, next to the first dock, so the twin flies it in seconds
QUICK_AREA = "AQ"
TWIN_SPEEDUP = 20.0
SERVICE_TICK_S = 1.0
SERVICE_STOP_S = 120.0
TRACK_WAIT_MS = 180_000


def _seed_quick_area() -> None:
    """A 140 m × 100 m area beside the first dock; schedules off so only the operator's launch flies."""

    from api import context
    from dockpatrol.camera import CameraModel
    from dockpatrol.taxonomy import Category
    from missions.types import PatrolArea
    from storage.repositories import areas, docks, schedules

    with context.database().unit_of_work() as s:
        for plan in schedules.list_all(session=s):
            schedules.upsert(session=s, schedule=replace(plan, enabled=False))
        dock = docks.list_all(session=s)[0]
        docks.upsert(session=s, dock=replace(dock, camera=CameraModel().scaled(1600)))  # small photos render fast
        lon, lat = dock.lon + 0.0015, dock.lat + 0.0010
        ring = [[lon, lat], [lon + 0.00137, lat], [lon + 0.00137, lat + 0.0009], [lon, lat + 0.0009], [lon, lat]]
        areas.upsert(session=s, area=PatrolArea(id=QUICK_AREA, name="quick", gsd_cm=5.0,
                                                polygon={"type": "Polygon", "coordinates": [ring]},
                                                scenarios=frozenset({Category.CONSTRUCTION})))


def _start_patrol_service() -> tuple[Any, threading.Thread]:
    from pipeline.ledger import Ledger
    from pipeline.runner import InProcessRunner
    from pipeline.service import PatrolService, ServiceOptions, WallClock
    from sim.demo import install_twin_vehicles

    class TwinClock(WallClock):
        """Wall time for the service's ticks, the twin's vehicles flying sped up (the simulated clock
        skips idle time, which with no end set would spin the service between launches)."""

        speedup = TWIN_SPEEDUP

    install_twin_vehicles()
    service = PatrolService(clock=TwinClock(), ledger=Ledger(runner=InProcessRunner(workers=1)),
                            options=ServiceOptions(tick_s=SERVICE_TICK_S, lookback_s=0.0, reinspections=False,
                                                   areas=frozenset({QUICK_AREA})))
    runner = threading.Thread(target=service.run, name="patrol-service", daemon=True)
    runner.start()
    return service, runner


def _seed_mosaic(tmp: Path) -> None:
    """F-demo becomes a patrol of the first area with a stored mosaic (a grey COG over the area's grid)."""
    import numpy as np
    import rasterio
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles
    from shapely.geometry import shape

    from api import context
    from missions.types import Mission, MissionStatus
    from storage.repositories import areas, flights
    from vision.mosaic import MosaicGrid

    with context.database().unit_of_work() as s:
        area = areas.list_all(session=s)[0]
    grid = MosaicGrid.for_area(polygon_lonlat=shape(area.polygon), gsd_m=2.0)
    raw, cog = tmp / "raw.tif", tmp / "mosaic.tif"
    with rasterio.open(raw, "w", driver="GTiff", width=grid.width_px, height=grid.height_px, count=3,
                       dtype="uint8", crs=grid.crs, transform=grid.transform) as dst:
        dst.write(np.full((3, grid.height_px, grid.width_px), 128, np.uint8))
    cog_translate(raw, cog, cog_profiles.get("deflate"), add_mask=True, quiet=True)
    context.object_store().put("flights/F-demo/mosaic.tif", cog.read_bytes(), content_type="image/tiff")
    with context.database().unit_of_work() as s:
        flights.save_mission(session=s, mission=Mission(id="M-demo", area_id=area.id,
                                                            status=MissionStatus.COMPLETED))
        flight = flights.require_flight(session=s, flight_id="F-demo")
        flights.save_flight(session=s, flight=replace(flight, mission_id="M-demo",
                                                      summary={"mosaic": {"key": "flights/F-demo/mosaic.tif"}}))


@pytest.fixture(scope="module")
def console_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from api import context
    from api.app import create_app
    from api.cli_users import seed_demo_users
    from api.demo_district import seed
    from api.local_server import serving
    from dockpatrol.settings import reset_settings_cache

    data_dir = tmp_path_factory.mktemp("console")
    old = os.environ.get("DOCKPATROL_DATA_DIR")
    os.environ["DOCKPATROL_DATA_DIR"] = str(data_dir)
    reset_settings_cache()
    context.reset()
    with context.database().unit_of_work() as session:
        seed(session)
    seed_demo_users()
    _seed_flight()
    _seed_tickets()
    _seed_mosaic(data_dir)
    _seed_quick_area()
    service, runner = _start_patrol_service()
    try:
        with serving(create_app()) as url:
            yield url
    finally:
        service.stop.set()
        runner.join(timeout=SERVICE_STOP_S)
        assert not runner.is_alive(), "the patrol service did not stop"
        context.reset()
        if old is None:
            os.environ.pop("DOCKPATROL_DATA_DIR", None)
        else:
            os.environ["DOCKPATROL_DATA_DIR"] = old
        reset_settings_cache()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(autouse=True)
def isolated_data_dir() -> Iterator[None]:
    """The module's server owns the data directory here (overrides the per-test one)."""
    yield


def sign_in(browser: object, url: str, username: str, *, lang: str = "zh") -> object:
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")  # type: ignore[attr-defined]
    page.on("dialog", lambda d: d.accept())
    page.add_init_script(f"localStorage.setItem('dockpatrol.lang', '{lang}')")
    page.goto(f"{url}/console/")
    page.fill("#username", username)
    page.fill("#password", f"{username}-demo-2026")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("[data-testid=whoami]:not(:empty)")
    return page


ROLE_TABS = {
    "admin": ["map", "operator", "tickets", "review", "ops", "admin"],
    "operator": ["map", "operator"],
    "enforcement": ["map", "tickets"],
    "environmental": ["map", "tickets", "review"],
    "fire": ["map", "tickets"],
    "ops": ["map", "tickets", "ops"],
}


@pytest.mark.parametrize("username", list(ROLE_TABS))
def test_each_role_signs_in_and_sees_the_docks_on_the_map(browser: object, console_url: str, username: str) -> None:
    page = sign_in(browser, console_url, username)
    page.wait_for_selector("[data-testid=dock-marker]")
    assert page.locator("[data-testid=dock-marker]").count() == 8
    tabs = [t.get_attribute("data-screen") for t in page.locator(".tab").all()]
    assert tabs == ROLE_TABS[username]
    page.wait_for_selector(".panel .card")
    page.screenshot(path=str(ARTIFACTS / f"role-{username}.png"))
    page.close()


def test_patrol_mosaic_base_layer_loads_its_tiles(browser: object, console_url: str) -> None:
    page = sign_in(browser, console_url, "operator", lang="en")
    page.wait_for_selector("[data-testid=dock-marker]")
    page.hover(".leaflet-control-layers")
    page.click(".leaflet-control-layers-base label:has-text('Patrol mosaic')")
    page.wait_for_selector(".mosaic-tiles img.leaflet-tile-loaded", timeout=20_000)
    src = page.locator(".mosaic-tiles img.leaflet-tile-loaded").first.get_attribute("src")
    assert src is not None and "/api/tiles/F-demo/" in src and "sig=" in src
    page.close()


def test_wrong_password_shows_the_reason(browser: object, console_url: str) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(f"{console_url}/console/")
    page.fill("#username", "operator")
    page.fill("#password", "not-the-password")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "wrong username or password" in page.inner_text("#login-error")
    page.close()


def test_operator_puts_a_dock_into_maintenance(browser: object, console_url: str) -> None:
    page = sign_in(browser, console_url, "operator", lang="en")
    page.click("[data-testid=tab-operator]")
    card = page.locator("[data-testid=dock-card]").first
    card.get_by_role("button", name="Set maintenance").click()
    page.wait_for_selector("[data-testid=dock-card] .status-maintenance")
    card = page.locator("[data-testid=dock-card]").first
    card.get_by_role("button", name="Set ready").click()
    page.wait_for_selector("[data-testid=dock-card] .status-maintenance", state="detached")
    page.close()


def test_a_screen_shown_before_the_docks_arrive_fills_in_when_they_do(browser: object, console_url: str) -> None:
    """The docks request is held until the operator screen has rendered: its dock list and dock choice
    must fill in when the answer comes, not stay as empty as they were drawn."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})  # type: ignore[attr-defined]
    page.add_init_script("localStorage.setItem('dockpatrol.lang', 'en')")
    held: list[Any] = []
    released = threading.Event()

    def hold(request: Any) -> None:
        if released.is_set():
            request.continue_()
        else:
            held.append(request)

    page.route("**/api/docks?*", hold)
    page.goto(f"{console_url}/console/#/map")
    page.fill("#username", "operator")
    page.fill("#password", "operator-demo-2026")
    page.click("#login-form button[type=submit]")
    page.click("[data-testid=tab-operator]")
    page.wait_for_selector("[data-testid=plan-submit]")
    assert page.locator("[data-testid=dock-card]").count() == 0
    released.set()
    for request in held:
        request.continue_()
    card = page.locator("[data-testid=dock-card]").first
    card.get_by_role("button", name="Set maintenance").wait_for(timeout=15_000)
    assert page.locator("[data-testid=dock-card]").count() == 8
    assert page.locator("[data-testid=plan-dock] option").count() == 9  # "nearest" and each dock
    page.close()


def test_language_toggle_and_admin_screen(browser: object, console_url: str) -> None:
    page = sign_in(browser, console_url, "admin")
    page.click("[data-testid=tab-admin]")
    page.wait_for_selector("[data-testid=users-table]")
    assert "用户" in page.inner_text(".panel")
    page.click("[data-testid=lang-toggle]")
    page.wait_for_selector("text=Users")
    assert page.locator("[data-testid=users-table] tbody tr").count() == 6
    page.screenshot(path=str(ARTIFACTS / "admin-en.png"))
    page.close()


def test_overview_screenshot_for_the_readme(browser: object, console_url: str) -> None:
    page = sign_in(browser, console_url, "ops")
    page.click("[data-testid=tab-map]")
    page.wait_for_selector("[data-testid=kpi-docks]")
    page.wait_for_selector(".leaflet-overlay-pane path")
    path = ARTIFACTS / "console-overview.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 20_000
    if os.environ.get("DOCKPATROL_UPDATE_DOCS"):
        shutil.copy(path, Path(__file__).resolve().parents[2] / "docs" / "console.png")
    page.close()


def test_enforcement_moves_a_ticket_through_its_lifecycle(browser: object, console_url: str) -> None:
    page = sign_in(browser, console_url, "enforcement", lang="en")
    page.click("[data-testid=tab-tickets]")
    page.wait_for_selector("[data-testid=ticket-row]")
    assert page.locator("[data-testid=ticket-row]").count() == 1  # the fire ticket is not theirs
    page.click("[data-testid=ticket-row]")
    page.wait_for_selector("[data-testid=ticket-detail]")
    page.wait_for_selector("[data-testid=evidence] img")
    page.screenshot(path=str(ARTIFACTS / "enforcement-ticket.png"))
    for action, status in (("accept", "Accepted"), ("start", "In progress"), ("resolve", "Verifying"),
                           ("close", "Closed")):
        page.fill("[data-testid=ticket-note]", f"{action} from the console")
        page.click(f"[data-testid=action-{action}]")
        page.wait_for_selector(f"[data-testid=ticket-detail] .chip:has-text('{status}')")
    history = page.inner_text("[data-testid=history]")
    assert "close from the console" in history and "Verifying → Closed" in history
    page.screenshot(path=str(ARTIFACTS / "enforcement-closed.png"))
    page.close()


def test_environmental_reviews_with_the_keyboard(browser: object, console_url: str) -> None:
    page = sign_in(browser, console_url, "environmental", lang="en")
    page.click("[data-testid=tab-review]")
    page.wait_for_selector("[data-testid=review-item]")
    page.screenshot(path=str(ARTIFACTS / "review-queue.png"))
    first = page.get_attribute("[data-testid=review-item]", "data-item")
    page.fill("[data-testid=review-reason]", "wet asphalt, not soil")
    page.click("[data-testid=review-reject]")
    page.wait_for_selector(f"[data-testid=review-item]:not([data-item='{first}'])")
    page.locator("body").click(position={"x": 5, "y": 300})  # focus out of the reason box
    page.keyboard.press("a")
    page.wait_for_selector("[data-testid=review-empty]")
    page.close()


def test_ops_centre_sees_deadlines_per_department(browser: object, console_url: str) -> None:
    page = sign_in(browser, console_url, "ops", lang="en")
    page.click("[data-testid=tab-ops]")
    page.wait_for_selector("[data-testid=sla-table]")
    departments = page.inner_text("[data-testid=sla-table]")
    assert "Enforcement" in departments and "Fire & emergency" in departments
    page.screenshot(path=str(ARTIFACTS / "ops-centre.png"))
    page.close()


def test_operator_launches_a_patrol_and_its_track_draws_live(browser: object, console_url: str) -> None:
    page = sign_in(browser, console_url, "operator")
    page.click("[data-testid=tab-operator]")
    page.wait_for_selector("[data-testid=plan-area]")
    page.select_option("[data-testid=plan-area]", value=QUICK_AREA)
    page.click("[data-testid=plan-submit]")
    page.wait_for_selector("[data-testid=mission-launch]")
    mission_id = page.get_attribute("[data-testid=mission-row] >> nth=0", "data-mission")
    assert page.locator("[data-testid=live-track]").count() == 0
    page.click("[data-testid=mission-launch] >> nth=0")
    track = page.wait_for_selector("[data-testid=live-track]", timeout=TRACK_WAIT_MS)
    flight_id = track.get_attribute("data-flight")
    assert flight_id and flight_id.startswith("F-")
    page.wait_for_function("() => (document.querySelector('[data-testid=live-track]').getAttribute('d') || '')"
                           ".split(/[ML]/).filter((p) => p.trim()).length >= 2", timeout=TRACK_WAIT_MS)
    page.screenshot(path=str(ARTIFACTS / "operator-live-track.png"))
    row = f"[data-testid=mission-row][data-mission='{mission_id}']"
    page.wait_for_selector(f"{row} .status-flying, {row} .status-analysing, {row} .status-completed",
                           timeout=TRACK_WAIT_MS)
    page.close()
