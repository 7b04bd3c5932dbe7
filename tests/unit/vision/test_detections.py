"""Detections column type, overlap metrics, NMS and greedy NMM on hand-made box sets."""

from __future__ import annotations

import numpy as np
import pytest

from dockpatrol.errors import InvalidInput
from vision.detections import Detections, box_ios, box_iou, greedy_nmm, nms_indices


def dets(rows: list[tuple[float, float, float, float, float, int]]) -> Detections:
    a = np.array(rows, dtype=float).reshape(-1, 6)
    return Detections(a[:, :4], a[:, 4], a[:, 5].astype(int))


def test_columns_are_checked_and_frozen() -> None:
    with pytest.raises(InvalidInput, match="disagree"):
        Detections(np.zeros((2, 4)), np.zeros(3), np.zeros(2))
    with pytest.raises(InvalidInput, match="data"):
        Detections(np.zeros((2, 4)), np.zeros(2), np.zeros(2), {"k": np.zeros(3)})
    d = dets([(0, 0, 1, 1, 0.5, 0)])
    with pytest.raises(ValueError):
        d.xyxy[0, 0] = 5


def test_mask_index_merge_and_thresholds() -> None:
    d = Detections(np.arange(12).reshape(3, 4), [0.2, 0.6, 0.9], [0, 1, 1], {"tag": np.array(["a", "b", "c"])})
    high = d[d.confidence > 0.5]
    assert len(high) == 2 and list(high.data["tag"]) == ["b", "c"]
    assert len(d[1]) == 1 and d[1].class_id[0] == 1
    both = Detections.merge([d, high, Detections.empty()])  # empty parts are skipped
    assert len(both) == 5 and list(both.data["tag"]) == ["a", "b", "c", "b", "c"]
    assert len(Detections.merge([])) == 0
    assert list(d.above(np.array([0.1, 0.7])).confidence) == pytest.approx([0.2, 0.9])
    with pytest.raises(InvalidInput, match="data keys"):
        Detections.merge([d, dets([(0, 0, 1, 1, 1, 0)])])


def test_shift_and_clip() -> None:
    d = dets([(10, 10, 20, 20, 0.9, 0), (-5, -5, 3, 3, 0.8, 1), (200, 5, 210, 9, 0.7, 0)])
    moved = d.shifted(dx_px=np.array([100, 0, 0]), dy_px=7)
    assert moved.xyxy[0].tolist() == [110, 17, 120, 27]
    clipped = d.clipped(width_px=100, height_px=100)
    assert clipped.xyxy.tolist() == [[10, 10, 20, 20], [0, 0, 3, 3]]


@pytest.mark.parametrize(
    ("a", "b", "iou", "ios"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0, 1.0),
        ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150, 0.5),
        ((0, 0, 10, 10), (2, 2, 4, 4), 4 / 100, 1.0),  # small box inside a big one
        ((0, 0, 10, 10), (20, 20, 30, 30), 0.0, 0.0),
        ((0, 0, 10, 10), (10, 0, 20, 10), 0.0, 0.0),  # touching edges
    ],
)
def test_overlap_metrics(a, b, iou, ios) -> None:
    A, B = np.array([a], float), np.array([b], float)
    assert box_iou(A, B)[0, 0] == pytest.approx(iou)
    assert box_ios(A, B)[0, 0] == pytest.approx(ios)


def test_nms_is_class_aware() -> None:
    d = dets([(0, 0, 10, 10, 0.9, 0), (1, 1, 11, 11, 0.8, 0), (1, 1, 11, 11, 0.7, 1), (50, 50, 60, 60, 0.6, 0)])
    assert nms_indices(d.xyxy, d.confidence, d.class_id, threshold=0.5).tolist() == [0, 2, 3]
    assert nms_indices(d.xyxy, d.confidence, None, threshold=0.5).tolist() == [0, 3]
    assert [len(d.with_nms(iou_threshold=0.5)), len(d.with_nms(iou_threshold=0.5, class_agnostic=True))] == [3, 2]


def test_greedy_nmm_joins_pieces_of_a_cut_object() -> None:
    # an object cut by a tile border: the tile that saw it whole, the tile that saw a piece, and the full frame
    d = dets([
        (100, 100, 200, 160, 0.80, 2),  # whole
        (150, 100, 200, 160, 0.90, 2),  # right piece, higher score: becomes the leader
        (98, 101, 201, 158, 0.60, 2),  # full-frame pass, slightly off
        (100, 100, 200, 160, 0.70, 5),  # same place, other class: must survive
        (400, 400, 420, 420, 0.50, 2),  # unrelated
    ])
    merged = greedy_nmm(d, threshold=0.5, metric="ios")
    assert len(merged) == 3
    top = merged[merged.class_id == 2][0]
    assert top.xyxy[0].tolist() == [98, 100, 201, 160]  # union of the group
    assert top.confidence[0] == pytest.approx(0.9)
    assert sorted(merged.class_id.tolist()) == [2, 2, 5]
    assert merged.confidence.tolist() == sorted(merged.confidence.tolist(), reverse=True)


def test_greedy_nmm_does_not_chain_through_absorbed_boxes() -> None:
    # B overlaps A and C, A and C do not overlap: greedy merging around the leader must keep C apart
    d = dets([(0, 0, 10, 10, 0.9, 0), (8, 0, 18, 10, 0.5, 0), (16, 0, 26, 10, 0.8, 0)])
    merged = greedy_nmm(d, threshold=0.1, metric="ios")
    assert sorted(merged.xyxy[:, 0].tolist()) == [0, 16]
    assert greedy_nmm(d, threshold=0.1, metric="ios", class_agnostic=True).xyxy.shape == (2, 4)


def test_greedy_nmm_keeps_leader_data() -> None:
    d = Detections([[0, 0, 10, 10], [1, 1, 9, 9]], [0.4, 0.8], [0, 0], {"tile": np.array([3, 7])})
    merged = greedy_nmm(d)
    assert len(merged) == 1 and merged.data["tile"].tolist() == [7]


def reference_nmm(d: Detections, threshold: float) -> list[tuple[float, ...]]:
    """Plain-Python greedy NMM on IoS, class-aware, for comparison."""
    order = sorted(range(len(d)), key=lambda i: -d.confidence[i])
    taken: set[int] = set()
    out = []
    for i in order:
        if i in taken:
            continue
        taken.add(i)
        box = list(d.xyxy[i])
        conf = d.confidence[i]
        for j in order:
            if j in taken or d.class_id[j] != d.class_id[i]:
                continue
            if box_ios(d.xyxy[i:i + 1], d.xyxy[j:j + 1])[0, 0] > threshold:
                taken.add(j)
                box = [min(box[0], d.xyxy[j, 0]), min(box[1], d.xyxy[j, 1]), max(box[2], d.xyxy[j, 2]),
                       max(box[3], d.xyxy[j, 3])]
                conf = max(conf, d.confidence[j])
        out.append((*box, conf, d.class_id[i]))
    return sorted(out)


@pytest.mark.parametrize("seed", range(5))
def test_greedy_nmm_matches_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 300, (120, 2))
    wh = rng.uniform(5, 60, (120, 2))
    d = Detections(np.hstack([xy, xy + wh]), rng.permutation(120) / 120 + 0.001, rng.integers(0, 3, 120))
    got = greedy_nmm(d, threshold=0.5)
    mine = np.array(sorted(map(tuple, np.column_stack([got.xyxy, got.confidence, got.class_id]).tolist())))
    assert np.allclose(mine, np.array(reference_nmm(d, 0.5), dtype=float), atol=1e-4)
