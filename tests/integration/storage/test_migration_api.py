"""Migration 0005 creates exactly what storage/tables_api.py declares, and downgrades cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

import storage.tables_api  # noqa: F401  (registers the API's tables on Base.metadata)
from storage.migrate import _config, upgrade
from storage.tables import Base

API_TABLES = {"users", "api_tokens", "audit_log", "platform_settings"}
#: Created by 0005, dropped by 0008 (never written: launches and aborts are mission fields).
RETIRED = {"mission_commands"}


def test_api_tables_match_the_declared_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    flat = [d for group in diffs for d in (group if isinstance(group, list) else [group])]
    ours = [d for d in flat if any(name in repr(d) for name in API_TABLES)]
    assert ours == []


def test_0005_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    from storage.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0005")
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    assert not API_TABLES & set(inspect(engine).get_table_names())
    assert upgrade(engine, "0005") == "0005"
    assert set(inspect(engine).get_table_names()) >= API_TABLES


def test_0008_drops_the_unused_command_queue_and_restores_it_on_downgrade(tmp_path: Path) -> None:
    from storage.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    assert not RETIRED & set(inspect(engine).get_table_names())
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    assert set(inspect(engine).get_table_names()) >= RETIRED
