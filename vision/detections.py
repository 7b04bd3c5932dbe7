"""`Detections`: the one result type detectors return — column arrays, boolean-mask indexing, merge, NMS.

Boxes are ``xyxy`` in pixels of the image they were found in; ``class_id`` indexes the taxonomy's
canonical ``CLASS_NAMES`` once a model card has mapped the model's own classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from dockpatrol.errors import InvalidInput


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Detections:
    """n detections as columns: ``xyxy`` (n, 4) float32 px, ``confidence`` (n,), ``class_id`` (n,), ``data`` extras."""

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    data: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # copies, so freezing them never freezes a caller's array
        xyxy = np.array(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(xyxy)
        confidence = np.array(self.confidence, dtype=np.float32).reshape(-1)
        class_id = np.array(self.class_id, dtype=np.int64).reshape(-1)
        if len(confidence) != n or len(class_id) != n:
            raise InvalidInput(
                f"Detections columns disagree: {n} boxes, {len(confidence)} confidences, {len(class_id)} class ids"
            )
        data = {}
        for key, value in self.data.items():
            arr = np.array(value)
            if len(arr) != n:
                raise InvalidInput(f"Detections data[{key!r}] has {len(arr)} rows, expected {n}")
            data[key] = _frozen(arr)
        object.__setattr__(self, "xyxy", _frozen(xyxy))
        object.__setattr__(self, "confidence", _frozen(confidence))
        object.__setattr__(self, "class_id", _frozen(class_id))
        object.__setattr__(self, "data", MappingProxyType(data))

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    @classmethod
    def merge(cls, parts: Iterable[Detections]) -> Detections:
        """Concatenate detections; ``data`` keys must agree across the non-empty parts."""
        items = [d for d in parts if len(d)]
        if not items:
            return cls.empty()
        keys = set(items[0].data)
        for d in items[1:]:
            if set(d.data) != keys:
                raise InvalidInput(f"cannot merge Detections with data keys {sorted(keys)} and {sorted(d.data)}")
        return cls(
            np.concatenate([d.xyxy for d in items]),
            np.concatenate([d.confidence for d in items]),
            np.concatenate([d.class_id for d in items]),
            {k: np.concatenate([d.data[k] for d in items]) for k in keys},
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | int | list[int]) -> Detections:
        """Rows selected by boolean mask, integer indices or slice (an int keeps a one-row Detections)."""
        if isinstance(index, int | np.integer):
            index = [int(index)]
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            self.class_id[index],
            {k: v[index] for k, v in self.data.items()},
        )

    @property
    def area_px(self) -> np.ndarray:
        return box_area(self.xyxy)

    def shifted(self, *, dx_px: float | np.ndarray, dy_px: float | np.ndarray) -> Detections:
        """Boxes moved by (dx, dy) pixels; scalars or per-row arrays."""
        offset = np.stack(np.broadcast_arrays(dx_px, dy_px, dx_px, dy_px), axis=-1).astype(np.float32)
        return Detections(self.xyxy + offset, self.confidence, self.class_id, dict(self.data))

    def clipped(self, *, width_px: int, height_px: int) -> Detections:
        """Boxes clipped to the image; boxes left with no area are dropped."""
        xyxy = self.xyxy.copy()
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width_px)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height_px)
        keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        return Detections(xyxy, self.confidence, self.class_id, dict(self.data))[keep]

    def with_nms(self, *, iou_threshold: float = 0.5, class_agnostic: bool = False) -> Detections:
        """Non-maximum suppression on IoU; returns the kept rows in descending confidence."""
        keep = nms_indices(self.xyxy, self.confidence, None if class_agnostic else self.class_id,
                           threshold=iou_threshold, metric="iou")
        return self[keep]

    def above(self, thresholds: np.ndarray) -> Detections:
        """Rows whose confidence reaches the per-class threshold ``thresholds[class_id]``."""
        thresholds = np.asarray(thresholds, dtype=np.float32)
        return self[self.confidence >= thresholds[self.class_id]]


def box_area(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    return np.clip(xyxy[:, 2] - xyxy[:, 0], 0, None) * np.clip(xyxy[:, 3] - xyxy[:, 1], 0, None)


def box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas (len(a), len(b))."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    return wh[..., 0] * wh[..., 1]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union (len(a), len(b))."""
    inter = box_intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_ios(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over the smaller box's area (len(a), len(b))."""
    inter = box_intersection(a, b)
    smaller = np.minimum(box_area(a)[:, None], box_area(b)[None, :])
    return np.where(smaller > 0, inter / np.maximum(smaller, 1e-12), 0.0)


def _overlap_row(box: np.ndarray, others: np.ndarray, metric: str) -> np.ndarray:
    """Overlap of one box with many, by ``metric`` ('iou' or 'ios')."""
    lt = np.maximum(box[:2], others[:, :2])
    rb = np.minimum(box[2:], others[:, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[:, 0] * wh[:, 1]
    a = max(float((box[2] - box[0]) * (box[3] - box[1])), 0.0)
    b = np.clip(others[:, 2] - others[:, 0], 0, None) * np.clip(others[:, 3] - others[:, 1], 0, None)
    if metric == "iou":
        denom = a + b - inter
    elif metric == "ios":
        denom = np.minimum(a, b)
    else:
        raise InvalidInput(f"unknown overlap metric {metric!r}; use 'iou' or 'ios'")
    return np.where(denom > 0, inter / np.maximum(denom, 1e-12), 0.0)


def _groups(xyxy: np.ndarray, scores: np.ndarray, class_id: np.ndarray | None, *, threshold: float,
            metric: str) -> np.ndarray:
    """Greedy grouping: each row gets the index of the highest-scoring box it was absorbed by (or itself).

    Memory stays O(n): each surviving leader is compared with the unassigned boxes of its class in one
    vectorised row, instead of materialising an n×n overlap matrix.
    """
    n = len(xyxy)
    leader = np.full(n, -1, dtype=np.int64)
    boxes_all = np.asarray(xyxy, dtype=np.float64)
    groups = [np.arange(n)] if class_id is None else [np.flatnonzero(class_id == c) for c in np.unique(class_id)]
    for idx in groups:
        order = idx[np.argsort(-scores[idx], kind="stable")]
        boxes = boxes_all[order]
        free = np.ones(len(order), dtype=bool)
        for i in range(len(order)):
            if not free[i]:
                continue
            free[i] = False
            rest = np.flatnonzero(free[i + 1:]) + i + 1
            leader[order[i]] = order[i]
            if len(rest) == 0:
                continue
            members = rest[_overlap_row(boxes[i], boxes[rest], metric) > threshold]
            free[members] = False
            leader[order[members]] = order[i]
    return leader


def nms_indices(xyxy: np.ndarray, scores: np.ndarray, class_id: np.ndarray | None, *, threshold: float,
                metric: str = "iou") -> np.ndarray:
    """Indices kept by greedy NMS (class-aware when ``class_id`` is given), in descending score."""
    if len(xyxy) == 0:
        return np.zeros(0, dtype=np.int64)
    leader = _groups(np.asarray(xyxy), np.asarray(scores), class_id, threshold=threshold, metric=metric)
    keep = np.flatnonzero(leader == np.arange(len(leader)))
    return keep[np.argsort(-np.asarray(scores)[keep], kind="stable")]


def greedy_nmm(dets: Detections, *, threshold: float = 0.5, metric: str = "ios",
               class_agnostic: bool = False) -> Detections:
    """Greedy non-maximum merging: boxes absorbed by a higher-scoring one widen it to their union.

    The merged row keeps the leader's class, the group's highest confidence and the leader's ``data``.
    """
    if len(dets) < 2:
        return dets
    leader = _groups(dets.xyxy, dets.confidence, None if class_agnostic else dets.class_id,
                     threshold=threshold, metric=metric)
    # group rows by leader, then reduce each contiguous run in one vectorised call
    order = np.argsort(leader, kind="stable")
    sorted_leader = leader[order]
    starts = np.flatnonzero(np.r_[True, sorted_leader[1:] != sorted_leader[:-1]])
    boxes = dets.xyxy[order]
    x1 = np.minimum.reduceat(boxes[:, 0], starts)
    y1 = np.minimum.reduceat(boxes[:, 1], starts)
    x2 = np.maximum.reduceat(boxes[:, 2], starts)
    y2 = np.maximum.reduceat(boxes[:, 3], starts)
    conf = np.maximum.reduceat(dets.confidence[order], starts)
    leaders = sorted_leader[starts]
    kept = dets[leaders]
    merged = Detections(np.stack([x1, y1, x2, y2], axis=1), conf, kept.class_id, dict(kept.data))
    return merged[np.argsort(-merged.confidence, kind="stable")]
