"""Configuration errors read as one actionable line; core geodesy and camera maths hold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dockpatrol.camera import CameraModel, CameraPose, GeoPose, ground_to_pixels, pixels_to_ground
from dockpatrol.errors import ConfigError, GeorefError, InvalidInput
from dockpatrol.geo import LocalProjection, check_lonlat, utm_epsg
from dockpatrol.settings import get_settings, reset_settings_cache


@pytest.mark.parametrize("url", ["not a url", "postgresql://user@host:notaport/db", "mysql://u@h/db"])
def test_malformed_database_url_is_one_clear_config_error(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKPATROL_DATABASE_URL", url)
    reset_settings_cache()
    with pytest.raises(ConfigError) as info:
        get_settings()
    message = str(info.value)
    assert "DOCKPATROL_DATABASE_URL" in message
    assert "\n" not in message


def test_default_database_is_sqlite_in_data_dir(isolated_data_dir) -> None:
    assert get_settings().resolved_database_url == f"sqlite:///{(isolated_data_dir / 'dockpatrol.db').resolve()}"


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"), [(113.15, 23.03, 32649), (-73.98, 40.75, 32618), (151.2, -33.87, 32756)]
)
def test_utm_zone(lon: float, lat: float, epsg: int) -> None:
    assert utm_epsg(lon, lat) == epsg


def test_swapped_lat_lon_is_named() -> None:
    with pytest.raises(InvalidInput, match="lat, lon order"):
        check_lonlat(23.03, 113.15)


def test_projection_round_trip_is_sub_millimetre() -> None:
    proj = LocalProjection.around(113.15, 23.03)
    x, y = proj.to_metric([113.15, 113.16], [23.03, 23.04])
    lon, lat = proj.to_lonlat(x, y)
    assert np.allclose(lon, [113.15, 113.16], atol=1e-9) and np.allclose(lat, [23.03, 23.04], atol=1e-9)


def test_gsd_altitude_inverse() -> None:
    cam = CameraModel(4000, 3000, 73.7)
    assert cam.gsd_m(cam.altitude_for_gsd_m(0.025)) == pytest.approx(0.025)
    w, h = cam.footprint_m(60.0)
    assert w / h == pytest.approx(4 / 3)


@pytest.mark.parametrize("yaw", [0.0, 37.0, 180.0, 290.0])
@pytest.mark.parametrize("pitch", [-90.0, -70.0])
def test_pixel_ground_round_trip(yaw: float, pitch: float) -> None:
    cam = CameraModel(1280, 960, 70.0)
    pose = CameraPose(500.0, 800.0, 60.0, yaw_deg=yaw, pitch_deg=pitch, roll_deg=2.0)
    u = np.array([0.0, 640.0, 1279.5, 100.0])
    v = np.array([0.0, 480.0, 959.5, 900.0])
    gx, gy = pixels_to_ground(cam, pose, u, v)
    u2, v2 = ground_to_pixels(cam, pose, gx, gy)
    assert np.allclose(u2, u, atol=1e-6) and np.allclose(v2, v, atol=1e-6)


def test_nadir_heading_north_puts_north_at_image_top() -> None:
    cam = CameraModel(100, 100, 90.0)
    pose = CameraPose(0.0, 0.0, 50.0)
    _, v_north = ground_to_pixels(cam, pose, 0.0, 10.0)
    u_east, _ = ground_to_pixels(cam, pose, 10.0, 0.0)
    assert float(v_north) < 50 and float(u_east) > 50


def test_ray_above_horizon_is_a_georef_error() -> None:
    cam = CameraModel(100, 100, 90.0)
    with pytest.raises(GeorefError, match="horizon"):
        pixels_to_ground(cam, CameraPose(0, 0, 50, pitch_deg=0.0), np.array([50.0]), np.array([10.0]))


def test_geopose_turns_true_yaw_into_grid_yaw() -> None:
    proj = LocalProjection.around(113.15, 23.03)
    pose = GeoPose(113.15, 23.03, 60.0, yaw_deg=10.0).to_metric(proj)
    convergence = proj.grid_convergence_deg(113.15, 23.03)
    assert pose.yaw_deg == pytest.approx(10.0 - convergence)
    assert 0.5 < abs(convergence) < 1.5  # 2.15° east of the zone's meridian at 23° N
    # a point 1 km away at true bearing 10° lies at grid bearing pose.yaw_deg
    from pyproj import Geod

    lon, lat, _ = Geod(ellps="WGS84").fwd(113.15, 23.03, 10.0, 1000.0)
    x, y = proj.to_metric(lon, lat)
    assert math.degrees(math.atan2(float(x) - pose.x_m, float(y) - pose.y_m)) == pytest.approx(pose.yaw_deg, abs=0.01)
    assert math.isfinite(pose.x_m)
