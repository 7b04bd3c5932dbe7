"""Georeferencing maths: frames on flat ground and on a DEM, orthos, findings and evidence crops."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from dockpatrol.camera import CameraModel, GeoPose, ground_to_pixels
from dockpatrol.errors import GeorefError, InvalidInput
from dockpatrol.geo import LocalProjection
from dockpatrol.taxonomy import CLASS_NAMES, HEIGHT_PRIOR_M, Category
from vision.detections import Detections
from vision.georef import (
    Dem,
    FrameGeoref,
    OrthoGeoref,
    box_outlines_px,
    evidence_crop,
    findings_from_detections,
)

CAM = CameraModel(4000, 3000, 73.7)
PROJ = LocalProjection.around(113.15, 23.03)
T0 = datetime(2026, 1, 5, 3, tzinfo=UTC)


def nadir(alt: float = 60.0, yaw: float = 0.0, pitch: float = -90.0) -> GeoPose:
    return GeoPose(lon=113.15, lat=23.03, altitude_m=alt, yaw_deg=yaw, pitch_deg=pitch)


def test_nadir_centre_and_footprint() -> None:
    g = FrameGeoref.for_pose(CAM, nadir(), projection=PROJ)
    x, y = g.pixels_to_metric(np.array([2000.0]), np.array([1500.0]))
    cx, cy = PROJ.to_metric(113.15, 23.03)
    assert x[0] == pytest.approx(float(cx), abs=1e-6) and y[0] == pytest.approx(float(cy), abs=1e-6)
    xs, _ = g.pixels_to_metric(np.array([0.0, 4000.0]), np.array([1500.0, 1500.0]))
    assert xs[1] - xs[0] == pytest.approx(CAM.footprint_m(60.0)[0], rel=1e-3)  # grid convergence rotates slightly


@pytest.mark.parametrize(("yaw", "pitch", "ground_z"), [(0, -90, 0.0), (37, -70, 0.0), (-120, -55, 4.0)])
def test_round_trip_ground_pixel_ground(yaw: float, pitch: float, ground_z: float) -> None:
    g = FrameGeoref.for_pose(CAM, nadir(80, yaw, pitch), projection=PROJ, ground_z_m=ground_z)
    pose = g.metric_pose()
    rng = np.random.default_rng(1)
    u, v = rng.uniform(0, 4000, 50), rng.uniform(0, 3000, 50)
    x, y = g.pixels_to_metric(u, v)
    u2, v2 = ground_to_pixels(CAM, pose, x, y, ground_z)
    assert np.allclose(u, u2, atol=1e-6) and np.allclose(v, v2, atol=1e-6)


def test_horizon_is_a_georef_error() -> None:
    g = FrameGeoref.for_pose(CAM, nadir(60, 0, -10), projection=PROJ)
    with pytest.raises(GeorefError):
        g.pixels_to_metric(np.array([2000.0]), np.array([0.0]))


def write_dem(path: Path, fn, *, epsg: int = PROJ.epsg, gsd: float = 1.0) -> Path:
    cx, cy = (float(v) for v in PROJ.to_metric(113.15, 23.03))
    x0, y1 = cx - 200, cy + 200
    cols = rows = int(400 / gsd)
    xs = x0 + (np.arange(cols) + 0.5) * gsd
    ys = y1 - (np.arange(rows) + 0.5) * gsd
    gx, gy = np.meshgrid(xs, ys)
    z = fn(gx - cx, gy - cy).astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1, dtype="float32",
                       crs=f"EPSG:{epsg}", transform=from_origin(x0, y1, gsd, gsd), nodata=-9999) as dst:
        dst.write(z, 1)
    return path


def test_dem_slope_round_trip(tmp_path: Path) -> None:
    def slope(dx, dy):  # a hillside rising 10 m per 100 m towards the east, dock at 20 m above sea level
        return 20.0 + 0.1 * dx

    dem = Dem.open(write_dem(tmp_path / "dem.tif", slope))
    g = FrameGeoref.for_pose(CAM, nadir(60, 20, -75), projection=PROJ, dem=dem, dock_elevation_m=20.0)
    pose = g.metric_pose()
    assert pose.z_m == pytest.approx(80.0)
    cx, cy = (float(v) for v in PROJ.to_metric(113.15, 23.03))
    rng = np.random.default_rng(2)
    x = cx + rng.uniform(-30, 30, 40)
    y = cy + rng.uniform(0, 60, 40)
    z = slope(x - cx, y - cy)
    u, v = ground_to_pixels(CAM, pose, x, y, z)
    ok = (u >= 0) & (u <= 4000) & (v >= 0) & (v <= 3000)
    assert ok.sum() > 10
    gx, gy = g.pixels_to_metric(u[ok], v[ok])
    assert np.hypot(gx - x[ok], gy - y[ok]).max() < 0.05
    # flat ground at the dock would misplace the same pixels by metres
    fx, fy = FrameGeoref.for_pose(CAM, nadir(60, 20, -75), projection=PROJ).pixels_to_metric(u[ok], v[ok])
    assert np.hypot(fx - x[ok], fy - y[ok]).max() > 1.0


def test_dem_in_another_crs_and_nodata(tmp_path: Path) -> None:
    flat = Dem.open(write_dem(tmp_path / "d.tif", lambda dx, dy: 5.0 + 0 * dx))
    z = flat.sample(np.array([113.15, 0.0]), np.array([23.03, 0.0]), LocalProjection(4326).crs)
    assert z[0] == pytest.approx(5.0) and np.isnan(z[1])
    with pytest.raises(InvalidInput, match="pixels"):
        Dem.open(tmp_path / "d.tif", max_pixels=100)


def test_ortho_pixels_to_lonlat() -> None:
    cx, cy = (float(v) for v in PROJ.to_metric(113.15, 23.03))
    g = OrthoGeoref(from_origin(cx, cy, 0.05, 0.05), PROJ.crs)
    lon, lat = g.pixels_to_lonlat(np.array([0.0, 200.0]), np.array([0.0, 0.0]))
    assert lon[0] == pytest.approx(113.15, abs=1e-9) and lat[0] == pytest.approx(23.03, abs=1e-9)
    x, _ = PROJ.to_metric(lon[1], lat[1])
    assert float(x) - cx == pytest.approx(10.0, abs=1e-6)


def test_box_outlines_are_clockwise_rings() -> None:
    o = box_outlines_px(np.array([[0, 0, 4, 2]]), points_per_edge=2)
    assert o.shape == (1, 8, 2)
    assert o[0].tolist() == [[0, 0], [2, 0], [4, 0], [4, 1], [4, 2], [2, 2], [0, 2], [0, 1]]


def test_findings_are_wgs84_polygons_with_area() -> None:
    g = FrameGeoref.for_pose(CAM, nadir(), projection=PROJ)
    gsd = CAM.gsd_m(60.0)
    dets = Detections([[1000, 1000, 1000 + 1 / gsd * 5, 1000 + 1 / gsd * 4], [0, 0, 10, 10]], [0.9, 0.4],
                      [CLASS_NAMES.index("steel_shed"), CLASS_NAMES.index("smoke")])
    found = findings_from_detections(dets, g, seen_at=T0, frame_id="f1", model="m@1")
    assert [f.class_name for f in found] == ["steel_shed", "smoke"]
    assert found[0].category is Category.CONSTRUCTION and found[1].category is Category.FIRE
    # a steel shed's box is placed at its height prior: (60 - 2) / 60 of the ground scale each way
    shrink = (60.0 - HEIGHT_PRIOR_M["steel_shed"]) / 60.0
    assert found[0].area_m2 == pytest.approx(20.0 * shrink**2, rel=0.01)
    ring = found[0].geometry["coordinates"][0]
    assert found[0].geometry["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) == 5
    assert all(113.1 < lon < 113.2 and 23.0 < lat < 23.1 for lon, lat in ring)  # lon, lat order
    assert found[0].shape().contains(found[0].shape().centroid)
    assert found[0].to_geojson()["properties"]["class"] == "steel_shed"
    assert findings_from_detections(Detections.empty(), g, seen_at=T0) == []
    with pytest.raises(InvalidInput, match="timezone"):
        findings_from_detections(dets, g, seen_at=datetime(2026, 1, 5))


def test_a_rooftop_addition_is_placed_at_its_height_prior_not_on_the_ground() -> None:
    pose = nadir()
    g = FrameGeoref.for_pose(CAM, pose, projection=PROJ)
    cx, cy = (float(v) for v in PROJ.to_metric(pose.lon, pose.lat))
    top_z = HEIGHT_PRIOR_M["rooftop_addition"]
    # a 4 x 3 m addition 30 m east of the nadir, its top at the prior's height
    xs, ys = np.array([28.0, 32.0]) + cx, np.array([-1.5, 1.5]) + cy
    u, v = ground_to_pixels(CAM, g.metric_pose(), xs, ys, top_z)
    box = [float(u.min()), float(v.min()), float(u.max()), float(v.max())]
    for name, expected_off_m in (("rooftop_addition", 0.0), ("garbage_dump", 30.0 * top_z / (60.0 - top_z))):
        dets = Detections([box], [0.9], [CLASS_NAMES.index(name)])
        (f,) = findings_from_detections(dets, g, seen_at=T0)
        x, y = PROJ.to_metric(f.centroid_lon, f.centroid_lat)
        # on the ground the same box lands 7.5 m further out (parallax); at the prior it is where it is
        assert float(x) - (cx + 30.0) == pytest.approx(expected_off_m, abs=0.05)
        assert float(y) - cy == pytest.approx(0.0, abs=0.05)


@pytest.mark.parametrize(
    ("box", "expected_wh"),
    [
        ((100, 100, 200, 150), (200, 146)),  # margin: half the box, at least 48 px
        ((0, 0, 20, 20), (68, 68)),  # clipped at the top-left corner
        ((350, 250, 400, 300), (98, 98)),  # clipped at the bottom-right corner
    ],
)
def test_evidence_crop_has_context(box, expected_wh) -> None:
    img = np.zeros((300, 400, 3), np.uint8)
    data = evidence_crop(img, box)
    crop = Image.open(io.BytesIO(data))
    assert crop.format == "JPEG" and crop.size == expected_wh


def test_evidence_crop_limits_size_and_rejects_bad_boxes() -> None:
    img = np.zeros((3000, 4000, 3), np.uint8)
    assert max(Image.open(io.BytesIO(evidence_crop(img, (0, 0, 3000, 2000)))).size) == 1024
    with pytest.raises(InvalidInput, match="no area"):
        evidence_crop(img, (10, 10, 10, 50))
    with pytest.raises(InvalidInput, match="outside"):
        evidence_crop(img, (5000, 10, 5100, 50), min_margin_px=0, margin_frac=0)


# ---- the camera's real attitude (a camera fixed to the airframe tilts with it) ----------------------------------


def _fixed_camera_truth(roll_deg: float, pitch_deg: float, yaw_deg: float = 90.0, alt: float = 66.7) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A photo by a fixed camera while banking: pixels of a grid of ground points the true camera sees."""
    from dockpatrol.camera import CameraMount, camera_attitude

    yaw, pitch, roll = camera_attitude(CameraMount.FIXED, vehicle_yaw_deg=yaw_deg, vehicle_roll_deg=roll_deg,
                                       vehicle_pitch_deg=pitch_deg)
    true_pose = GeoPose(lon=113.15, lat=23.03, altitude_m=alt, yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll)
    metric = true_pose.to_metric(PROJ)
    gx, gy = np.meshgrid(np.linspace(-15.0, 15.0, 4), np.linspace(-15.0, 15.0, 4))
    # ground points around where the tilted camera looks
    cx, cy = FrameGeoref.for_pose(CAM, true_pose, projection=PROJ).pixels_to_metric(np.array([2000.0]),
                                                                                  np.array([1500.0]))
    gx, gy = gx.ravel() + cx[0], gy.ravel() + cy[0]
    u, v = ground_to_pixels(CAM, metric, gx, gy, 0.0)
    assert np.all((u > 0) & (u < 4000) & (v > 0) & (v < 3000))
    return gx, gy, u, v


@pytest.mark.parametrize(("roll_deg", "pitch_deg"), [(-17.0, 0.0), (-17.0, -29.0 + 15.0), (8.0, 6.0)])
def test_a_banking_fixed_camera_frame_lands_on_the_truth_only_with_the_reported_attitude(
        roll_deg: float, pitch_deg: float) -> None:
    from dockpatrol.camera import CameraMount
    from vision.georef import place_frame

    gx, gy, u, v = _fixed_camera_truth(roll_deg, pitch_deg)
    as_recorded = GeoPose(lon=113.15, lat=23.03, altitude_m=66.7, yaw_deg=90.0)  # what the JPEG says: nadir
    placed = place_frame(as_recorded, mount=CameraMount.FIXED, vehicle_roll_deg=roll_deg,
                         vehicle_pitch_deg=pitch_deg, max_off_nadir_deg=40.0)
    assert placed.usable and placed.off_nadir_deg == pytest.approx(off_nadir_of(roll_deg, pitch_deg), abs=0.01)
    x, y = FrameGeoref.for_pose(CAM, placed.pose, projection=PROJ).pixels_to_metric(u, v)
    assert np.max(np.hypot(x - gx, y - gy)) < 0.05
    nx, ny = FrameGeoref.for_pose(CAM, as_recorded, projection=PROJ).pixels_to_metric(u, v)
    ignored = np.hypot(nx - gx, ny - gy)
    assert np.min(ignored) > 10.0  # ignoring the attitude misplaces every point by tens of metres
    if roll_deg == -17.0 and pitch_deg == 0.0:
        assert np.mean(ignored) == pytest.approx(66.7 * np.tan(np.radians(17.0)), rel=0.15)


def off_nadir_of(roll_deg: float, pitch_deg: float) -> float:
    # the body's down axis is tilted from the vertical by acos(cos(roll) · cos(pitch))
    return float(np.degrees(np.arccos(np.cos(np.radians(roll_deg)) * np.cos(np.radians(pitch_deg)))))


def test_frames_beyond_a_usable_tilt_are_kept_unanalysed_with_the_reason_and_a_gimbal_keeps_nadir() -> None:
    from dockpatrol.camera import CameraMount
    from vision.georef import MAX_OFF_NADIR_DEG, place_frame

    recorded = GeoPose(lon=113.15, lat=23.03, altitude_m=66.7, yaw_deg=45.0)
    steep = place_frame(recorded, mount=CameraMount.FIXED, vehicle_roll_deg=-17.0, vehicle_pitch_deg=-29.0)
    assert MAX_OFF_NADIR_DEG == 20.0 and not steep.usable
    assert steep.reason.startswith("camera 33.2° off nadir (more than 20°)") and "roll -17.0°" in steep.reason
    unknown = place_frame(recorded, mount=CameraMount.FIXED, vehicle_roll_deg=None, vehicle_pitch_deg=None)
    assert not unknown.usable and "no vehicle attitude" in unknown.reason
    gimbal = place_frame(recorded, mount=CameraMount.GIMBAL, vehicle_roll_deg=-17.0, vehicle_pitch_deg=-29.0)
    assert gimbal.usable and gimbal.pose == recorded and gimbal.off_nadir_deg == 0.0


@pytest.mark.parametrize(("yaw", "roll", "pitch"), [(0.0, 0.0, 0.0), (30.0, -17.0, -29.0), (200.0, 10.0, 5.0),
                                                     (359.0, 0.0, -29.0), (90.0, -17.0, 0.0)])
def test_the_fixed_camera_attitude_is_the_bodys_down_axis(yaw: float, roll: float, pitch: float) -> None:
    from dockpatrol.camera import CameraMount, CameraPose, camera_attitude

    cy, cp, cr = camera_attitude(CameraMount.FIXED, vehicle_yaw_deg=yaw, vehicle_roll_deg=roll,
                                 vehicle_pitch_deg=pitch)
    forward = CameraPose(0.0, 0.0, 1.0, cy, cp, cr).axes()[2]
    r, p, y = np.radians([roll, pitch, yaw])
    # body z (down) in east, north, up, written out from the ZYX rotation
    down = np.array([np.sin(y) * np.sin(p) * np.cos(r) - np.cos(y) * np.sin(r),
                     np.cos(y) * np.sin(p) * np.cos(r) + np.sin(y) * np.sin(r),
                     -np.cos(p) * np.cos(r)])
    assert forward == pytest.approx(down, abs=1e-9)
