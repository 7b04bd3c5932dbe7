"""Grouping sightings of one object across frames."""

from __future__ import annotations

import pytest

from tickets.dedup import cluster_findings

DEG_PER_M = 1 / 111_000


def square(east_m: float, north_m: float, size_m: float = 4.0) -> dict:
    lon0, lat0 = 113.15 + east_m * DEG_PER_M / 0.92, 23.03 + north_m * DEG_PER_M
    d_lon, d_lat = size_m * DEG_PER_M / 0.92, size_m * DEG_PER_M
    ring = [[lon0, lat0], [lon0 + d_lon, lat0], [lon0 + d_lon, lat0 + d_lat], [lon0, lat0 + d_lat], [lon0, lat0]]
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.mark.parametrize(
    ("positions", "classes", "expected"),
    [
        ([(0, 0), (1, 1), (50, 0)], ["smoke"] * 3, [[0, 1], [2]]),  # two views of one plume, one far away
        ([(0, 0), (1, 1)], ["smoke", "open_fire"], [[0], [1]]),  # same place, different class
        ([(0, 0), (5, 0), (10, 0)], ["bare_soil"] * 3, [[0, 1, 2]]),  # chained within radius
        ([(0, 0), (9, 0)], ["bare_soil"] * 2, [[0], [1]]),  # 5 m gap > 2 × 2 m radius
        ([], [], []),
    ],
)
def test_cluster_findings(positions: list, classes: list[str], expected: list[list[int]]) -> None:
    assert cluster_findings([square(e, n) for e, n in positions], classes, radius_m=2.0) == expected
