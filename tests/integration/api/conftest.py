"""A real API server (uvicorn in a thread) over SQLite or PostgreSQL, with an admin and an operator."""

from __future__ import annotations

import socket
import threading
import time
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh_pg(pg_url: str) -> None:
    from sqlalchemy import text

    from storage.db import make_engine

    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    import uvicorn

    from api import auth, context
    from api.app import create_app
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
    port = _free_port()
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning", limit_concurrency=200)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.05)  # polling a condition (server started) with a bounded deadline
    assert srv.started, "API server did not start in 30 s"
    url = f"http://127.0.0.1:{port}"

    def login(name: str) -> dict[str, str]:
        r = httpx.post(f"{url}/api/auth/token", data={"username": name, "password": PASSWORD}, timeout=30)
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    try:
        yield Server(url=url, admin=login("admin"), operator=login("op"))
    finally:
        srv.should_exit = True
        thread.join(timeout=30)
        context.reset()
