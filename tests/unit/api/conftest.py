"""API test fixtures: an app on the test's own database, and one signed-in user per role."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from dockpatrol.identity import Role
from dockpatrol.taxonomy import Department

PASSWORD = "test-password-123"


def add_user(username: str, roles: set[Role], department: Department | None = None) -> None:
    from api import context
    from api.auth import hash_password
    from storage.repositories import users

    with context.database().unit_of_work() as session:
        users.create_user(session=session, username=username, password_hash=hash_password(PASSWORD),
                          roles=frozenset(roles), department=department)


@pytest.fixture
def client() -> TestClient:
    from api import auth
    from api.app import create_app

    for limiter in (auth.login_per_user, auth.login_per_client, auth.token_issue):
        limiter._hits.clear()
    return TestClient(create_app(), raise_server_exceptions=False)


@pytest.fixture
def headers_for(client: TestClient) -> Callable[[Role], dict[str, str]]:
    """Bearer headers of a fresh user holding ``role`` (created on first use)."""
    made: dict[Role, dict[str, str]] = {}

    def make(role: Role) -> dict[str, str]:
        if role not in made:
            add_user(f"u-{role.value}", {role})
            r = client.post("/api/auth/token", data={"username": f"u-{role.value}", "password": PASSWORD})
            assert r.status_code == 200, r.text
            made[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return made[role]

    return make


@pytest.fixture
def admin(headers_for: Callable[[Role], dict[str, str]]) -> dict[str, str]:
    return headers_for(Role.ADMIN)


@pytest.fixture
def operator(headers_for: Callable[[Role], dict[str, str]]) -> dict[str, str]:
    return headers_for(Role.OPERATOR)
