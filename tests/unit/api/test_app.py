"""HTTP behaviour: health, problem+json errors, body limits, finite numbers, signed object links."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient


def test_health_reports_backends_without_a_token(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["database"] == "sqlite" and body["objects"] == "LocalObjectStore"


def test_unknown_route_is_problem_json(client: TestClient) -> None:
    r = client.get("/api/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert "GET /api/nothing-here" in r.json()["detail"]


def test_invalid_body_names_the_field(client: TestClient, operator: dict[str, str]) -> None:
    r = client.post("/api/docks", json={"id": "D9", "name": "x", "lon": 300, "lat": 23.0}, headers=operator)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert "lon" in r.json()["detail"]


def test_nan_and_infinity_are_refused(client: TestClient, operator: dict[str, str]) -> None:
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = f'{{"id": "D9", "name": "x", "lon": 113.1, "lat": 23.0, "elevation_amsl_m": {literal}}}'
        r = client.post("/api/docks", content=body, headers={**operator, "content-type": "application/json"})
        assert r.status_code == 422 and "finite" in r.json()["detail"], literal


def test_huge_body_is_413_problem_json(client: TestClient, operator: dict[str, str]) -> None:
    from api.middleware import MAX_BODY_BYTES

    r = client.post("/api/areas", content=b"{" + b" " * (MAX_BODY_BYTES + 1) + b"}",
                    headers={**operator, "content-type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    assert "MiB" in r.json()["detail"]


def test_deeply_nested_json_is_a_client_error(client: TestClient, operator: dict[str, str]) -> None:
    body = "[" * 100_000 + "]" * 100_000
    r = client.post("/api/areas", content=body, headers={**operator, "content-type": "application/json"})
    assert 400 <= r.status_code < 500


def _signed(client: TestClient) -> str:
    from api import context

    store = context.object_store()
    store.put("evidence/x.jpg", b"\xff\xd8crop")
    return store.presigned_url("evidence/x.jpg", expires_s=60)


def test_signed_object_link_serves_the_object(client: TestClient) -> None:
    assert client.get(_signed(client)).content == b"\xff\xd8crop"


def test_tampered_expired_or_non_ascii_link_is_403(client: TestClient) -> None:
    url = _signed(client)
    base, query = url.split("?")
    expires = int(query.split("expires=")[1].split("&")[0])
    sig = query.split("signature=")[1]
    for bad in (url.replace("signature=", "signature=0"),
                f"{base}?expires={expires}&signature={sig[:-1]}é",
                f"{base}?expires={int(time.time()) - 5}&signature={sig}",
                f"{base}?expires={expires + 10}&signature={sig}",
                f"{base}?expires={expires}&signature="):
        r = client.get(bad)
        assert r.status_code == 403, (bad, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"


def test_signed_link_to_a_directory_key_is_404_not_500(client: TestClient) -> None:
    from api import context

    store = context.object_store()
    store.put("evidence/dir/x.jpg", b"x")
    sig = store._signature("evidence/dir", int(time.time()) + 60)  # a link a key holder could make
    r = client.get(f"/api/objects/evidence/dir?expires={int(time.time()) + 60}&signature={sig}")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_link_lifetime_is_bounded(client: TestClient) -> None:
    import pytest

    from api import context
    from dockpatrol.errors import InvalidInput
    from storage.objects import MAX_LINK_LIFETIME_S

    store = context.object_store()
    store.put("evidence/y.jpg", b"y")
    with pytest.raises(InvalidInput):
        store.presigned_url("evidence/y.jpg", expires_s=MAX_LINK_LIFETIME_S + 1)


def test_console_and_api_docs_are_served_offline_with_security_headers(client: TestClient) -> None:
    page = client.get("/console/")
    assert page.status_code == 200 and "app.js" in page.text
    assert "'self'" in page.headers["content-security-policy"] and page.headers["x-frame-options"] == "DENY"
    assert "http" not in "".join(line for line in page.text.splitlines() if "src=" in line or "href=" in line)
    assert client.get("/", follow_redirects=False).headers["location"] == "/console/"
    assert client.get("/docs", follow_redirects=False).headers["location"] == "/console/api-docs.html"
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text and "/console/vendor/swagger-ui/" in docs.text
    assert "sessionStorage" in client.get("/console/api-docs.js").text  # the page signs its calls like the console
    assert client.get("/console/vendor/leaflet/leaflet-src.esm.js").status_code == 200
    assert client.get("/console/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
