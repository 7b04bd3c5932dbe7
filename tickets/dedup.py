"""One object, many frames: overlapping frames see the same thing; group those sightings.

Grouping is per class, on ground geometry in metres: two findings belong together when their
footprints, grown by ``radius_m``, touch. Pure and vectorised through shapely's STRtree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from dockpatrol.geo import LocalProjection


def cluster_findings(geometries: Sequence[dict[str, Any]], class_names: Sequence[str], *,
                     radius_m: float = 2.0) -> list[list[int]]:
    """Indices grouped into objects (connected components of 'same class and within radius_m')."""
    n = len(geometries)
    if n == 0:
        return []
    if len(class_names) != n:
        raise ValueError("one class name per geometry")
    lonlat = [shape(g) for g in geometries]
    c = shapely.centroid(lonlat[0])
    projection = LocalProjection.around(c.x, c.y)
    metric = [projection.geometry_to_metric(g) for g in lonlat]
    grown = shapely.buffer(np.array(metric, dtype=object), radius_m)
    tree = shapely.STRtree(grown)
    left, right = tree.query(grown, predicate="intersects")
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        if a != b and class_names[a] == class_names[b]:
            parent[find(a)] = find(b)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])
