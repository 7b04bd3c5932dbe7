"""Schema migrations: ``dockpatrol db upgrade`` and the automatic upgrade of an empty database."""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from dockpatrol.errors import StorageError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: PostgreSQL advisory-lock key held while a process checks or creates the schema ("dockpatr" in ASCII).
SCHEMA_LOCK_KEY = 0x646F636B70617472
#: Alembic runs a migration through module-level state (its ``context`` proxy and the env script): one
#: migration at a time in this process, whichever database it is for.
_ALEMBIC_LOCK = threading.Lock()


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
    with _ALEMBIC_LOCK, engine.connect() as conn:
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


@contextmanager
def schema_lock(engine: Engine) -> Iterator[None]:
    """Hold the database's schema lock: the API, the patrol service and workers may all start at once on an
    empty database, and only one of them may create the schema (the others then find it done)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({SCHEMA_LOCK_KEY})")
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({SCHEMA_LOCK_KEY})")
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.schema-lock", "a+") as lock:  # flock: released if the holder dies
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_schema(engine: Engine) -> None:
    """Create the schema on an empty database; refuse to run against an outdated one."""
    head = head_revision()
    if current_revision(engine) == head:
        return
    with schema_lock(engine):
        current = current_revision(engine)  # another process may have created it while we waited
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
