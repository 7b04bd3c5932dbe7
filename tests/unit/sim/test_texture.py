"""Texture sampling: the one-warp path must agree with per-pixel lookups, in bands and when grazing."""

from __future__ import annotations

import numpy as np
import pytest

from sim import texture


def _per_pixel(tile: texture.Tile, m: np.ndarray, width: int, height: int, gsd_m: float) -> np.ndarray:
    xs = np.arange(width, dtype=np.float64)
    ys = np.arange(height, dtype=np.float64)[:, None]
    wq = m[2, 0] * xs + m[2, 1] * ys + m[2, 2]
    x = ((m[0, 0] * xs + m[0, 1] * ys + m[0, 2]) / wq).astype(np.float32)
    y = ((m[1, 0] * xs + m[1, 1] * ys + m[1, 2]) / wq).astype(np.float32)
    out = texture.sample(tile, x, y, gsd_m=gsd_m)
    assert out is not None
    return out


@pytest.mark.parametrize(
    ("name", "m"),
    [
        # Nadir, rotated 37°, 9 cm pixels, anchored far from the tile origin.
        ("rotated", np.array([[0.075, -0.056, 431.7], [0.056, 0.075, -88.2], [0.0, 0.0, 1.0]])),
        # An oblique view: perspective terms make the far rows cover much more ground.
        ("oblique", np.array([[0.09, 0.0, -30.0], [0.0, 0.05, 12.0], [0.0, 0.0012, 1.0]])),
    ],
)
def test_warped_sampling_matches_per_pixel_lookup(name: str, m: np.ndarray) -> None:
    tile = texture.micro_tile()
    got = texture.sample_warped(tile, m, 320, 240, gsd_m=0.09)
    want = _per_pixel(tile, m, 320, 240, 0.09)
    assert got is not None and got.shape == want.shape
    # Both interpolate bilinearly; they differ only by OpenCV's 1/32-texel fixed-point rounding.
    assert float(np.abs(got - want).max()) < 0.1 * float(want.std()), name
    assert float(np.abs(got - want).mean()) < 0.01 * float(want.std()), name


def test_large_rasters_are_sampled_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """A raster whose texel window exceeds the limit is split into row bands; bands join seamlessly."""
    tile = texture.meso_tile()
    m = np.array([[0.1, 0.03, 5.0], [-0.03, 0.1, 7.0], [0.0, 0.0, 1.0]])
    whole = texture.sample_warped(tile, m, 400, 300, gsd_m=0.1)
    monkeypatch.setattr(texture, "_MOSAIC_TEXELS", 20_000)
    banded = texture.sample_warped(tile, m, 400, 300, gsd_m=0.1)
    assert whole is not None and banded is not None
    np.testing.assert_allclose(banded, whole, atol=1e-3)  # fixed-point rounding moves with the window origin
    monkeypatch.setattr(texture, "_MOSAIC_TEXELS", 10)  # no window fits: per-pixel wrapping
    wrapped = texture.sample_warped(tile, m, 400, 300, gsd_m=0.1)
    assert wrapped is not None
    assert float(np.abs(wrapped - whole).max()) < 0.1 * float(whole.std())
