"""Sliced inference: tile grid maths, exact shift-back, batching, full-frame pass and merge."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockpatrol.errors import InvalidInput
from vision.detections import Detections, greedy_nmm
from vision.detector import Detector, letterbox
from vision.slicing import Merge, cut_tiles, merge_detections, slice_infer, tile_grid


class RedBoxDetector:
    """Finds saturated red rectangles by connected components; records each call's batch size.

    Like a real model it is surer of whole objects than of slivers: confidence grows with area.
    """

    def __init__(self, input_wh: tuple[int, int] = (64, 64)) -> None:
        self._input_wh = input_wh
        self.batches: list[int] = []

    @property
    def input_wh(self) -> tuple[int, int]:
        return self._input_wh

    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]:
        self.batches.append(len(images))
        out = []
        for image in images:
            scale = 1.0
            if image.shape[:2] != self._input_wh[::-1]:
                image, scale = letterbox(image, self._input_wh)
            mask = ((image[..., 0] > 128) & (image[..., 1] < 100)).astype(np.uint8)
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            boxes = np.array([[x, y, x + w, y + h] for x, y, w, h, _ in stats[1:n]], float).reshape(-1, 4)
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            out.append(Detections(boxes / scale, np.minimum(0.99, 0.3 + area / 2000), np.zeros(len(boxes), int)))
        return out


def frame_with(boxes: list[tuple[int, int, int, int]], wh: tuple[int, int] = (400, 300)) -> np.ndarray:
    img = np.full((wh[1], wh[0], 3), 40, np.uint8)
    for x0, y0, x1, y1 in boxes:
        img[y0:y1, x0:x1] = (255, 0, 0)
    return img


def test_fake_detector_satisfies_protocol() -> None:
    assert isinstance(RedBoxDetector(), Detector)


@pytest.mark.parametrize(
    ("image_wh", "slice_wh", "overlap", "n_tiles"),
    [
        ((4000, 3000), (640, 640), 0.2, 8 * 6),
        ((640, 640), (640, 640), 0.2, 1),
        ((300, 200), (640, 640), 0.2, 1),  # smaller than a tile: one padded tile
        ((1000, 640), (640, 640), 0.0, 2),
    ],
)
def test_tile_grid_counts(image_wh, slice_wh, overlap, n_tiles) -> None:
    assert len(tile_grid(image_wh, slice_wh=slice_wh, overlap_wh=(overlap, overlap))) == n_tiles


@settings(max_examples=60, deadline=None)
@given(
    w=st.integers(1, 3000), h=st.integers(1, 3000), sw=st.integers(16, 700), sh=st.integers(16, 700),
    ox=st.floats(0, 0.9), oy=st.floats(0, 0.9),
)
def test_tile_grid_covers_frame_with_full_size_tiles(w, h, sw, sh, ox, oy) -> None:
    tiles = tile_grid((w, h), slice_wh=(sw, sh), overlap_wh=(ox, oy))
    covered = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in tiles:
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert x1 - x0 == min(sw, w) and y1 - y0 == min(sh, h)
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    xs = np.unique(tiles[:, 0])
    if len(xs) > 1:  # neighbours overlap by at least the requested fraction
        assert np.diff(xs).max() <= max(1, int(sw * (1 - ox)))


@pytest.mark.parametrize("bad", [{"overlap_wh": (1.0, 0.2)}, {"slice_wh": (0, 640)}])
def test_tile_grid_rejects_bad_parameters(bad) -> None:
    kwargs = {"slice_wh": (640, 640), "overlap_wh": (0.2, 0.2)} | bad
    with pytest.raises(InvalidInput):
        tile_grid((100, 100), **kwargs)


def test_cut_tiles_pads_small_images() -> None:
    img = frame_with([(0, 0, 5, 5)], wh=(30, 20))
    tiles = tile_grid((30, 20), slice_wh=(64, 64))
    stack = cut_tiles(img, tiles, slice_wh=(64, 64))
    assert stack.shape == (1, 64, 64, 3)
    assert (stack[0, :20, :30] == img).all() and (stack[0, 20:] == 114).all()


def test_shift_back_is_exact_and_tiles_are_batched() -> None:
    truth = [(10, 12, 30, 25), (150, 200, 171, 233), (370, 270, 395, 298), (200, 40, 215, 52)]
    det = RedBoxDetector((64, 64))
    out = slice_infer(frame_with(truth), det, overlap_wh=(0.25, 0.25), full_frame=False, batch_size=5)
    assert sorted(map(tuple, out.xyxy.astype(int).tolist())) == sorted(truth)
    n_tiles = len(tile_grid((400, 300), slice_wh=(64, 64), overlap_wh=(0.25, 0.25)))
    assert sum(det.batches) == n_tiles and max(det.batches) == 5


def test_objects_cut_by_tile_borders_merge_into_one() -> None:
    # 64 px tiles with 0.5 overlap: a 20 px box straddling a border is whole in one tile, cut in another
    truth = [(50, 50, 70, 70)]
    raw = slice_infer(frame_with(truth, (200, 200)), RedBoxDetector(), overlap_wh=(0.5, 0.5), full_frame=False,
                      merge=Merge.NONE)
    assert len(raw) > 1
    merged = slice_infer(frame_with(truth, (200, 200)), RedBoxDetector(), overlap_wh=(0.5, 0.5),
                         full_frame=False)
    assert merged.xyxy.astype(int).tolist() == [list(truth[0])]


def test_merge_repeats_until_a_widened_box_has_absorbed_every_piece_it_covers() -> None:
    # the leader absorbs the middle piece; the last piece overlaps the middle one, not the leader,
    # so one greedy pass leaves it apart although it lies mostly inside the merged box
    pieces = Detections([[0, 0, 50, 20], [20, 0, 70, 20], [45, 0, 85, 20]], [0.9, 0.8, 0.7], [3, 3, 3])
    assert len(greedy_nmm(pieces, threshold=0.5, metric="ios")) == 2
    merged = merge_detections(pieces)
    assert merged.xyxy.tolist() == [[0, 0, 85, 20]] and merged.confidence.tolist() == pytest.approx([0.9])
    other_class = Detections([[0, 0, 50, 20], [20, 0, 70, 20], [45, 0, 85, 20]], [0.9, 0.8, 0.7], [3, 3, 4])
    assert len(merge_detections(other_class)) == 2


def test_full_frame_pass_finds_objects_larger_than_a_tile() -> None:
    big = (40, 30, 360, 280)
    img = frame_with([big])
    det = RedBoxDetector((64, 64))
    without = slice_infer(img, det, full_frame=False, merge=Merge.NONE)
    assert all((b[2] - b[0]) <= 64 for b in without.xyxy)
    with_full = slice_infer(img, det, full_frame=True)
    widest = with_full.xyxy[np.argmax(with_full.area_px)]
    assert np.allclose(widest, big, atol=8)


def test_single_tile_image_skips_full_frame_pass() -> None:
    det = RedBoxDetector((64, 64))
    out = slice_infer(frame_with([(5, 5, 20, 20)], (64, 64)), det)
    assert det.batches == [1] and len(out) == 1


def test_rejects_non_rgb() -> None:
    with pytest.raises(InvalidInput):
        slice_infer(np.zeros((10, 10), np.uint8), RedBoxDetector())


def test_tiles_larger_than_the_input_resize_the_frame_once() -> None:
    truth = [(40, 40, 120, 100), (250, 150, 330, 250)]
    det = RedBoxDetector((64, 64))
    det.tile_wh = (128, 128)  # trained on 128-px crops shrunk to 64
    out = slice_infer(frame_with(truth), det, full_frame=False)
    assert len(out) == 2
    assert np.allclose(sorted(out.xyxy.tolist()), sorted(truth), atol=2.5)
    n_tiles = len(tile_grid((200, 150), slice_wh=(64, 64), overlap_wh=(0.2, 0.2)))
    assert sum(det.batches) == n_tiles
    with pytest.raises(InvalidInput, match="aspect"):
        slice_infer(frame_with(truth), det, slice_wh=(128, 96))
