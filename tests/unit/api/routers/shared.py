"""Bodies and helpers the router tests share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from dockpatrol.identity import Role

Headers = Callable[[Role], dict[str, str]]

DOCK = {"id": "D1", "name": "桂城 1 号机库", "lon": 113.1500, "lat": 23.0300}
AREA = {"type": "Feature", "id": "A1", "properties": {"name": "工业园 A1", "scenarios": ["construction"]},
        "geometry": {"type": "Polygon", "coordinates": [[[113.150, 23.030], [113.153, 23.030], [113.153, 23.032],
                                                         [113.150, 23.032], [113.150, 23.030]]]}}
ZONE = {"type": "Feature", "id": "NFZ1", "properties": {"name": "医院", "radius_m": 150, "reason": "helipad"},
        "geometry": {"type": "Point", "coordinates": [113.17, 23.05]}}


def audit_of(client: TestClient, admin: dict[str, str], resource_id: str) -> list[dict[str, Any]]:
    """Audit entries of one resource, newest first."""
    return client.get("/api/audit", params={"resource_id": resource_id}, headers=admin).json()["items"]
