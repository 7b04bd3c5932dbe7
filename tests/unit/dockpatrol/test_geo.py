"""The one great-circle distance: scalars and arrays agree, and it matches a known geodesic."""

from __future__ import annotations

import numpy as np
import pytest

from dockpatrol.geo import haversine_m


def test_scalar_and_array_give_the_same_distances() -> None:
    lons = np.array([113.15, 113.16, 113.15, -73.78])
    lats = np.array([23.03, 23.03, 23.04, 40.64])
    many = haversine_m(113.15, 23.03, lons, lats)
    one_by_one = [haversine_m(113.15, 23.03, float(a), float(b)) for a, b in zip(lons, lats, strict=True)]
    assert isinstance(one_by_one[1], float) and many.shape == (4,)
    assert many == pytest.approx(one_by_one, rel=1e-12)
    assert many[0] == 0.0
    # one hundredth of a degree of latitude is ~1.11 km on the mean sphere
    assert one_by_one[2] == pytest.approx(1111.95, abs=0.01)
