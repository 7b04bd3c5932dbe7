"""Concurrent first starts on one empty database: exactly one creates the schema, the rest find it."""

from __future__ import annotations

import threading
from pathlib import Path

from storage.db import make_engine
from storage.migrate import current_revision, ensure_schema, head_revision


def test_eight_first_starts_at_once_all_find_one_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'first-start.db'}"
    starters = 8
    barrier = threading.Barrier(starters)
    errors: list[BaseException] = []

    def start() -> None:
        engine = make_engine(url)  # each "process" has its own engine and connections
        try:
            barrier.wait()
            ensure_schema(engine)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a first start hung on the schema lock"
    assert errors == []
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_first_starts_of_different_databases_at_once_each_get_their_schema(tmp_path: Path) -> None:
    """Alembic keeps the migration it runs in module globals: two databases created at once in one
    process (a test's leftover worker and the next test, a CLI opening two stores) must not share it."""
    starters = 4
    barrier = threading.Barrier(starters)
    errors: list[BaseException] = []
    urls = [f"sqlite:///{tmp_path / f'store-{i}.db'}" for i in range(starters)]

    def start(url: str) -> None:
        engine = make_engine(url)
        try:
            barrier.wait()
            ensure_schema(engine)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start, args=(url,)) for url in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a first start hung"
    assert errors == []
    for url in urls:
        engine = make_engine(url)
        try:
            assert current_revision(engine) == head_revision()
        finally:
            engine.dispose()
