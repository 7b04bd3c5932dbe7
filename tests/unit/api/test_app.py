"""HTTP behaviour: health, and every error as problem+json a person can act on."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(), raise_server_exceptions=False)


def test_health_reports_backends(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["database"] == "sqlite" and body["objects"] == "LocalObjectStore"


def test_unknown_route_is_problem_json(client: TestClient) -> None:
    r = client.get("/api/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert "GET /api/nothing-here" in r.json()["detail"]


def test_invalid_body_names_the_field(client: TestClient) -> None:
    r = client.post("/api/docks", json={"id": "D9", "name": "x", "lon": 300, "lat": 23.0})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert "lon" in r.json()["detail"]


def test_bad_vehicle_url_is_refused(client: TestClient) -> None:
    r = client.post("/api/docks", json={"id": "D9", "name": "x", "lon": 113.1, "lat": 23.0,
                                        "vehicle_url": "http://evil:80"})
    assert r.status_code == 422 and "scheme 'http'" in r.json()["detail"]
    assert client.get("/api/docks").json() == []


def test_dock_created_then_listed(client: TestClient) -> None:
    r = client.post("/api/docks", json={"id": "D9", "name": "x", "lon": 113.1, "lat": 23.0,
                                        "vehicle_url": "udp:127.0.0.1:14550"})
    assert r.status_code == 201
    assert [d["id"] for d in client.get("/api/docks").json()] == ["D9"]


def test_signed_object_link(client: TestClient) -> None:
    from api import context

    store = context.object_store()
    store.put("evidence/x.jpg", b"\xff\xd8crop")
    url = store.presigned_url("evidence/x.jpg", expires_s=60)
    assert client.get(url).content == b"\xff\xd8crop"
    tampered = url.replace("signature=", "signature=0")
    r = client.get(tampered)
    assert r.status_code == 422 and "expired" in r.json()["detail"]
