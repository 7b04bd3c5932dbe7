"""Property-based run of every documented operation with an admin token: no input gives a 5xx.

Bounded for CI: a handful of generated cases per operation (a couple of minutes in all).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app

APP = create_app()
# The served document needs a token; the schema is taken from the application itself, calls go to it in-process.
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP


@pytest.fixture
def admin_headers() -> dict[str, str]:
    from fastapi.testclient import TestClient

    from api import auth
    from tests.unit.api.conftest import PASSWORD, add_user

    for limiter in (auth.login_per_user, auth.login_per_client, auth.token_issue):
        limiter._hits.clear()
    from dockpatrol.identity import Role

    add_user("fuzz-admin", {Role.ADMIN})
    token = TestClient(APP).post("/api/auth/token", data={"username": "fuzz-admin", "password": PASSWORD})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case: schemathesis.Case, admin_headers: dict[str, str]) -> None:
    case.call_and_validate(headers=admin_headers, checks=[not_a_server_error])
