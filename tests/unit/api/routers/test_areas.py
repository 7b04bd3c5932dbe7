"""Areas are validated by the CLI's own GeoJSON checks."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.unit.api.routers.shared import AREA


def test_area_validation_is_the_clis(client: TestClient, operator: dict[str, str]) -> None:
    open_ring = {**AREA, "geometry": {"type": "Polygon", "coordinates": [[[113.15, 23.03], [113.153, 23.03],
                                                                          [113.153, 23.032]]]}}
    r = client.post("/api/areas", json=open_ring, headers=operator)
    assert r.status_code == 422
    bowtie = {**AREA, "geometry": {"type": "Polygon", "coordinates": [[[113.15, 23.03], [113.153, 23.032],
                                                                        [113.153, 23.03], [113.15, 23.032],
                                                                        [113.15, 23.03]]]}}
    r = client.post("/api/areas", json=bowtie, headers=operator)
    assert r.status_code == 422 and "self-intersects" in r.json()["detail"]
