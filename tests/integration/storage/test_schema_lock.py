"""Concurrent first starts on empty databases: exactly one creates each schema, the rest find it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from storage.db import make_engine
from storage.migrate import current_revision, ensure_schema, head_revision


def _first_starts_at_once(urls: Sequence[str]) -> list[BaseException]:
    """One thread per URL, each with its own engine (a "process"), released together into
    ``ensure_schema``; returns what they raised, after checking each database is at head."""
    barrier = threading.Barrier(len(urls))
    errors: list[BaseException] = []

    def start(url: str) -> None:
        engine = make_engine(url)
        try:
            barrier.wait()
            ensure_schema(engine)
        except BaseException as exc:  # collected and asserted by the caller
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start, args=(url,)) for url in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a first start hung on the schema lock"
    if not errors:
        for url in set(urls):
            engine = make_engine(url)
            try:
                assert current_revision(engine) == head_revision(), url
            finally:
                engine.dispose()
    return errors


def test_eight_first_starts_at_once_all_find_one_schema(tmp_path: Path) -> None:
    assert _first_starts_at_once([f"sqlite:///{tmp_path / 'first-start.db'}"] * 8) == []


def test_first_starts_of_different_databases_at_once_each_get_their_schema(tmp_path: Path) -> None:
    """Alembic keeps the migration it runs in module globals: two databases created at once in one
    process (a test's leftover worker and the next test, a CLI opening two stores) must not share it."""
    assert _first_starts_at_once([f"sqlite:///{tmp_path / f'store-{i}.db'}" for i in range(4)]) == []
