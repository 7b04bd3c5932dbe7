"""Surface change on synthetic mosaics and object change on finding outlines: what changed is found, light is not."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import shapely
import shapely.affinity
from shapely.geometry import mapping, shape

from dockpatrol.errors import InvalidInput
from dockpatrol.geo import LocalProjection
from dockpatrol.taxonomy import Category
from vision.change import (
    SHADOW_TINT,
    ChangeEvent,
    ChangeKind,
    ChangeSettings,
    SurfaceClass,
    TrackedObject,
    _region_confirms,
    _shadow_tint,
    analysis_grid,
    compare_objects,
    detect_surface_changes,
)
from vision.mosaic import MosaicGrid, MosaicRaster, fine_texture

EPSG = 32649
GRID = MosaicGrid(epsg=EPSG, west_m=720000.0, north_m=2548000.0, gsd_m=0.2, width_px=500, height_px=500)
GRASS = (96, 124, 62)
SOIL = (168, 120, 80)
WATER = (58, 84, 80)
ROOF = (150, 160, 175)


def _scene(seed: int = 0) -> np.ndarray:
    """Grass with texture, a road, a pond: enough structure for alignment and shadows to matter."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (500, 500)).astype(np.float32), (0, 0), 2.0)
    rgb = np.empty((500, 500, 3), np.float32)
    rgb[:] = GRASS
    rgb *= (1.0 + 0.5 * noise)[..., None]
    rgb[:, 300:340] = (110, 110, 112)
    cv2.circle(rgb, (120, 380), 60, WATER, -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _raster(rgb: np.ndarray, valid: np.ndarray | None = None) -> MosaicRaster:
    return MosaicRaster(rgb=rgb, valid=np.ones(rgb.shape[:2], bool) if valid is None else valid, grid=GRID)


def _relight(rgb: np.ndarray, *, gains: tuple[float, float, float], haze: float,
             shadow: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Another hour and weather: per-band gain, haze, optionally a blue-tinted shadow rectangle (x0, y0, x1, y1)."""
    out = rgb.astype(np.float32) * np.array(gains, np.float32)
    if shadow is not None:
        x0, y0, x1, y1 = shadow
        out[y0:y1, x0:x1] *= np.array([0.55, 0.57, 0.64], np.float32)
    out = out * (1 - haze) + 200.0 * haze
    return np.clip(out, 0, 255).astype(np.uint8)


def _with(rgb: np.ndarray, colour: tuple[int, int, int], box: tuple[int, int, int, int], *,
          texture_seed: int = 5, ellipse: bool = False) -> np.ndarray:
    """``rgb`` with a textured patch of ``colour`` filling the box (or the ellipse inscribed in it)."""
    out = rgb.copy()
    x0, y0, x1, y1 = box
    rng = np.random.default_rng(texture_seed)
    patch = np.array(colour, np.float32) * (1 + 0.05 * rng.normal(0, 1, (y1 - y0, x1 - x0, 1)))
    inside = np.ones((y1 - y0, x1 - x0), bool)
    if ellipse:
        yy, xx = np.mgrid[0:y1 - y0, 0:x1 - x0]
        inside = ((xx + 0.5 - (x1 - x0) / 2) / ((x1 - x0) / 2)) ** 2 + ((yy + 0.5 - (y1 - y0) / 2) / ((y1 - y0) / 2)) ** 2 <= 1
    region = out[y0:y1, x0:x1]
    region[inside] = np.clip(patch, 0, 255).astype(np.uint8)[inside]
    return out


def _box_m(box: tuple[int, int, int, int]) -> shapely.Polygon:
    x0, y0, x1, y1 = box
    t = GRID.transform
    return shapely.box(t.c + x0 * 0.2, t.f - y1 * 0.2, t.c + x1 * 0.2, t.f - y0 * 0.2)


def _metric(event: ChangeEvent) -> shapely.Geometry:
    return LocalProjection(EPSG).geometry_to_metric(shape(event.geometry))


def test_illumination_and_shadow_only_pair_changes_nothing() -> None:
    before = _scene()
    after = _relight(before, gains=(1.15, 1.0, 0.85), haze=0.08, shadow=(150, 40, 260, 120))
    result = detect_surface_changes(_raster(before), _raster(after))
    assert result.events == ()
    assert result.compared_area_m2 > 0.9 * 100 * 100


def test_a_shadow_deeper_than_the_usual_tint_is_still_taken_for_light() -> None:
    """A shadow keeps 1 − s·share of each band (the sky lights the shade bluer). Its tint is fitted to
    how much darker the region is, so a deep shadow on orange soil is light, while the same darkening
    to a neutral grey is a change."""
    share = np.array([1.0, 0.95, 0.8])
    rng = np.random.default_rng(0)
    soil = np.array([200.0, 110.0, 40.0]) * (1 + 0.03 * rng.normal(0, 1, (400, 1)))
    shaded = soil * (1 - 0.66 * share)
    grey = np.full_like(soil, shaded.mean())
    texture = rng.normal(0, 0.05, 400)
    assert not _region_confirms(soil, shaded, texture, texture, ChangeSettings())
    assert _region_confirms(soil, grey, texture, texture, ChangeSettings())
    # The fitted tint at the usual depth (s = 0.45) is the fixed one.
    assert _shadow_tint(float(np.log((1 - 0.45 * share).mean()))) == pytest.approx(SHADOW_TINT, abs=0.01)


@pytest.mark.parametrize(("colour", "box", "ellipse", "expected"), [
    (SOIL, (60, 60, 110, 100), True, SurfaceClass.BARE_SOIL_INCREASE),
    (ROOF, (380, 60, 440, 95), False, SurfaceClass.NEW_STRUCTURE),
    ((150, 190, 200), (95, 355, 145, 405), True, SurfaceClass.WATER_COLOUR_CHANGE),
    ((118, 112, 106), (180, 200, 240, 260), True, SurfaceClass.VEGETATION_LOSS),
])
def test_a_new_surface_is_found_in_place_and_classified(colour: tuple, box: tuple, ellipse: bool,
                                                        expected: SurfaceClass) -> None:
    before = _scene()
    after = _relight(_with(before, colour, box, ellipse=ellipse), gains=(1.1, 1.0, 0.9), haze=0.05)
    result = detect_surface_changes(_raster(before), _raster(after))
    assert len(result.events) == 1, [(e.surface_class, e.area_m2) for e in result.events]
    event = result.events[0]
    truth = _box_m(box)
    if ellipse:
        truth = shapely.affinity.scale(truth.centroid.buffer(1.0, 64), (box[2] - box[0]) * 0.1, (box[3] - box[1]) * 0.1)
    found = _metric(event)
    assert found.intersection(truth).area > 0.7 * truth.area
    assert event.area_m2 == pytest.approx(truth.area, rel=0.35)
    assert event.kind == ChangeKind.SURFACE_CHANGE and event.surface_class == expected
    assert 0 < event.score <= 1 and event.crop_bounds_m is not None


def test_minimum_area_is_tunable() -> None:
    before = _scene()
    box = (60, 60, 68, 68)  # 1.6 m × 1.6 m = 2.56 m²
    after = _with(before, SOIL, box)
    assert detect_surface_changes(_raster(before), _raster(after)).events == ()
    small = detect_surface_changes(_raster(before), _raster(after), settings=ChangeSettings(min_area_m2=1.0))
    assert len(small.events) == 1


def test_a_long_change_thicker_than_a_misregistered_edge_is_no_sliver() -> None:
    """A 30 m × 5 m strip of new soil is long, but far thicker than an edge a metre off: it is a change."""
    before = _scene()
    band = (100, 150, 250, 175)
    result = detect_surface_changes(_raster(before), _raster(_with(before, SOIL, band)))
    assert len(result.events) == 1
    assert _metric(result.events[0]).intersection(_box_m(band)).area > 0.7 * _box_m(band).area
    # As long but only 1.6 m thick: the strip a misregistered edge leaves, not reported.
    assert detect_surface_changes(_raster(before), _raster(_with(before, SOIL, (100, 60, 250, 68)))).events == ()


def test_a_residual_shift_is_aligned_away() -> None:
    before = _scene()
    shifted = np.roll(before, (4, -3), axis=(0, 1))  # 0.8 m south, 0.6 m west
    valid = np.ones((500, 500), bool)
    valid[:4], valid[:, -3:] = False, False
    result = detect_surface_changes(_raster(before), _raster(shifted, valid))
    assert result.events == ()
    assert result.shift_m == pytest.approx((0.6, 0.8), abs=0.15)


def _frame_off(rgb: np.ndarray, *, rows: int, dx_px: int) -> np.ndarray:
    """``rgb`` with its first ``rows`` rows (one frame of a pose-only mosaic) landed ``dx_px`` east."""
    out = rgb.copy()
    out[:rows] = np.roll(rgb[:rows], dx_px, axis=1)
    return out


def test_a_frame_that_landed_metres_off_is_registered_locally_and_a_change_in_it_still_found() -> None:
    scene = _scene()
    for x0 in (150, 250, 380):  # roofs in the frame that lands off
        scene[120:170, x0:x0 + 50] = (186, 184, 180)
    before = scene
    after = _frame_off(scene, rows=250, dx_px=20)  # 4 m: beyond the tolerance and the global residual shift
    assert len(detect_surface_changes(_raster(before), _raster(after),
                                      settings=ChangeSettings(max_local_shift_m=0.0)).events) >= 1
    assert detect_surface_changes(_raster(before), _raster(after)).events == ()
    box = (60, 60, 110, 100)
    changed = detect_surface_changes(_raster(before), _raster(_frame_off(_with(scene, SOIL, box), rows=250, dx_px=20)))
    assert len(changed.events) == 1
    found = _metric(changed.events[0])
    assert found.intersection(_box_m(box)).area > 0.5 * _box_m(box).area


def _fine_roof(*, sheeting: bool) -> np.ndarray:
    """A flat grey roof on grass at 0.1 m (1000 × 1000 px), optionally with ribbed sheeting of the roof's own
    mean colour on part of it (ribs 0.25 m apart, crests and pans ±15 %)."""
    rng = np.random.default_rng(3)
    rgb = np.empty((1000, 1000, 3), np.float32)
    rgb[:] = GRASS
    rgb *= (1.0 + 0.3 * cv2.GaussianBlur(rng.normal(0, 1, (1000, 1000)).astype(np.float32), (0, 0), 3.0))[..., None]
    roof = np.array((178, 180, 176), np.float32) * (1 + 0.02 * rng.normal(0, 1, (400, 500, 1)))
    rgb[300:700, 250:750] = cv2.GaussianBlur(roof, (0, 0), 1.5)
    if sheeting:
        ribs = 1.0 + 0.15 * np.sign(np.sin(2 * np.pi * (np.arange(200) + 0.5) * 0.1 / 0.25))
        rgb[380:620, 350:550] = np.array((178, 180, 176), np.float32) * ribs[None, :, None]
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _with_texture(fine_rgb: np.ndarray) -> MosaicRaster:
    """The 0.1 m picture as ``read_mosaic(texture=True)`` gives it on the 0.2 m grid."""
    size = (fine_rgb.shape[1] // 2, fine_rgb.shape[0] // 2)
    texture = cv2.resize(fine_texture(fine_rgb, gsd_m=0.1), size, interpolation=cv2.INTER_AREA)
    rgb = cv2.resize(fine_rgb, size, interpolation=cv2.INTER_AREA)
    return MosaicRaster(rgb=rgb, valid=np.ones(rgb.shape[:2], bool), grid=GRID, texture=texture)


def test_sheeting_of_the_roofs_own_grey_is_found_by_its_texture_and_relit_sheeting_is_not() -> None:
    before, after = _fine_roof(sheeting=False), _fine_roof(sheeting=True)
    lit = {"gains": (0.8, 0.85, 0.95), "haze": 0.06, "shadow": (250, 300, 450, 700)}
    # Averaged onto the 0.2 m grid the ribs leave the roof's grey, which light alone could give.
    colours_only = [replace(_with_texture(rgb), texture=None) for rgb in (before, after)]
    assert detect_surface_changes(*colours_only).events == ()
    result = detect_surface_changes(_with_texture(before), _with_texture(_relight(after, **lit)))
    assert len(result.events) == 1, [(e.area_m2, e.surface_class) for e in result.events]
    sheeting = shapely.box(720000 + 35.0, 2548000 - 62.0, 720000 + 55.0, 2548000 - 38.0)
    assert _metric(result.events[0]).intersection(sheeting).area > 0.7 * sheeting.area
    # The same sheeting under other light and a moved shadow is no change.
    assert detect_surface_changes(_with_texture(after), _with_texture(_relight(after, **lit))).events == ()


def test_disjoint_mosaics_are_not_compared_and_nothing_is_made_up() -> None:
    before = _raster(_scene(), np.zeros((500, 500), bool))
    result = detect_surface_changes(before, _raster(_scene(1)))
    assert result.events == () and not result.compared
    assert "do not overlap" in result.not_compared[0]


def test_mosaics_on_different_grids_are_refused() -> None:
    other = MosaicRaster(rgb=_scene(), valid=np.ones((500, 500), bool),
                         grid=MosaicGrid(epsg=EPSG, west_m=720010.0, north_m=2548000.0, gsd_m=0.2, width_px=500,
                                         height_px=500))
    with pytest.raises(InvalidInput, match="different grids"):
        detect_surface_changes(_raster(_scene()), other)


def test_analysis_grid_is_the_common_extent_or_none() -> None:
    a = MosaicGrid(epsg=EPSG, west_m=0.0, north_m=100.0, gsd_m=0.05, width_px=2000, height_px=2000)
    b = MosaicGrid(epsg=EPSG, west_m=50.0, north_m=120.0, gsd_m=0.03, width_px=3000, height_px=3000)
    grid = analysis_grid(a, b, gsd_m=0.2)
    assert grid is not None and grid.bounds_m == pytest.approx((50.0, 30.0, 100.0, 100.0))
    far = MosaicGrid(epsg=EPSG, west_m=5000.0, north_m=100.0, gsd_m=0.05, width_px=100, height_px=100)
    assert analysis_grid(a, far, gsd_m=0.2) is None


@pytest.mark.parametrize(("name", "value"), [("analysis_gsd_m", 0.0), ("min_area_m2", -1.0),
                                             ("chroma_threshold", float("nan")), ("texture_ratio", 1.0)])
def test_bad_settings_name_the_setting(name: str, value: float) -> None:
    with pytest.raises(InvalidInput, match=name):
        ChangeSettings(**{name: value})


# -- object change ----------------------------------------------------------------------------

PROJ = LocalProjection(EPSG)


def _obj(cls: str, x: float, y: float, w: float, h: float, score: float = 0.8) -> TrackedObject:
    poly = PROJ.geometry_to_lonlat(shapely.box(720000 + x, 2547000 + y, 720000 + x + w, 2547000 + y + h))
    return TrackedObject(class_name=cls, geometry=mapping(poly), score=score, finding_ids=(f"{cls}-{x}",))


def test_objects_appear_vanish_grow_and_persist() -> None:
    before = [_obj("steel_shed", 0, 0, 10, 5), _obj("garbage_dump", 50, 0, 4, 4), _obj("bare_soil", 100, 0, 10, 10)]
    after = [_obj("steel_shed", 0.5, 0.3, 10, 5), _obj("garbage_dump", 49, -1, 6, 6),
             _obj("smoke", 200, 0, 8, 8)]
    result = compare_objects(before, after)
    kinds = sorted((str(e.kind), e.class_name) for e in result.events)
    assert kinds == [("appeared", "smoke"), ("grew", "garbage_dump"), ("vanished", "bare_soil")]
    assert [m.before.class_name for m in result.persisted] == ["steel_shed"]
    grew = next(e for e in result.events if e.kind == ChangeKind.GREW)
    assert grew.detail["before_area_m2"] == pytest.approx(16.0, rel=0.01) and grew.area_m2 == pytest.approx(36, rel=0.01)
    assert grew.category == Category.POLLUTION
    # Fire changes outrank pollution ones of similar size and score.
    assert result.events[0].class_name == "smoke"


def test_objects_of_other_classes_do_not_match() -> None:
    result = compare_objects([_obj("steel_shed", 0, 0, 10, 5)], [_obj("construction_site", 0, 0, 10, 5)])
    assert sorted(str(e.kind) for e in result.events) == ["appeared", "vanished"]


def test_objects_outside_the_compared_ground_are_not_changes() -> None:
    seen = PROJ.geometry_to_lonlat(shapely.box(720000 - 5, 2547000 - 5, 720000 + 30, 2547000 + 30))
    result = compare_objects([_obj("steel_shed", 0, 0, 10, 5)], [_obj("smoke", 500, 500, 8, 8)], compared_lonlat=seen)
    assert [(str(e.kind), e.class_name) for e in result.events] == [("vanished", "steel_shed")]


def test_fingerprint_is_stable_and_tells_changes_apart() -> None:
    a = compare_objects([], [_obj("smoke", 0, 0, 8, 8)]).events[0]
    b = compare_objects([], [_obj("smoke", 0, 0, 8, 8)]).events[0]
    c = compare_objects([], [_obj("smoke", 20, 0, 8, 8)]).events[0]
    assert a.fingerprint == b.fingerprint != c.fingerprint
