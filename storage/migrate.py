"""Schema migrations: ``dockpatrol db upgrade`` and the automatic upgrade of an empty database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from dockpatrol.errors import StorageError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise StorageError("no migrations found in storage/migrations")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the schema to ``revision``; returns the revision now current."""
    cfg = _config()
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite changes a column by rebuilding its table, dropping the old one that children
            # reference; foreign keys are checked once, after the whole migration, instead.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise StorageError(f"migration to {revision} left {len(broken)} dangling references, "
                                           f"first in table {broken[0][0]}; nothing was changed")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
    return current_revision(engine) or ""


def ensure_schema(engine: Engine) -> None:
    """Create the schema on an empty database; refuse to run against an outdated one."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None:
        user_tables = [t for t in inspect(engine).get_table_names() if t not in ("spatial_ref_sys",)]
        if user_tables:
            raise StorageError(
                f"database has tables ({', '.join(sorted(user_tables)[:4])}…) but no dockpatrol schema "
                "version; point DOCKPATROL_DATABASE_URL at an empty or dockpatrol database"
            )
        upgrade(engine)
        return
    raise StorageError(
        f"database schema is at revision {current}, this dockpatrol needs {head}: run `dockpatrol db upgrade`"
    )
