"""Sign-in, bearer tokens, machine tokens, roles, department scoping and the login rate limit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient

from api.auth import Principal, SlidingWindowLimiter, TooManyRequests
from dockpatrol.errors import Forbidden
from dockpatrol.identity import Role
from dockpatrol.taxonomy import Department
from tests.unit.api.conftest import PASSWORD, add_user

Headers = Callable[[Role], dict[str, str]]

PUBLIC = {("GET", "/health"), ("POST", "/api/auth/token"), ("GET", "/"), ("GET", "/api/objects/{key:path}")}


#: Loaded by <img> tags, which cannot send a bearer header: the signature in the link is the credential.
SIGNED_LINKS = {"/api/objects/{key}", "/api/tiles/{flight_id}/{z}/{x}/{y}.png"}


def test_every_api_route_but_login_health_and_signed_links_needs_a_token(client: TestClient,
                                                                       operator: dict[str, str]) -> None:
    anonymous = client.get("/openapi.json")
    assert anonymous.status_code == 401 and anonymous.headers["content-type"] == "application/problem+json"
    checked = 0
    for path, operations in client.get("/openapi.json", headers=operator).json()["paths"].items():
        for method in operations:
            if (method.upper(), path) in PUBLIC or path in SIGNED_LINKS:
                continue
            concrete = path.replace("{", "x").replace("}", "")
            r = client.request(method.upper(), concrete, json={})
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.headers["www-authenticate"] == "Bearer"
            checked += 1
    assert checked >= 25


def test_login_gives_a_short_lived_jwt(client: TestClient) -> None:
    add_user("chen", {Role.ENFORCEMENT})
    r = client.post("/api/auth/token", data={"username": "chen", "password": PASSWORD})
    body = r.json()
    assert r.status_code == 200 and body["token_type"] == "bearer" and body["department"] == "enforcement"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "chen" and 0 < claims["exp"] - claims["iat"] <= 3600
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert me == {"name": "chen", "kind": "user", "roles": ["enforcement"], "department": "enforcement",
                  "sees_all_departments": False}


@pytest.mark.parametrize("username,password", [("chen", "wrong-password-1"), ("nobody", PASSWORD)])
def test_wrong_credentials_are_401_alike(client: TestClient, username: str, password: str) -> None:
    add_user("chen", {Role.ENFORCEMENT})
    r = client.post("/api/auth/token", data={"username": username, "password": password})
    assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"


def test_expired_forged_and_disabled_tokens_are_401(client: TestClient, admin: dict[str, str]) -> None:
    from api.auth import issue_access_token, session_key
    from dockpatrol.identity import User

    add_user("li", {Role.OPERATOR})
    user = User(id="li", username="li", display_name="li", roles=frozenset({Role.OPERATOR}))
    old, _ = issue_access_token(user, now=datetime.now(UTC) - timedelta(hours=2))
    r = client.get("/api/docks", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    forged = jwt.encode({"sub": "li", "iss": "dockpatrol", "iat": 0, "exp": 2**40}, b"x" * 32, algorithm="HS256")
    assert client.get("/api/docks", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    none_alg = jwt.encode({"sub": "li", "iss": "dockpatrol", "iat": 0, "exp": 2**40}, None, algorithm="none")
    assert client.get("/api/docks", headers={"Authorization": f"Bearer {none_alg}"}).status_code == 401
    fresh, _ = issue_access_token(user)
    assert client.get("/api/docks", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    assert client.patch("/api/users/li", json={"active": False}, headers=admin).status_code == 200
    assert client.get("/api/docks", headers={"Authorization": f"Bearer {fresh}"}).status_code == 401
    assert len(session_key()) >= 32


def test_machine_token_works_until_revoked(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/api/tokens", json={"name": "dock-D3", "roles": ["operator"]}, headers=admin)
    assert r.status_code == 201
    token, token_id = r.json()["token"], r.json()["id"]
    machine = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/docks", headers=machine).status_code == 200
    assert token not in str(client.get("/api/tokens", headers=admin).json())  # never shown again
    assert client.post(f"/api/tokens/{token_id}/revoke", headers=admin).status_code == 200
    r = client.get("/api/docks", headers=machine)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    wrong = {"Authorization": f"Bearer {token[:-2]}xx"}
    assert client.get("/api/docks", headers=wrong).status_code == 401
    audit = client.get("/api/audit", params={"resource_id": token_id}, headers=admin).json()["items"]
    assert [e["action"] for e in audit] == ["token.revoke", "token.create"]


def test_only_admins_manage_users(client: TestClient, headers_for: Headers) -> None:
    for role in Role:
        r = client.get("/api/users", headers=headers_for(role))
        assert r.status_code == (200 if role is Role.ADMIN else 403), role


def test_login_is_rate_limited_per_client_and_user(client: TestClient) -> None:
    add_user("wang", {Role.FIRE})
    codes = [client.post("/api/auth/token", data={"username": "wang", "password": "wrong-password-x"}).status_code
             for _ in range(11)]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    r = client.post("/api/auth/token", data={"username": "wang", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_sliding_window_forgets_old_attempts() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(limit=2, window_s=60, clock=lambda: now[0])
    limiter.hit("k", "tries")
    limiter.hit("k", "tries")
    with pytest.raises(TooManyRequests):
        limiter.hit("k", "tries")
    now[0] = 61.0
    limiter.hit("k", "tries")


@pytest.mark.parametrize("roles,department,ticket_department,allowed", [
    ({Role.ENFORCEMENT}, Department.ENFORCEMENT, "enforcement", True),
    ({Role.ENFORCEMENT}, Department.ENFORCEMENT, "environmental", False),
    ({Role.FIRE}, Department.FIRE_EMERGENCY, "enforcement", False),
    ({Role.OPS_CENTRE}, None, "fire_emergency", True),
    ({Role.ADMIN}, None, "environmental", True),
    ({Role.OPERATOR}, None, "enforcement", False),
])
def test_department_scoping(roles: set[Role], department: Department | None, ticket_department: str,
                            allowed: bool) -> None:
    principal = Principal(name="p", kind="user", roles=frozenset(roles), department=department)
    if allowed:
        principal.require_department(ticket_department)
    else:
        with pytest.raises(Forbidden):
            principal.require_department(ticket_department)


def test_signing_keys_are_private_long_and_shared_by_concurrent_starts(tmp_path) -> None:
    import os
    import stat
    from concurrent.futures import ThreadPoolExecutor

    from dockpatrol.errors import ConfigError
    from storage.keyfile import load_or_create_key

    path = tmp_path / "keys" / ".k"
    with ThreadPoolExecutor(16) as pool:
        keys = set(pool.map(lambda _: load_or_create_key(path, what="test"), range(64)))
    assert len(keys) == 1 and len(keys.pop()) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match="0 bytes"):
        load_or_create_key(empty, what="test")
    short = tmp_path / "short"
    short.write_bytes(b"x" * 31)
    with pytest.raises(ConfigError, match="31 bytes"):
        load_or_create_key(short, what="test")


def test_an_empty_object_signing_key_is_refused(isolated_data_dir) -> None:
    from dockpatrol.errors import ConfigError
    from storage.objects import LocalObjectStore

    isolated_data_dir.mkdir(parents=True, exist_ok=True)
    (isolated_data_dir / ".objects-signing-key").write_bytes(b"")
    with pytest.raises(ConfigError):
        LocalObjectStore(isolated_data_dir / "objects")
    with pytest.raises(ConfigError):
        LocalObjectStore(isolated_data_dir / "objects", secret=b"")
