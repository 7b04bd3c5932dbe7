"""Fixtures shared by every test: an isolated data directory and the real servers.

Server fixtures read ``DOCKPATROL_TEST_{PG_URL,S3_ENDPOINT,REDIS_URL}`` (set by scripts/test.sh,
which starts the servers). Without them a test is skipped, unless DOCKPATROL_REQUIRE_SERVERS
is set (CI), where it fails: in CI no production part may go untested.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


def _server(var: str, what: str) -> str:
    value = os.environ.get(var)
    if value:
        return value
    message = f"{what} not available: {var} is unset (scripts/services.sh starts it)"
    if os.environ.get("DOCKPATROL_REQUIRE_SERVERS"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own data directory and fresh settings; no test sees another's state."""
    from dockpatrol.settings import reset_settings_cache

    data_dir = tmp_path / "data"
    monkeypatch.setenv("DOCKPATROL_DATA_DIR", str(data_dir))
    for var in ("DOCKPATROL_DATABASE_URL", "DOCKPATROL_S3_ENDPOINT", "DOCKPATROL_BROKER_URL",
                "DOCKPATROL_OBJECTS_DIR"):
        monkeypatch.delenv(var, raising=False)
    reset_settings_cache()
    yield data_dir
    reset_settings_cache()
    try:
        from api import context
    except ImportError:
        return
    context.reset()


@pytest.fixture(scope="session")
def pg_url() -> str:
    return _server("DOCKPATROL_TEST_PG_URL", "PostgreSQL+PostGIS")


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    return _server("DOCKPATROL_TEST_S3_ENDPOINT", "S3-protocol server")


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _server("DOCKPATROL_TEST_REDIS_URL", "Redis")
