"""Migration 0006 creates what storage/tables.py declares for operations (jobs, aborts, dock states),
keeps existing rows, and downgrades cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from storage.migrate import _config, upgrade
from storage.tables import Base

OPERATIONS = {("jobs", None), ("missions", "abort_requested_at"), ("docks", "status_reason"), ("docks", "heartbeat_at")}


def _touches_operations(diff: tuple) -> bool:
    text_of = repr(diff)
    return "'jobs'" in text_of or "ix_jobs_" in text_of or any(c and c in text_of for _, c in OPERATIONS)


def test_operations_schema_matches_the_declared_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    flat = [d for group in diffs for d in (group if isinstance(group, list) else [group])]
    assert [d for d in flat if _touches_operations(d)] == []


def test_0006_keeps_docks_and_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    from storage.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0005")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO docks (id, name, lon, lat, elevation_amsl_m, vehicle_url, max_range_m, "
                          "endurance_s, charge_s, cruise_speed_m_s, status, camera, created_at, updated_at) VALUES "
                          "('D1', 'd', 113.15, 23.03, NULL, 'sim:', 5000, 2400, 1800, 10, 'ready', '{}', "
                          "'2026-01-05 00:00:00', '2026-01-05 00:00:00')"))
    assert upgrade(engine, "0006") == "0006"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, status_reason, heartbeat_at FROM docks")).all() == [("D1", "", None)]
    assert "jobs" in inspect(engine).get_table_names()
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    assert "jobs" not in inspect(engine).get_table_names()
    assert "abort_requested_at" not in {c["name"] for c in inspect(engine).get_columns("missions")}
    assert upgrade(engine, "0006") == "0006"
    assert "status_reason" in {c["name"] for c in inspect(engine).get_columns("docks")}
