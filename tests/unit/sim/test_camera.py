"""The twin's camera: exact georeferencing, determinism, pose noise, drone metadata, orthophotos."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import exifread
import numpy as np
import pytest
import shapely
from PIL import Image
from shapely.geometry import Polygon

from dockpatrol.camera import CameraModel, GeoPose, ground_to_pixels
from dockpatrol.errors import InvalidInput
from dockpatrol.geo import LocalProjection
from sim.camera import RenderedFrame, render_frame, render_ortho
from sim.world import DEMO_OFFSET, World, WorldObject, rect

AT = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
CAM = CameraModel(800, 600, 73.7)


def _world(*objects: tuple[str, Polygon, float]) -> World:
    """A bare district (grass only) holding the given (kind, polygon, height) objects."""
    proj = LocalProjection.around(113.15, 23.03)
    cx, cy = (float(v) for v in proj.to_metric(113.15, 23.03))
    objs = tuple(
        WorldObject(id=f"t-{i}", kind=kind, polygon=shapely.affinity.translate(poly, cx, cy),
                    appears_at=AT - timedelta(days=1), removed_at=None, is_violation=kind in ("steel_shed", "garbage_dump"),
                    height_m=h, style=11 + i)
        for i, (kind, poly, h) in enumerate(objects)
    )
    return World(seed=0, center_lon=113.15, center_lat=23.03, size_m=400.0, epoch=AT, projection=proj, objects=objs)


def _pose(world: World, dx: float, dy: float, **kw: float) -> GeoPose:
    cx, cy = world.center_m
    lon, lat = world.projection.to_lonlat(cx + dx, cy + dy)
    return GeoPose(lon=float(lon), lat=float(lat), **kw)


def _pixel_sides(poly_px: np.ndarray, shape: tuple[int, int], margin_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Masks of pixels whose centres lie at least margin_px inside / outside (within 6 px) of a pixel polygon."""
    poly = Polygon(poly_px)
    x0, y0, x1, y1 = poly.bounds
    h, w = shape
    ys, xs = np.mgrid[max(0, int(y0) - 8):min(h, int(y1) + 9), max(0, int(x0) - 8):min(w, int(x1) + 9)]
    pts = shapely.points(xs.ravel() + 0.5, ys.ravel() + 0.5)
    inside = shapely.contains(poly, pts)
    dist = shapely.distance(poly.boundary, pts)
    keep_in = inside & (dist >= margin_px)
    keep_out = ~inside & (dist >= margin_px) & (dist <= 6)
    return (ys.ravel()[keep_in], xs.ravel()[keep_in]), (ys.ravel()[keep_out], xs.ravel()[keep_out])


@pytest.mark.parametrize(("yaw", "pitch", "roll"), [(0.0, -90.0, 0.0), (33.0, -90.0, 0.0), (-120.0, -72.0, 4.0)])
def test_polygon_lands_on_its_pixels_within_one_pixel_at_60m(yaw: float, pitch: float, roll: float) -> None:
    pool = rect(3.0, -2.0, 9.0, 5.0, 20.0)
    dump = rect(-14.0, 8.0, 4.0, 3.0, -10.0)
    world = _world(("pool", pool, 0.0), ("garbage_dump", dump, 0.0))
    pose = _pose(world, 2.0, -1.0, altitude_m=60.0, yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll)
    frame = render_frame(world, CAM, pose, AT, seed=5, pose_noise=False)
    cam_pose = pose.to_metric(world.projection)

    # Ground truth outlines go through dockpatrol.camera.ground_to_pixels.
    [seen] = frame.objects
    ring = np.asarray(world.require(seen.object_id).polygon.exterior.coords)[:-1]
    u, v = ground_to_pixels(CAM, cam_pose, ring[:, 0], ring[:, 1], 0.0)
    np.testing.assert_allclose(seen.polygon_px, np.column_stack([u, v]), atol=1e-6)
    assert seen.visible_fraction == pytest.approx(1.0)
    assert seen.xyxy_px == pytest.approx((u.min(), v.min(), u.max(), v.max()))

    # The painted pool (white coping, blue water) covers exactly its projected outline: blue minus
    # green separates it from the grass for every pixel 1 px or more inside or outside the edge.
    ring = np.asarray(world.objects[0].polygon.exterior.coords)[:-1]
    pu, pv = ground_to_pixels(CAM, cam_pose, ring[:, 0], ring[:, 1], 0.0)
    inner, outer = _pixel_sides(np.column_stack([pu, pv]), frame.rgb.shape[:2], 1.0)
    feature = frame.rgb[..., 2].astype(float) - frame.rgb[..., 1].astype(float)
    f_in, f_out = feature[inner], feature[outer]
    assert len(f_in) > 500 and len(f_out) > 300
    threshold = (np.median(f_in) + np.median(f_out)) / 2
    assert np.median(f_in) - np.median(f_out) > 30
    assert f_in.min() > threshold, "a pixel 1 px inside the outline is not painted as pool"
    assert f_out.max() < threshold, "a pixel 1 px outside the outline is painted as pool"


def test_raised_objects_are_outlined_at_their_roof_height() -> None:
    shed = rect(20.0, 15.0, 12.0, 6.0, 0.0)
    world = _world(("steel_shed", shed, 4.0))
    pose = _pose(world, 0.0, 0.0, altitude_m=60.0)
    frame = render_frame(world, CAM, pose, AT, pose_noise=False)
    [seen] = frame.objects
    ring = np.asarray(world.objects[0].polygon.exterior.coords)[:-1]
    cam_pose = pose.to_metric(world.projection)
    u, v = ground_to_pixels(CAM, cam_pose, ring[:, 0], ring[:, 1], 4.0)
    np.testing.assert_allclose(seen.polygon_px, np.column_stack([u, v]), atol=1e-6)
    bu, _ = ground_to_pixels(CAM, cam_pose, ring[:, 0], ring[:, 1], 0.0)
    # The box holds roof and walls (base outline) alike.
    assert seen.xyxy_px[0] <= min(u.min(), bu.min()) + 1e-6 and seen.xyxy_px[2] >= max(u.max(), bu.max()) - 1e-6


def test_same_inputs_same_bytes(small_world: World) -> None:
    at = small_world.epoch + DEMO_OFFSET
    lon, lat = small_world.hotspots(at=at)[0]
    pose = GeoPose(lon=lon, lat=lat, altitude_m=70.0, yaw_deg=15.0)
    a = render_frame(small_world, CAM, pose, at, seed=1)
    b = render_frame(small_world, CAM, pose, at, seed=1)
    c = render_frame(small_world, CAM, pose, at, seed=2)
    assert a.rgb.tobytes() == b.rgb.tobytes()
    assert a.to_jpeg() == b.to_jpeg()
    assert a.rgb.tobytes() != c.rgb.tobytes()
    assert a.rgb.shape == (600, 800, 3) and a.rgb.dtype == np.uint8
    assert a.objects, "a hotspot shows violations"
    for o in a.objects:
        x0, y0, x1, y1 = o.xyxy_px
        assert 0 <= x0 < x1 <= 800 and 0 <= y0 < y1 <= 600
        assert 0 < o.visible_fraction <= 1
        assert small_world.require(o.object_id).kind == o.class_name


def test_frames_only_show_violations_present_at_capture_time(small_world: World) -> None:
    obj = next(o for o in small_world.objects if o.kind == "steel_shed")
    c = obj.polygon.centroid
    lon, lat = small_world.projection.to_lonlat(c.x, c.y)
    pose = GeoPose(lon=float(lon), lat=float(lat), altitude_m=60.0)
    before = render_frame(small_world, CAM, pose, obj.appears_at - timedelta(hours=1), pose_noise=False)
    during = render_frame(small_world, CAM, pose, obj.appears_at + timedelta(hours=1), pose_noise=False)
    assert obj.id not in {o.object_id for o in before.objects}
    assert obj.id in {o.object_id for o in during.objects}


def test_pose_noise_touches_only_the_reported_pose(small_world: World) -> None:
    pose = _pose(small_world, 10.0, 10.0, altitude_m=80.0, yaw_deg=170.0)
    at = small_world.epoch + DEMO_OFFSET
    clean = render_frame(small_world, CAM, pose, at, seed=4, pose_noise=False)
    noisy = render_frame(small_world, CAM, pose, at, seed=4, pose_noise=True)
    again = render_frame(small_world, CAM, pose, at, seed=4, pose_noise=True)
    assert clean.reported_pose == clean.true_pose == pose
    assert noisy.true_pose == pose and noisy.reported_pose != pose
    assert again.reported_pose == noisy.reported_pose
    assert noisy.rgb.tobytes() == clean.rgb.tobytes()  # the image is taken from the true pose
    x0, y0 = small_world.projection.to_metric(pose.lon, pose.lat)
    x1, y1 = small_world.projection.to_metric(noisy.reported_pose.lon, noisy.reported_pose.lat)
    assert 0.0 < float(np.hypot(x1 - x0, y1 - y0)) < 8.0
    assert abs(noisy.reported_pose.altitude_m - 80.0) < 3.0
    assert abs((noisy.reported_pose.yaw_deg - 170.0 + 180) % 360 - 180) < 10.0


def _xmp_fields(data: bytes) -> dict[str, str]:
    packet = Image.open(io.BytesIO(data)).info["xmp"]
    packet = packet.encode() if isinstance(packet, str) else packet
    return {k.decode(): v.decode() for k, v in re.findall(rb'drone-dji:(\w+)="([^"]*)"', packet)}


def test_jpeg_carries_reported_pose_in_exif_and_xmp(small_world: World) -> None:
    pose = _pose(small_world, -20.0, 30.0, altitude_m=75.0, yaw_deg=-140.0)
    at = small_world.epoch + timedelta(hours=3, minutes=7, seconds=9)
    frame: RenderedFrame = render_frame(small_world, CAM, pose, at, seed=9)
    rep = frame.reported_pose
    data = frame.to_jpeg(quality=85)

    exif = Image.open(io.BytesIO(data)).getexif()
    gps = exif.get_ifd(0x8825)
    lat = sum(float(v) / 60**i for i, v in enumerate(gps[2]))
    lon = sum(float(v) / 60**i for i, v in enumerate(gps[4]))
    assert (gps[1], gps[3]) == ("N", "E")
    assert lat == pytest.approx(rep.lat, abs=1e-7) and lon == pytest.approx(rep.lon, abs=1e-7)
    assert float(gps[6]) == pytest.approx(small_world.ground_amsl_m + rep.altitude_m, abs=1e-3)
    assert exif.get_ifd(0x8769)[0x9003] == "2026:01:05 03:07:09"

    tags = exifread.process_file(io.BytesIO(data), details=False)
    d, m, s = (float(x.num) / float(x.den) for x in tags["GPS GPSLatitude"].values)
    assert d + m / 60 + s / 3600 == pytest.approx(rep.lat, abs=1e-7)
    assert str(tags["GPS GPSLatitudeRef"]) == "N" and str(tags["GPS GPSLongitudeRef"]) == "E"
    assert str(tags["EXIF DateTimeOriginal"]) == "2026:01:05 03:07:09"
    alt = tags["GPS GPSAltitude"].values[0]
    assert float(alt.num) / float(alt.den) == pytest.approx(small_world.ground_amsl_m + rep.altitude_m, abs=1e-3)

    xmp = _xmp_fields(data)
    assert float(xmp["RelativeAltitude"]) == pytest.approx(rep.altitude_m, abs=0.006)
    assert float(xmp["AbsoluteAltitude"]) == pytest.approx(small_world.ground_amsl_m + rep.altitude_m, abs=0.006)
    assert float(xmp["GimbalYawDegree"]) == pytest.approx(rep.yaw_deg, abs=0.006)
    assert float(xmp["FlightYawDegree"]) == pytest.approx(rep.yaw_deg, abs=0.006)
    assert float(xmp["GimbalPitchDegree"]) == pytest.approx(rep.pitch_deg, abs=0.006)
    assert float(xmp["GimbalRollDegree"]) == pytest.approx(rep.roll_deg, abs=0.006)
    assert Image.open(io.BytesIO(data)).size == (800, 600)


def test_ortho_geotiff_has_world_crs_and_transform(tmp_path: Path) -> None:
    import rasterio

    pool = rect(10.0, 5.0, 8.0, 4.0, 0.0)
    world = _world(("pool", pool, 0.0))
    cx, cy = world.center_m
    lon0, lat0 = world.projection.to_lonlat(cx - 40, cy - 30)
    lon1, lat1 = world.projection.to_lonlat(cx + 40, cy + 30)
    path = render_ortho(world, bbox_lonlat=(float(lon0), float(lat0), float(lon1), float(lat1)), gsd_m=0.25,
                        at=AT, path=tmp_path / "ortho.tif")
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 32649
        t = ds.transform
        assert (t.a, t.b, t.d, t.e) == (0.25, 0.0, 0.0, -0.25)
        assert t.c <= cx - 40 + 1e-6 and t.f >= cy + 30 - 1e-6
        assert ds.count == 3 and ds.dtypes[0] == "uint8"
        rgb = np.transpose(ds.read(), (1, 2, 0)).astype(float)
        row, col = ds.index(cx + 10.0, cy + 5.0)  # the pool's centre
        grass_row, grass_col = ds.index(cx - 20.0, cy - 20.0)
    assert rgb[row, col, 2] - rgb[row, col, 1] > rgb[grass_row, grass_col, 2] - rgb[grass_row, grass_col, 1] + 30


@pytest.mark.parametrize(
    ("pose", "at", "message"),
    [
        (GeoPose(lon=113.15, lat=23.03, altitude_m=0.0), AT, "altitude"),
        (GeoPose(lon=113.15, lat=23.03, altitude_m=-5.0), AT, "altitude"),
        (GeoPose(lon=113.15, lat=23.03, altitude_m=60.0, pitch_deg=-10.0), AT, "horizon|reaches"),
        (GeoPose(lon=113.15, lat=23.03, altitude_m=60.0, pitch_deg=20.0), AT, "pitch"),
        (GeoPose(lon=113.15, lat=23.03, altitude_m=60.0), datetime(2026, 1, 5, 4), "timezone-aware"),
    ],
)
def test_bad_render_input_is_refused(small_world: World, pose: GeoPose, at: datetime, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        render_frame(small_world, CAM, pose, at)


@pytest.mark.parametrize(
    ("bbox", "gsd", "message"),
    [
        ((113.151, 23.03, 113.15, 23.031), 0.5, "empty"),
        ((113.15, 23.03, 113.151, 23.031), 0.0, "GSD"),
        ((113.10, 23.00, 113.20, 23.06), 0.01, "limit"),
    ],
)
def test_bad_ortho_input_is_refused(small_world: World, tmp_path: Path, bbox: tuple, gsd: float, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        render_ortho(small_world, bbox_lonlat=bbox, gsd_m=gsd, at=AT, path=tmp_path / "x.tif")


def test_soft_veil_sliver_at_frame_edge_is_skipped_not_crashing() -> None:
    """A blurred veil (smoke, plume) whose padded window reaches only a few pixels into the frame,
    fewer than one coarse sample: it used to crash cv2.GaussianBlur on an empty array."""
    import numpy as np

    from sim.paint.painter import Painter
    from sim.paint.veils import soft_alpha

    painter = Painter.__new__(Painter)
    painter.w, painter.h = 100, 100
    ring = np.array([[-300.0, 10.0], [-118.0, 10.0], [-118.0, 60.0], [-300.0, 60.0]])
    assert soft_alpha(painter, [ring], soft_px=40.0) is None
    inside = np.array([[20.0, 20.0], [80.0, 20.0], [80.0, 80.0], [20.0, 80.0]])
    _, alpha, f = soft_alpha(painter, [inside], soft_px=40.0)
    assert f == 16 and alpha.size > 0 and float(alpha.max()) > 0.1


@pytest.mark.parametrize(
    ("hours", "yaw", "pitch", "altitude"),
    [(0.0, 37.0, -90.0, 80.0), (-3.5, -150.0, -90.0, 40.0), (3.5, 70.0, -55.0, 60.0)],
)
def test_off_frame_culling_changes_no_pixel(small_world: World, monkeypatch: pytest.MonkeyPatch, hours: float,
                                             yaw: float, pitch: float, altitude: float) -> None:
    """Objects skipped as off-frame (with their shadows, lean, blur and glow) must not have touched the image:
    low sun (long shadows), oblique views and rotated footprints included."""
    from sim.paint.painter import Painter

    at = small_world.epoch + DEMO_OFFSET + timedelta(hours=hours)
    lon, lat = small_world.hotspots(at=at)[1]
    pose = GeoPose(lon=lon, lat=lat, altitude_m=altitude, yaw_deg=yaw, pitch_deg=pitch)
    skipped: list[str] = []
    may_show = Painter._may_show

    def counting(self: Painter, objs: list[WorldObject]) -> np.ndarray:
        shown = may_show(self, objs)
        skipped.extend(o.kind for o, s in zip(objs, shown, strict=True) if not s)
        return shown

    monkeypatch.setattr(Painter, "_may_show", counting)
    culled = render_frame(small_world, CAM, pose, at, seed=3).rgb
    monkeypatch.setattr(Painter, "_may_show", lambda self, objs: np.ones(len(objs), bool))
    everything = render_frame(small_world, CAM, pose, at, seed=3).rgb
    assert skipped, "the view window holds objects off the frame"
    assert culled.tobytes() == everything.tobytes()
