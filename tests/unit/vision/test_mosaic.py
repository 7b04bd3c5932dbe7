"""Quick mosaic: frames from their pose onto the area grid, written as a valid COG with the right georeferencing."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio

from dockpatrol.camera import CameraModel, GeoPose
from dockpatrol.errors import InvalidInput
from dockpatrol.geo import LocalProjection
from vision.mosaic import MosaicFrame, MosaicGrid, NoUsableFrames, build_mosaic, read_crop_jpeg, read_mosaic

CAMERA = CameraModel().scaled(400)
LON, LAT = 113.15, 23.03
PROJ = LocalProjection.around(LON, LAT)


def _checker(camera: CameraModel, pose: GeoPose, *, square_m: float = 4.0) -> np.ndarray:
    """What a nadir camera sees of a ground checkerboard (squares of square_m aligned to UTM): ground truth by geometry."""
    from dockpatrol.camera import pixels_to_ground

    u, v = np.meshgrid(np.arange(camera.width_px) + 0.5, np.arange(camera.height_px) + 0.5)
    x, y = pixels_to_ground(camera, pose.to_metric(PROJ), u, v)
    on = (np.floor(x / square_m) + np.floor(y / square_m)) % 2 == 0
    rgb = np.where(on[..., None], np.array([230, 200, 40], np.uint8), np.array([30, 60, 160], np.uint8))
    return rgb.astype(np.uint8)


def _frame(frame_id: str, dx_m: float, dy_m: float, *, yaw: float = 0.0, pose: bool = True) -> MosaicFrame:
    cx, cy = (float(v) for v in PROJ.to_metric(LON, LAT))
    lon, lat = (float(v) for v in PROJ.to_lonlat(cx + dx_m, cy + dy_m))
    geo = GeoPose(lon=lon, lat=lat, altitude_m=CAMERA.altitude_for_gsd_m(0.1), yaw_deg=yaw)
    rgb = _checker(CAMERA, geo)
    return MosaicFrame(frame_id=frame_id, pose=geo if pose else None, camera=CAMERA, load=lambda: rgb)


def _grid(half_m: float = 25.0, gsd_m: float = 0.1) -> MosaicGrid:
    cx, cy = (float(v) for v in PROJ.to_metric(LON, LAT))
    return MosaicGrid.for_bounds(epsg=PROJ.epsg, bounds_m=(cx - half_m, cy - half_m, cx + half_m, cy + half_m),
                                 gsd_m=gsd_m)


def test_grid_snaps_so_patrols_share_it() -> None:
    a = MosaicGrid.for_bounds(epsg=32649, bounds_m=(100.3, 200.7, 150.2, 260.1), gsd_m=0.05)
    b = MosaicGrid.for_bounds(epsg=32649, bounds_m=(100.31, 200.71, 150.19, 260.09), gsd_m=0.05)
    assert a == b
    assert (a.west_m, a.north_m) == (100.0, 261.0)
    assert a.transform.a == 0.05 and a.transform.e == -0.05


@pytest.mark.parametrize(("bounds", "gsd"), [((0, 0, 0, 10), 0.1), ((0, 0, 10, 10), 0.0), ((0, 0, 10, 10), float("nan"))])
def test_grid_rejects_bad_bounds_and_gsd(bounds: tuple, gsd: float) -> None:
    with pytest.raises(InvalidInput):
        MosaicGrid.for_bounds(epsg=32649, bounds_m=bounds, gsd_m=gsd)


def test_mosaic_is_a_valid_cog_with_crs_transform_and_ground_in_place(tmp_path: Path) -> None:
    from rio_cogeo.cogeo import cog_validate

    grid = _grid(gsd_m=0.05)
    frames = [_frame("a", -10, -8), _frame("b", 10, -8, yaw=12.0), _frame("c", -10, 8, yaw=-7.0), _frame("d", 10, 8)]
    result = build_mosaic(frames, grid, path=tmp_path / "m.tif", tile_px=256, profile="deflate", register=False)
    valid, errors, _ = cog_validate(result.path, quiet=True)
    assert valid, errors
    with rasterio.open(result.path) as src:
        assert src.crs.to_epsg() == PROJ.epsg
        assert src.transform == grid.transform
        assert (src.width, src.height) == (grid.width_px, grid.height_px)
        assert src.overviews(1), "a COG for a tiler carries overviews"
    assert set(result.frames_used) == {"a", "b", "c", "d"} and not result.skipped
    # The checkerboard lands where geometry puts it: compare with the board drawn on the grid directly.
    raster = read_mosaic(result.path, grid=grid)
    cols, rows = np.meshgrid(np.arange(grid.width_px) + 0.5, np.arange(grid.height_px) + 0.5)
    x, y = grid.west_m + cols * grid.gsd_m, grid.north_m - rows * grid.gsd_m
    on = (np.floor(x / 4.0) + np.floor(y / 4.0)) % 2 == 0
    inner = raster.valid & ((np.abs(x / 4.0 - np.round(x / 4.0)) > 0.05) & (np.abs(y / 4.0 - np.round(y / 4.0)) > 0.05))
    yellow = raster.rgb[..., 0] > 128
    agree = np.mean(yellow[inner] == on[inner])
    assert agree > 0.99
    assert result.covered_fraction > 0.9
    # Read with its fine texture (at half the GSD): the same picture and mask, the texture on the board's edges.
    textured = read_mosaic(result.path, grid=grid, texture=True)
    assert textured.texture is not None and textured.texture.shape == raster.valid.shape
    both = raster.valid & textured.valid
    assert both.sum() > 0.95 * raster.valid.sum()
    assert np.abs(textured.rgb[both].astype(int) - raster.rgb[both].astype(int)).mean() < 2.0
    to_line_m = 4.0 * np.minimum(np.abs(x / 4.0 - np.round(x / 4.0)), np.abs(y / 4.0 - np.round(y / 4.0)))
    on_edges, off_edges = both & (to_line_m < 0.1), both & (to_line_m > 1.0)
    assert np.median(textured.texture[on_edges]) > 3 * np.median(textured.texture[off_edges])


def test_overviews_average_the_valid_pixels_beneath_them(tmp_path: Path) -> None:
    """The COG's overview levels, built tile by tile while compositing, hold the mean of the valid
    full-resolution pixels each covers and are valid wherever any of them is (as GDAL's average)."""
    grid = _grid(half_m=40.0, gsd_m=0.05)  # 1600 px: levels 2× and 4×, and ground no frame sees
    frames = [_frame("a", -10, -8), _frame("b", 10, -8, yaw=12.0), _frame("c", -10, 8, yaw=-7.0)]
    result = build_mosaic(frames, grid, path=tmp_path / "m.tif", tile_px=256, profile="deflate", register=False)
    with rasterio.open(result.path) as src:
        assert src.overviews(1) == [2, 4]
        full = src.read().astype(np.float64)
        valid = src.read_masks(1) > 0
    assert 0.2 < valid.mean() < 0.9
    for level, f in enumerate((2, 4)):
        with rasterio.open(result.path, overview_level=level) as ovr:
            got, got_valid = ovr.read().astype(np.float64), ovr.read_masks(1) > 0
        h, w = got_valid.shape
        weight = np.zeros((h * f, w * f))
        weight[:grid.height_px, :grid.width_px] = valid
        total = np.zeros((3, h * f, w * f))
        total[:, :grid.height_px, :grid.width_px] = full * valid
        n = weight.reshape(h, f, w, f).sum(axis=(1, 3))
        mean = total.reshape(3, h, f, w, f).sum(axis=(2, 4)) / np.maximum(n, 1)
        assert np.array_equal(got_valid, n > 0)
        assert np.abs(got - mean)[:, n > 0].max() <= 1.0


def test_frames_without_pose_are_skipped_with_a_reason(tmp_path: Path) -> None:
    result = build_mosaic([_frame("a", 0, 0), _frame("nopose", 5, 5, pose=False)], _grid(),
                          path=tmp_path / "m.tif", register=False)
    assert result.frames_used == ("a",)
    assert [(s.frame_id, "no pose" in s.reason) for s in result.skipped] == [("nopose", True)]


@pytest.mark.parametrize("frames", [[], [_frame("nopose", 0, 0, pose=False)], [_frame("far", 5000, 0)]])
def test_no_usable_frames_is_a_clear_error(frames: list[MosaicFrame], tmp_path: Path) -> None:
    with pytest.raises(NoUsableFrames, match="no usable frames"):
        build_mosaic(frames, _grid(), path=tmp_path / "m.tif")


def test_frame_with_wrong_image_size_names_it(tmp_path: Path) -> None:
    bad = MosaicFrame(frame_id="odd", pose=_frame("x", 0, 0).pose, camera=CAMERA,
                      load=lambda: np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(InvalidInput, match="odd"):
        build_mosaic([bad], _grid(), path=tmp_path / "m.tif", register=False)


def test_registration_corrects_a_pose_error_against_a_reference(tmp_path: Path) -> None:
    """A frame whose reported position is 1.5 m off lands in place once registered to the previous mosaic."""
    grid = _grid()
    truth = _frame("a", 0, 0)
    reference = build_mosaic([truth], grid, path=tmp_path / "ref.tif", register=False).path
    wrong_pose = GeoPose(*(float(v) for v in PROJ.to_lonlat(*(np.array(PROJ.to_metric(truth.pose.lon, truth.pose.lat))
                                                              + np.array([1.5, -1.0])))),
                         altitude_m=truth.pose.altitude_m)
    shifted = MosaicFrame(frame_id="a", pose=wrong_pose, camera=CAMERA, load=truth.load)
    raw = read_mosaic(build_mosaic([shifted], grid, path=tmp_path / "raw.tif", register=False).path, grid=grid)
    fixed = read_mosaic(build_mosaic([shifted], grid, path=tmp_path / "fix.tif", reference=reference).path, grid=grid)
    # Registered from a reduced decode (as a JPEG gives it), the full image is loaded only to composite.
    full_loads = []

    def load() -> np.ndarray:
        full_loads.append(1)
        return truth.load()

    def load_reduced(n: int) -> np.ndarray:
        rgb = truth.load()
        return cv2.resize(rgb, (rgb.shape[1] // n, rgb.shape[0] // n), interpolation=cv2.INTER_AREA)

    reduced = MosaicFrame(frame_id="a", pose=wrong_pose, camera=CAMERA, load=load, load_reduced=load_reduced)
    fixed_reduced = read_mosaic(build_mosaic([reduced], grid, path=tmp_path / "fixr.tif", reference=reference).path,
                                grid=grid)
    assert len(full_loads) == 1
    ref = read_mosaic(reference, grid=grid)
    both = ref.valid & raw.valid & fixed.valid

    def error(r: np.ndarray) -> float:
        return float(np.mean(np.abs(r[both].astype(float) - ref.rgb[both].astype(float))))

    assert error(fixed.rgb) < 0.3 * error(raw.rgb)
    assert error(fixed_reduced.rgb) < 0.3 * error(raw.rgb)


def test_crop_jpeg_of_a_window(tmp_path: Path) -> None:
    grid = _grid()
    path = build_mosaic([_frame("a", 0, 0)], grid, path=tmp_path / "m.tif", register=False).path
    x0, y0, _, _ = grid.bounds_m
    data = read_crop_jpeg(path, bounds_m=(x0 + 20, y0 + 20, x0 + 30, y0 + 30), epsg=grid.epsg, max_px=64)
    assert data is not None and data[:2] == b"\xff\xd8"
    assert read_crop_jpeg(path, bounds_m=(x0 - 500, y0 - 500, x0 - 400, y0 - 400), epsg=grid.epsg) is None


def _speckled(camera: CameraModel, pose: GeoPose) -> np.ndarray:
    """What a camera sees of a ground of random blotches (one to a few metres, never repeating): alignable anywhere."""
    from dockpatrol.camera import pixels_to_ground

    cx, cy = (float(v) for v in PROJ.to_metric(LON, LAT))
    rng = np.random.default_rng(5)
    noise = rng.uniform(0, 255, (200, 440)).astype(np.float32)
    lattice = cv2.GaussianBlur(noise, (0, 0), 1.5) + 3.0 * cv2.GaussianBlur(noise, (0, 0), 5.0)
    u, v = np.meshgrid(np.arange(camera.width_px) + 0.5, np.arange(camera.height_px) + 0.5)
    x, y = pixels_to_ground(camera, pose.to_metric(PROJ), u, v)
    # Lattice of 0.5 m from 40 m west and 50 m north of the centre.
    gray = cv2.remap(lattice, ((x - cx + 40.0) / 0.5).astype(np.float32), ((cy + 50.0 - y) / 0.5).astype(np.float32),
                     cv2.INTER_LINEAR)
    gray = cv2.normalize(gray, None, 0, 255, cv2.NORM_MINMAX)
    return np.repeat(gray.astype(np.uint8)[..., None], 3, axis=2)


def test_a_patrol_registered_without_reference_closes_its_seams_near_the_truth() -> None:
    """Five frames in a row, each reported with its own GNSS and yaw error (the first 2.5° off): aligned
    pairwise and solved together with the poses as the prior, neighbours agree at their seams to
    centimetres and every frame ends nearer the truth than half the reported poses' mean error."""
    from dockpatrol.camera import ground_to_pixels
    from vision.mosaic import place_frames, register_frames

    cx, cy = (float(v) for v in PROJ.to_metric(LON, LAT))
    altitude = CAMERA.altitude_for_gsd_m(0.1)
    errors = [(1.0, -0.5, 2.5), (-0.8, 0.6, -1.0), (0.5, 1.0, 0.5), (-1.0, -0.7, -1.5), (0.7, 0.3, 1.0)]
    truths, frames = [], []
    for k, (ex, ey, eyaw) in enumerate(errors):
        x = cx + 30.0 * k
        truth = GeoPose(*(float(v) for v in PROJ.to_lonlat(x, cy)), altitude_m=altitude)
        reported = GeoPose(*(float(v) for v in PROJ.to_lonlat(x + ex, cy + ey)), altitude_m=altitude, yaw_deg=eyaw)
        rgb = _speckled(CAMERA, truth)
        truths.append(truth.to_metric(PROJ))
        frames.append(MosaicFrame(frame_id=str(k), pose=reported, camera=CAMERA, load=lambda rgb=rgb: rgb))
    grid = MosaicGrid.for_bounds(epsg=PROJ.epsg, bounds_m=(cx - 25, cy - 20, cx + 145, cy + 20), gsd_m=0.1)
    placed, skipped = place_frames(frames, grid)
    assert not skipped
    registered = register_frames(placed, grid)

    def placement_error_m(k: int, x_m: float, y_m: float) -> np.ndarray:
        """Where frame k, as registered, puts the ground point (x, y), minus (x, y)."""
        u, v = ground_to_pixels(CAMERA, truths[k], np.array([x_m]), np.array([y_m]))
        q = np.linalg.solve(registered[k].ground_to_px, np.array([u[0] - 0.5, v[0] - 0.5, 1.0]))
        col, row = q[0] / q[2], q[1] / q[2]
        return np.array([grid.west_m + (col + 0.5) * grid.gsd_m - x_m, grid.north_m - (row + 0.5) * grid.gsd_m - y_m])

    for k in range(4):  # the seam between frames k and k+1 lies 15 m east of frame k's centre
        for dy in (-10.0, 0.0, 10.0):
            seam = (cx + 30.0 * k + 15.0, cy + dy)
            assert np.hypot(*(placement_error_m(k, *seam) - placement_error_m(k + 1, *seam))) < 0.15
    centre_errors = [float(np.hypot(*placement_error_m(k, cx + 30.0 * k, cy))) for k in range(5)]
    reported_mean = float(np.mean([np.hypot(ex, ey) for ex, ey, _ in errors]))
    assert max(centre_errors) < 0.5 * reported_mean, centre_errors


def test_a_dense_survey_aligns_each_frame_with_its_line_and_cross_line_neighbours() -> None:
    """Lines 65 % side overlap apart, frames 75 % along a line (the planner's survey): each frame is
    paired with the next frame on its line and the frames beside it on the next lines, not with the
    dozen others it also overlaps a little."""
    from types import SimpleNamespace

    from vision.mosaic import _pairs_to_align

    lines, shots, w, h = 4, 8, 100, 80
    at = {(line, shot): line * shots + shot for line in range(lines) for shot in range(shots)}
    views = [SimpleNamespace(box=(35 * line, 20 * shot, 35 * line + w, 20 * shot + h)) for line, shot in at]
    pairs = set(_pairs_to_align(views, per_frame=4))
    along = {(at[(ln, s)], at[(ln, s + 1)]) for ln in range(lines) for s in range(shots - 1)}
    across = {(at[(ln, s)], at[(ln + 1, s)]) for ln in range(lines - 1) for s in range(shots)}
    assert along | across <= pairs
    overlapping = sum(1 for a in views for b in views if a is not b and abs(a.box[0] - b.box[0]) < w
                      and abs(a.box[1] - b.box[1]) < h) // 2
    assert len(pairs) < 0.4 * overlapping
    far = [(i, j) for i, j in pairs if abs(views[i].box[0] - views[j].box[0]) > 35]
    assert not far, "frames two lines apart overlap only 30 %"
