"""Dedup: one object seen in many frames is one object; one violation seen on many patrols is one ticket.

Within a flight, findings of one class whose footprints grown by ``radius_m`` touch are grouped
(``cluster_findings``). Across patrols, a new object is matched against known tickets of its
class within the class's dedup radius (``TicketIndex``). Pure, vectorised through shapely's STRtree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from dockpatrol.geo import LocalProjection
from tickets.types import LIVE_STATUSES, Ticket, TicketStatus


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
    left, right = shapely.STRtree(grown).query(grown, predicate="intersects")
    same = [(a, b) for a, b in zip(left.tolist(), right.tolist(), strict=True) if class_names[a] == class_names[b]]
    return components(n, same)


def components(n: int, pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Connected components of ``n`` items linked by ``pairs`` (union-find), ordered by their first index."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])

class DedupKind(StrEnum):
    """What a new object is, measured against the tickets already known."""

    NEW = "new"  # nothing of its class near: a new ticket
    SIGHTING = "sighting"  # a live ticket of its class is near: one more sighting of it
    RECURRENCE = "recurrence"  # only a closed ticket is near: a new ticket linked to the old one
    PREVIOUSLY_REJECTED = "previously_rejected"  # only a rejected ticket is near: a person decides


@dataclass(frozen=True)
class DedupMatch:
    """The decision for one candidate; ``same_as`` points at an earlier NEW candidate of the same batch."""

    kind: DedupKind
    ticket_id: str | None = None
    distance_m: float | None = None
    same_as: int | None = None


@dataclass(frozen=True)
class TicketRef:
    """What dedup needs of a ticket: its class, state, when it closed, and its lon/lat geometry (shapely)."""

    id: str
    class_name: str
    status: TicketStatus
    geometry: Any
    closed_at: datetime | None = None


class TicketIndex:
    """Known tickets per class in one STRtree each, in local metres; match new objects by per-class radius."""

    def __init__(self, refs: Sequence[TicketRef], *, projection: LocalProjection | None = None) -> None:
        self.refs = tuple(refs)
        self.projection = projection
        self._by_class: dict[str, tuple[np.ndarray, Any]] = {}
        if not self.refs:
            return
        if self.projection is None:
            c = shapely.centroid(self.refs[0].geometry)
            self.projection = LocalProjection.around(c.x, c.y)
        classes = np.array([r.class_name for r in self.refs])
        metric = self.projection.geometry_to_metric(np.array([r.geometry for r in self.refs], dtype=object))
        for cls in np.unique(classes):
            idx = np.flatnonzero(classes == cls)
            self._by_class[str(cls)] = (idx, shapely.STRtree(metric[idx]))
        self._metric = metric

    def match(self, class_names: Sequence[str], geometries: Sequence[Any],
              radius_m: Callable[[str], float]) -> list[DedupMatch]:
        """One decision per candidate (lon/lat shapely geometries), in candidate order.

        A live ticket wins over a closed one (the nearest live ticket takes the sighting); a closed
        one over a rejected one (the most recently closed is the recurrence's parent). Candidates
        that match nothing but lie within radius of each other become one NEW and its ``same_as``.
        """
        n = len(geometries)
        if len(class_names) != n:
            raise ValueError("one class name per geometry")
        if n == 0:
            return []
        projection = self.projection or LocalProjection.around(*shapely.centroid(geometries[0]).coords[0])
        metric = projection.geometry_to_metric(np.array(list(geometries), dtype=object))
        names = np.array(class_names)
        out: list[DedupMatch] = [DedupMatch(DedupKind.NEW)] * n
        for cls in np.unique(names):
            cand = np.flatnonzero(names == cls)
            r = float(radius_m(str(cls)))
            if str(cls) in self._by_class:
                idx, tree = self._by_class[str(cls)]
                left, right = tree.query(metric[cand], predicate="dwithin", distance=r)
                if left.size:
                    dist = shapely.distance(metric[cand[left]], self._metric[idx[right]])
                    best: dict[int, tuple[tuple[Any, ...], DedupMatch]] = {}
                    for li, ri, d in zip(left.tolist(), right.tolist(), dist.tolist(), strict=True):
                        ref = self.refs[int(idx[ri])]
                        m, rank = _rank(ref, d)
                        if li not in best or rank < best[li][0]:
                            best[li] = (rank, m)
                    for li, (_, m) in best.items():
                        out[int(cand[li])] = m
            fresh = [int(i) for i in cand if out[int(i)].kind is DedupKind.NEW]
            if len(fresh) > 1:
                groups = cluster_metric(metric[fresh], r)
                for group in groups:
                    lead = fresh[group[0]]
                    for g in group[1:]:
                        d = float(shapely.distance(metric[fresh[g]], metric[lead]))
                        out[fresh[g]] = DedupMatch(DedupKind.SIGHTING, None, round(d, 3), same_as=lead)
        return out


def _rank(ref: TicketRef, distance_m: float) -> tuple[DedupMatch, tuple[Any, ...]]:
    d = round(distance_m, 3)
    if ref.status in LIVE_STATUSES:
        return DedupMatch(DedupKind.SIGHTING, ref.id, d), (0, d, ref.id)
    if ref.status is TicketStatus.CLOSED:
        closed = -(ref.closed_at.timestamp() if ref.closed_at else 0.0)
        return DedupMatch(DedupKind.RECURRENCE, ref.id, d), (1, closed, d, ref.id)
    return DedupMatch(DedupKind.PREVIOUSLY_REJECTED, ref.id, d), (2, d, ref.id)


def cluster_metric(metric: np.ndarray, radius_m: float) -> list[list[int]]:
    """Connected components of 'within radius_m' over metric geometries; groups ordered by first index."""
    left, right = shapely.STRtree(metric).query(metric, predicate="dwithin", distance=radius_m)
    return components(len(metric), zip(left.tolist(), right.tolist(), strict=True))

def refs_from_tickets(tickets: Sequence[Ticket]) -> list[TicketRef]:
    """TicketRefs (shapely geometry) from full tickets."""
    return [TicketRef(id=t.id, class_name=t.class_name, status=t.status, geometry=shape(t.geometry),
                      closed_at=t.closed_at) for t in tickets]
