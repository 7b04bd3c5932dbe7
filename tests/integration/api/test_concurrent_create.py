"""Atomic create under load: 50 parallel creates of one id → exactly one 201, the rest 409, no 5xx."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.integration.api.conftest import Server

DOCK = {"id": "RACE", "name": "race dock", "lon": 113.15, "lat": 23.03}


def test_fifty_parallel_creates_of_one_id(server: Server) -> None:
    with httpx.Client(base_url=server.url, headers=server.operator, timeout=60,
                      limits=httpx.Limits(max_connections=50)) as client:

        def create(_: int) -> int:
            return client.post("/api/docks", json=DOCK).status_code

        with ThreadPoolExecutor(50) as pool:
            codes = list(pool.map(create, range(50)))
        assert sorted(codes) == [201] + [409] * 49, codes
        assert client.get("/api/docks").json()["total"] == 1
        audit = client.get("/api/audit", params={"resource_id": "RACE"}, headers=server.admin).json()
        assert [e["action"] for e in audit["items"]] == ["dock.create"]
