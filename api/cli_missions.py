"""`dockpatrol plan` and `dockpatrol schedule`: the missions package on the command line."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from dockpatrol.errors import ConfigError, InvalidInput

if TYPE_CHECKING:
    from missions.planner import PatrolPlan
    from missions.scheduler import PatrolSchedule, Timetable
    from missions.types import Dock

_LONLAT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")


def resolve_dock(spec: str) -> Dock:
    """A dock from ``LON,LAT`` (an ad-hoc dock with default vehicle) or a registered dock id."""
    from missions.areas import check_position
    from missions.types import Dock

    m = _LONLAT.match(spec)
    if m:
        lon, lat = check_position([float(m.group(1)), float(m.group(2))], where="--dock")
        return Dock(id="adhoc", name=f"ad-hoc dock at {lon:.5f},{lat:.5f}", lon=lon, lat=lat)
    try:
        from api.context import load_dock
    except ModuleNotFoundError as exc:
        if exc.name not in ("api.context", "storage", "sqlalchemy"):
            raise
        raise ConfigError(
            f"dock id {spec!r} needs the fleet registry, which is not available here; pass --dock LON,LAT"
        ) from None
    return load_dock(spec)


def _pick_feature(path: Path, area_id: str | None) -> Any:
    from missions.areas import read_features

    features = read_features(path)
    if area_id is not None:
        chosen = [f for f in features if area_id in (f.id, f.name)]
        if not chosen:
            known = ", ".join(str(f.id or f.name or f"#{f.index + 1}") for f in features)
            raise InvalidInput(f"{path}: no feature with id or name {area_id!r}; it holds {known}")
        return chosen[0]
    if len(features) > 1:
        known = ", ".join(str(f.id or f.name or f"#{f.index + 1}") for f in features)
        raise InvalidInput(f"{path}: holds {len(features)} features ({known}); choose one with --area-id")
    return features[0]


def _sortie_path(output: Path, k: int, n: int) -> Path:
    """Sortie 1 goes where asked; later sorties beside it as <stem>.sortie<k><suffix>."""
    return output if k == 1 or n == 1 else output.with_name(f"{output.stem}.sortie{k}{output.suffix}")


def plan_command(
    area: Path = typer.Option(..., "--area", help="GeoJSON/KML/KMZ: Polygon → survey, LineString → corridor "
                              "(width_m), Point → orbit (radius_m)", dir_okay=False),
    dock: str = typer.Option(..., "--dock", help="registered dock id, or LON,LAT for an ad-hoc dock"),
    output: Path = typer.Option(..., "-o", "--output", help="plan file to write (sortie 1; others beside it)"),
    scenario: list[str] | None = typer.Option(None, "--scenario", help="construction | pollution | fire "
                                              "(repeatable; default: the feature's, else construction)"),
    fmt: str = typer.Option("json", "--format", help="json (plan.json for `dockpatrol fly`) or qgc (.plan)"),
    no_fly: list[Path] | None = typer.Option(None, "--no-fly", help="no-fly zones file (repeatable)"),
    gsd_cm: float | None = typer.Option(None, "--gsd-cm", help="target ground sample distance, cm/px"),
    area_id: str | None = typer.Option(None, "--area-id", help="feature id or name when the file holds several"),
    width_m: float | None = typer.Option(None, "--width-m", help="corridor width (LineString areas)"),
    radius_m: float | None = typer.Option(None, "--radius-m", help="orbit radius (Point areas)"),
    reserve: float = typer.Option(0.25, "--reserve", help="battery fraction kept in reserve"),
    heading_deg: float | None = typer.Option(None, "--heading-deg", help="survey line heading; default long axis"),
) -> None:
    """Plan a patrol of an area from a dock and write what `dockpatrol fly --plan` flies."""
    from missions.areas import load_no_fly_zones, parse_scenarios
    from missions.planfile import write_plan
    from missions.planner import PlanOptions, plan_feature
    from missions.qgc import write_qgc

    if fmt not in ("json", "qgc"):
        raise InvalidInput(f"--format must be json or qgc, got {fmt!r}")
    for option, value in (("--gsd-cm", gsd_cm), ("--width-m", width_m), ("--radius-m", radius_m),
                          ("--reserve", reserve), ("--heading-deg", heading_deg)):
        if value is not None and not math.isfinite(value):
            raise InvalidInput(f"{option} {value} is not a finite number")
    the_dock = resolve_dock(dock)
    feature = _pick_feature(area, area_id)
    scenarios = parse_scenarios(scenario, where="--scenario", default=frozenset()) or None
    zones = [z for path in (no_fly or []) for z in load_no_fly_zones(path)]
    options = PlanOptions(reserve_fraction=reserve, heading_deg=heading_deg)
    result = plan_feature(feature, dock=the_dock, scenarios=scenarios, no_fly=zones, options=options, gsd_cm=gsd_cm,
                          width_m=width_m, radius_m=radius_m)
    written = []
    for plan in result.sorties:
        path = _sortie_path(output, plan.sortie, plan.sorties)
        if fmt == "qgc":
            write_qgc(path, plan, home_amsl_m=the_dock.elevation_amsl_m)
        else:
            write_plan(path, plan)
        written.append(path)
    _print_plan(result, written)


def _print_plan(result: PatrolPlan, written: list[Path]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    head = (f"{result.kind} at {result.altitude_m:.1f} m, GSD {result.gsd_cm:.2f} cm (target {result.target_gsd_cm:g}), "
            f"trigger every {result.trigger_distance_m:.2f} m")
    if result.line_spacing_m:
        head += f", lines {result.line_spacing_m:.2f} m apart"
    if result.heading_deg is not None:
        head += f" heading {result.heading_deg:.0f}°"
    head += f", {result.speed_m_s:.1f} m/s; coverage {result.coverage_fraction:.1%}"
    console.print(head)
    for note in result.notes:
        console.print(f"note: {note}")
    table = Table("sortie", "items", "length km", "minutes", "frames", "fence pts", "file")
    for plan, path in zip(result.sorties, written, strict=True):
        table.add_row(f"{plan.sortie}/{plan.sorties}", str(len(plan.items)), f"{plan.length_m / 1000:.2f}",
                      f"{plan.duration_s / 60:.1f}", str(plan.frame_count), str(len(plan.fence)), str(path))
    console.print(table)


# --- schedule ----------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not valid JSON ({exc})") from None


def schedule_command(
    days: float = typer.Option(7.0, "--days", help="horizon in days"),
    start: str | None = typer.Option(None, "--start", help="ISO time with zone; default the next quarter hour"),
    docks_file: Path | None = typer.Option(None, "--docks", help="docks JSON/GeoJSON (instead of the database)"),
    areas_file: Path | None = typer.Option(None, "--areas", help="areas GeoJSON/KML with a cadence property"),
    requests_file: Path | None = typer.Option(None, "--requests", help="ad-hoc, emergency, re-inspection requests"),
    weather_file: Path | None = typer.Option(None, "--weather", help="operator weather marks (JSON list)"),
    timezone: str = typer.Option("UTC", "--timezone", help="wall clock for cadences and the printed times"),
    as_json: bool = typer.Option(False, "--json", help="print the timetable as JSON"),
) -> None:
    """Print the patrol timetable for the coming days and why anything was left out."""
    from dockpatrol.settings import get_settings
    from missions.areas import load_areas, load_docks
    from missions.scheduler import (
        SchedulerConfig,
        parse_time,
        requests_from_json,
        schedule,
        schedules_from_areas,
        time_zone,
    )
    from missions.weather import ConstantWeather, Weather, marks_from_json, with_marks
    from pipeline.patrol import PatrolOptions

    tz = time_zone(timezone, "--timezone")
    if docks_file is not None and areas_file is not None:
        docks = load_docks(docks_file)
        areas = load_areas(areas_file)
        schedules: list[PatrolSchedule] = schedules_from_areas(areas, timezone=timezone)
    elif docks_file is not None or areas_file is not None:
        raise InvalidInput("give both --docks and --areas, or neither to use the fleet database")
    else:
        try:
            from api.context import load_fleet
        except ModuleNotFoundError as exc:
            if exc.name not in ("api.context", "storage", "sqlalchemy"):
                raise
            raise ConfigError("no fleet database here; pass --docks FILE --areas FILE") from None
        docks, areas, schedules = load_fleet()
    if start is None:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        t0 = now + timedelta(minutes=(15 - now.minute % 15) % 15)
    else:
        t0 = parse_time(start, where="--start")
    requests = requests_from_json(_read_json(requests_file)) if requests_file else []
    settings = get_settings()
    # settings say only "raining or not"; 2 mm/h is moderate rain, over the default 1 mm/h limit
    base = ConstantWeather(Weather(wind_m_s=settings.wind_m_s, rain_mm_h=2.0 if settings.rain else 0.0,
                                   note="configured constant weather"))
    weather = with_marks(base, marks_from_json(_read_json(weather_file)) if weather_file else [])
    # sized as the patrol service will fly them (coverage overlaps, not photogrammetric ones)
    table = schedule(docks=docks, areas=areas, schedules=schedules, requests=requests, start=t0, days=days,
                     weather=weather, config=SchedulerConfig(plan=PatrolOptions().plan_options()))
    if as_json:
        typer.echo(json.dumps(timetable_to_dict(table), indent=2, ensure_ascii=False))
    else:
        _print_timetable(table, tz)


def timetable_to_dict(table: Timetable) -> dict[str, Any]:
    """The timetable as JSON-ready data (times ISO 8601 UTC)."""
    return {
        "start": table.start.isoformat(),
        "end": table.end.isoformat(),
        "entries": [
            {"request_id": e.request_id, "area_id": e.area_id, "dock_id": e.dock_id, "start": e.start.isoformat(),
             "end": e.end.isoformat(), "ready_at": e.ready_at.isoformat(), "priority": e.priority.name.lower(),
             "sortie": e.sortie, "sorties": e.sorties, "reason": e.reason}
            for e in table.entries
        ],
        "unscheduled": [
            {"request_id": u.request_id, "area_id": u.area_id, "priority": u.priority.name.lower(),
             "sortie": u.sortie, "sorties": u.sorties, "reason": u.reason}
            for u in table.unscheduled
        ],
    }


def _print_timetable(table: Timetable, tz: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()

    def t(x: datetime) -> str:
        return f"{x.astimezone(tz):%a %m-%d %H:%M}"

    grid = Table("takeoff", "landing", "dock", "patrol", "priority", "sortie", "why",
                 title=f"Timetable {t(table.start)} – {t(table.end)} ({tz.key})")
    for e in table.entries:
        grid.add_row(t(e.start), f"{e.end.astimezone(tz):%H:%M}", e.dock_id, e.area_id or e.request_id,
                     e.priority.name.lower(), f"{e.sortie}/{e.sorties}", e.reason)
    console.print(grid)
    if table.unscheduled:
        left = Table("request", "area", "priority", "reason", title="Not scheduled")
        for u in table.unscheduled:
            left.add_row(u.request_id + (f" ({u.sortie}/{u.sorties})" if u.sorties > 1 else ""), u.area_id or "-",
                         u.priority.name.lower(), u.reason)
        console.print(left)
    console.print(f"{len(table.entries)} sorties scheduled, {len(table.unscheduled)} not scheduled")


def register(app: typer.Typer) -> None:
    """Attach this package's commands to the main app."""
    app.command("plan")(plan_command)
    app.command("schedule")(schedule_command)
