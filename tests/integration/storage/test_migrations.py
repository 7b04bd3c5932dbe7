"""Migration 0002 on data written by 0001: names, units and priorities change, nothing is lost."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from storage.db import make_engine
from storage.migrate import current_revision, upgrade

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SCHEMA = "migration_test"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    else:
        # A schema of its own (PostGIS stays in public), so the repository tests' database is untouched.
        url = request.getfixturevalue("pg_url")
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            # Alembic finds its version table first on the search path: give the schema its own, empty.
            conn.execute(text(f"CREATE TABLE {SCHEMA}.alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        sep = "&" if "?" in url else "?"
        eng = make_engine(f"{url}{sep}options=-csearch_path%3D{SCHEMA},public")
    yield eng
    eng.dispose()
    if request.param == "postgresql":
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        admin.dispose()


def _seed_0001(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO docks (id, name, lon, lat, alt_m, vehicle_url, max_range_m, endurance_s, charge_s, "
            "cruise_speed_m_s, status, camera, created_at, updated_at) VALUES "
            "('D1', 'd', 113.15, 23.03, 8.5, 'sim:', 4000, 1800, 1500, 10, 'ready', '{}', :t, :t)"), {"t": T0})
        conn.execute(text(
            "INSERT INTO missions (id, kind, status, dock_id, priority, plan, reason, created_at, updated_at) "
            "VALUES ('M1', 'patrol', 'completed', 'D1', 50, '{}', '', :t, :t), "
            "('M2', 'patrol', 'planned', 'D1', 0, '{}', '', :t, :t)"), {"t": T0})


def test_0002_renames_elevation_and_moves_priorities_to_one_scale(empty_engine: Engine) -> None:
    assert upgrade(empty_engine, "0001") == "0001"
    _seed_0001(empty_engine)
    assert upgrade(empty_engine, "0002") == "0002" == current_revision(empty_engine)
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT id, elevation_amsl_m FROM docks")).all() == [("D1", 8.5)]
        got = dict(conn.execute(text("SELECT id, priority FROM missions ORDER BY id")).all())
    assert got == {"M1": 2, "M2": 0}  # the old default 50 was "routine"; emergencies stay
    from sqlalchemy.orm import Session

    from missions.types import MissionStatus, Priority
    from storage.repositories import docks, flights

    upgrade(empty_engine)  # the repositories read the latest schema; later revisions keep these rows
    with Session(empty_engine) as session:
        assert docks.require(session=session, dock_id="D1").elevation_amsl_m == 8.5
        mission = flights.require_mission(session=session, mission_id="M1")
        assert (mission.status, mission.priority) == (MissionStatus.COMPLETED, Priority.ROUTINE)


def test_0003_keeps_tickets_and_deliveries_written_before_it(empty_engine: Engine) -> None:
    """Tickets and outbox rows of the old schema read back through the new repository, state intact."""
    assert upgrade(empty_engine, "0002") == "0002"
    poly = '{"type":"Polygon","coordinates":[[[113.15,23.03],[113.1501,23.03],[113.1501,23.0301],[113.15,23.03]]]}'
    geometry = "ST_GeomFromGeoJSON(:g)" if empty_engine.dialect.name == "postgresql" else ":g"
    with empty_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO tickets (id, number, category, class_name, department, status, priority, evidence, routing, "
            "geometry, min_lon, min_lat, max_lon, max_lat, created_at, updated_at) VALUES ('T1', 'GC-1', "
            f"'construction', 'steel_shed', 'enforcement', 'dispatched', 40, '[]', '{{}}', {geometry}, 113.15, 23.03, "
            "113.1501, 23.0301, :t, :t)"), {"t": T0, "g": poly})
        conn.execute(text(
            "INSERT INTO outbox (idempotency_key, topic, destination, payload, created_at, attempts, next_attempt_at, "
            "delivered_at, last_error) VALUES ('k1', 'ticket.created', 'http://x', '{}', :t, 1, :t, :t, ''), "
            "('k2', 'ticket.dispatched', 'http://x', '{}', :t, 0, :t, NULL, '')"), {"t": T0})
    assert upgrade(empty_engine, "0003") == "0003"
    from sqlalchemy.orm import Session

    from storage.repositories import tickets
    from tickets.types import TicketStatus

    with Session(empty_engine) as session:
        t = tickets.require(session=session, ticket_id="T1")
        assert (t.status, t.version, t.sightings, t.reopen_count) == (TicketStatus.DISPATCHED, 1, 1, 0)
        assert {e.idempotency_key: e.status for e in tickets.list_outbox(session=session)} == {
            "k1": "delivered", "k2": "pending"}
