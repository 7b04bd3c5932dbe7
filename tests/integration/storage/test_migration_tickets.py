"""Migration 0003 creates exactly what storage/tables.py declares for tickets, and downgrades cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from storage.migrate import _config, upgrade
from storage.tables import Base

TICKET_TABLES = {"tickets", "ticket_history", "sightings", "review_items", "webhook_subscriptions", "departments",
                 "routing_policies", "routing_rules", "outbox"}


def _table_of(diff: tuple) -> str | None:
    for item in diff[1:]:
        table = getattr(item, "table", None)
        if table is not None:
            return str(table.name)
        if hasattr(item, "name") and hasattr(item, "columns") and hasattr(item, "metadata"):
            return str(item.name)
        if isinstance(item, str) and item in TICKET_TABLES:
            return item
    return None


def test_ticket_tables_match_the_declared_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    flat = [d for group in diffs for d in (group if isinstance(group, list) else [group])]
    ours = [d for d in flat if _table_of(d) in TICKET_TABLES and not str(d[1]).endswith("_geometry_gist")
            and "geometry_gist" not in repr(d)]
    assert ours == []


def test_0003_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    from storage.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    assert "sightings" not in inspect(engine).get_table_names()
    assert "version" not in {c["name"] for c in inspect(engine).get_columns("tickets")}
    assert upgrade(engine, "0003") == "0003"
    assert {"sightings", "review_items", "webhook_subscriptions"} <= set(inspect(engine).get_table_names())
