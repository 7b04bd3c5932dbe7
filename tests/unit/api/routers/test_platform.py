"""Models, stats and the OpenAPI document."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.unit.api.routers.shared import DOCK


def test_models_and_stats(client: TestClient, operator: dict[str, str]) -> None:
    models = client.get("/api/models", headers=operator).json()
    assert any(m["classes"] for m in models)
    client.post("/api/docks", json=DOCK, headers=operator)
    assert client.get("/api/stats", headers=operator).json()["docks_by_status"] == {"ready": 1}


def test_openapi_documents_problem_json_and_security(client: TestClient, operator: dict[str, str]) -> None:
    doc = client.get("/openapi.json", headers=operator).json()
    assert "Problem" in doc["components"]["schemas"]
    create = doc["paths"]["/api/docks"]["post"]
    assert "application/problem+json" in create["responses"]["409"]["content"]
    assert "application/problem+json" in create["responses"]["422"]["content"]
    assert create["security"] and doc["components"]["securitySchemes"]
    assert create["requestBody"]["content"]["application/json"]["schema"]
