"""Cheap checks before expensive work: each bad upload from the field gives one clear error.

Time and memory of the same inputs are measured by bench/bench_bad_inputs.py (not here).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dockpatrol.errors import GeorefError
from tests.unit.vision.bad_inputs import (
    jpeg_declaring_100mp,
    patched_dimensions,
    sparse_geotiff,
    twelve_bit_geotiff,
)
from tests.unit.vision.test_ingest import DJI_ATTR_XMP, make_jpeg
from vision.ingest import FrameOptions, ImageLimits, IngestedOrtho, RejectedImage, RejectReason, ingest_bytes
from vision.ingest.checks import band_spread, stretch_limits, stretch_to_uint8


def test_tagless_jpeg_declaring_100_megapixels_is_refused_from_its_header() -> None:
    data = jpeg_declaring_100mp()
    assert len(data) < 1000
    for options in (FrameOptions(), FrameOptions(require_pose=True)):
        with pytest.raises(RejectedImage, match=r"declares 10000x10000 = 100\.0 MP in only \d+ bytes") as err:
            ingest_bytes(data, source="bomb.jpg", options=options)
        assert err.value.reason is RejectReason.CORRUPT


def test_missing_pose_is_refused_before_the_pixels_are_decoded() -> None:
    whole = make_jpeg(size=(1600, 1200), gps=None, xmp=None)
    cut = whole[: len(whole) * 2 // 3]  # a broken scan would fail decoding: the pose check comes first
    with pytest.raises(GeorefError, match=r"cut\.jpg: image has no GPS latitude, GPS longitude, relative altitude"):
        ingest_bytes(cut, source="cut.jpg", options=FrameOptions(require_pose=True))
    with pytest.raises(RejectedImage, match="cannot be decoded"):
        ingest_bytes(cut, source="cut.jpg")


def test_jpeg_with_a_pose_but_a_truncated_scan_fails_in_the_small_pass() -> None:
    whole = make_jpeg(size=(1600, 1200))
    with pytest.raises(RejectedImage, match="cannot be decoded") as err:
        ingest_bytes(whole[: len(whole) * 2 // 3], source="cut.jpg", options=FrameOptions(require_pose=True))
    assert err.value.reason is RejectReason.CORRUPT


def test_declared_size_over_the_pixel_budget_is_refused_from_the_header() -> None:
    with pytest.raises(RejectedImage, match="12000x12000 = 144000000 pixels, the limit is 120000000") as err:
        ingest_bytes(patched_dimensions(make_jpeg(), 12000, 12000), source="big.jpg")
    assert err.value.reason is RejectReason.TOO_MANY_PIXELS


def test_blank_jpeg_never_reaches_the_detector() -> None:
    buf = io.BytesIO()
    Image.fromarray(np.full((600, 800, 3), 3, np.uint8)).save(buf, "JPEG")  # a lens cap
    data = buf.getvalue()
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + DJI_ATTR_XMP
    data = data[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:]
    with pytest.raises(RejectedImage, match="blank or near-constant") as err:
        ingest_bytes(data, source="cap.jpg")
    assert err.value.reason is RejectReason.BLANK


def test_sparse_225_megapixel_geotiff_is_refused_as_blank_from_its_thumbnail() -> None:
    data = sparse_geotiff()
    assert len(data) < 20_000
    with pytest.raises(RejectedImage, match="blank or near-constant") as err:
        ingest_bytes(data, source="sparse.tif")
    assert err.value.reason is RejectReason.BLANK


def test_twelve_bit_data_in_a_16_bit_ortho_is_stretched_by_percentiles() -> None:
    out = ingest_bytes(twelve_bit_geotiff(), source="ortho16.tif")
    assert isinstance(out, IngestedOrtho)
    lo, hi = out.stretch  # type: ignore[misc]
    assert 0 < lo < 700 and 3400 < hi < 4095
    # the old `>> 8` left this data within 0..15 (nearly black); the stretch uses the whole range
    assert int(out.rgb.max()) == 255 and int(out.rgb.min()) == 0
    assert 100 < float(out.rgb.mean()) < 160


def test_stretch_helpers() -> None:
    sample = np.array([[[0, 0, 0], [100, 200, 300], [1000, 1000, 1000]]], np.uint16)
    lo, hi = stretch_limits(sample, percentiles=(0.0, 100.0))
    assert (lo, hi) == (0.0, 1000.0)
    assert stretch_to_uint8(sample, lo=lo, hi=hi)[0, 1].tolist() == [26, 51, 76]
    assert stretch_to_uint8(sample, lo=5, hi=5).max() == 0
    assert band_spread(sample, np.array([[False, False, True]])) == 0.0


@pytest.mark.parametrize("spread", [0, 2])
def test_min_spread_is_a_limit(spread: int) -> None:
    flat = np.full((50, 60, 3), 120, np.uint8)
    flat[::2, ::2] += np.uint8(spread)
    buf = io.BytesIO()
    Image.fromarray(flat).save(buf, "JPEG", quality=100)
    with pytest.raises(RejectedImage, match="near-constant"):
        ingest_bytes(buf.getvalue(), source="flat.jpg")
    assert ingest_bytes(buf.getvalue(), source="flat.jpg", limits=ImageLimits(min_spread_levels=0.0)).rgb.shape \
        == (50, 60, 3)
