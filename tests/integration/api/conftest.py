"""A real API server (uvicorn in a thread) over SQLite or PostgreSQL, with an admin and an operator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

PASSWORD = "integration-pass-1"


@dataclass(frozen=True)
class Server:
    url: str
    admin: dict[str, str]
    operator: dict[str, str]


def _fresh_pg(pg_url: str) -> None:
    from storage.db import make_engine, wipe_postgis_schema

    engine = make_engine(pg_url)
    wipe_postgis_schema(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    from api import auth, context
    from api.app import create_app
    from api.local_server import serving
    from dockpatrol.identity import Role
    from dockpatrol.settings import reset_settings_cache
    from storage.repositories import users

    if request.param == "postgresql":
        pg_url = request.getfixturevalue("pg_url")
        _fresh_pg(pg_url)
        monkeypatch.setenv("DOCKPATROL_DATABASE_URL", pg_url)
    reset_settings_cache()
    context.reset()
    with context.database().unit_of_work() as session:
        for name, role in (("admin", Role.ADMIN), ("op", Role.OPERATOR)):
            users.create_user(session=session, username=name, password_hash=auth.hash_password(PASSWORD),
                              roles=frozenset({role}))
    with serving(create_app(), limit_concurrency=200) as url:

        def login(name: str) -> dict[str, str]:
            r = httpx.post(f"{url}/api/auth/token", data={"username": name, "password": PASSWORD}, timeout=30)
            r.raise_for_status()
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        try:
            yield Server(url=url, admin=login("admin"), operator=login("op"))
        finally:
            context.reset()
