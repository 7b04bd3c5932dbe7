"""Camera geometry from tags: each source, their order when tags disagree, and georeferencing with it."""

from __future__ import annotations

import dataclasses
import io
import math
import re

import numpy as np
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from dockpatrol.camera import CameraModel
from vision.ingest import CameraSource, FrameOptions, IngestedImage, ingest_bytes, read_jpeg_meta
from vision.ingest.exif import ImageMeta
from vision.ingest.intrinsics import resolve_camera


def hfov(sensor_width_mm: float, focal_mm: float) -> float:
    return math.degrees(2 * math.atan(sensor_width_mm / 2 / focal_mm))


M3E_HFOV = hfov(17.3, 12.29)
#: width-based reading of a 24 mm equivalent: 36 mm across the image width
WIDTH_35MM_24 = hfov(36.0, 24.0)


def meta(**tags) -> ImageMeta:
    return ImageMeta(width_px=4000, height_px=3000, **tags)


@pytest.mark.parametrize(
    ("tags", "source", "want_hfov"),
    [
        # every tag present and disagreeing: DJI's per-unit calibration wins
        ({"calibrated_focal_px": 2900.0, "hfov_deg": 60.0, "focal_length_mm": 8.8, "focal_plane_x_px_per_mm": 4000 / 13.2,
          "make": "DJI", "model": "M3E", "focal_35mm_mm": 24.0}, CameraSource.XMP_CALIBRATED,
         math.degrees(2 * math.atan(2000 / 2900))),
        ({"hfov_deg": 60.0, "focal_length_mm": 8.8, "focal_plane_x_px_per_mm": 4000 / 13.2, "focal_35mm_mm": 24.0},
         CameraSource.XMP_STATED, 60.0),
        # the focal plane says a 13.2 mm sensor, the table says this model has 17.3 mm: the file's own tags win
        ({"focal_length_mm": 8.8, "focal_plane_x_px_per_mm": 4000 / 13.2, "make": "DJI", "model": "M3E",
          "focal_35mm_mm": 24.0}, CameraSource.FOCAL_PLANE, hfov(13.2, 8.8)),
        # a file resized to 4000 px from a 5472 px readout: the resolution refers to PixelXDimension
        ({"focal_length_mm": 8.8, "focal_plane_x_px_per_mm": 5472 / 13.2, "exif_width_px": 5472},
         CameraSource.FOCAL_PLANE, hfov(13.2, 8.8)),
        ({"focal_length_mm": 12.29, "make": "DJI ", "model": "m3e", "focal_35mm_mm": 24.0}, CameraSource.SENSOR_TABLE,
         M3E_HFOV),
        ({"make": "DJI", "model": "FC6310R", "focal_35mm_mm": 24.0}, CameraSource.SENSOR_TABLE, hfov(13.2, 8.8)),
        ({"make": "Acme", "model": "X1", "focal_35mm_mm": 24.0}, CameraSource.FOCAL_35MM, WIDTH_35MM_24),
        # implausible calibration (a 1 px focal length) is skipped, not believed
        ({"calibrated_focal_px": 1.0, "focal_35mm_mm": 24.0}, CameraSource.FOCAL_35MM, WIDTH_35MM_24),
        ({}, CameraSource.DEFAULT, 73.7),
    ],
)
def test_best_source_wins(tags: dict, source: CameraSource, want_hfov: float) -> None:
    resolved = resolve_camera(meta(**tags))
    assert resolved.source is source
    assert resolved.camera.hfov_deg == pytest.approx(want_hfov, abs=1e-6)
    assert resolved.camera.source == source.value
    assert (resolved.camera.width_px, resolved.camera.height_px) == (4000, 3000)


def test_disagreement_is_reported_and_the_override_beats_every_tag() -> None:
    tags = meta(focal_length_mm=8.8, focal_plane_x_px_per_mm=4000 / 13.2, focal_35mm_mm=24.0)
    resolved = resolve_camera(tags)
    assert set(resolved.candidates_hfov_deg) == {CameraSource.FOCAL_PLANE, CameraSource.FOCAL_35MM}
    assert resolved.disagreement == pytest.approx((36 / 24) / (13.2 / 8.8) - 1, abs=1e-9)
    dock = CameraModel(1000, 750, 65.0, "dock-7 calibration")
    chosen = resolve_camera(tags, override=dock)
    assert chosen.source is CameraSource.OVERRIDE
    assert (chosen.camera.width_px, chosen.camera.hfov_deg, chosen.camera.name) == (4000, 65.0, "dock-7 calibration")
    assert resolve_camera(meta(), default=dock).camera.hfov_deg == 65.0


def test_35mm_equivalent_is_read_width_based_not_diagonal() -> None:
    """OpenSfM/ODM read it across the width; the diagonal reading would be ~4 % narrower on 4:3."""
    got = resolve_camera(meta(focal_35mm_mm=24.0)).camera
    diagonal = math.degrees(2 * math.atan(math.hypot(36, 24) * 0.8 / 2 / 24))
    assert got.hfov_deg == pytest.approx(WIDTH_35MM_24)
    assert got.focal_px / CameraModel(4000, 3000, diagonal).focal_px == pytest.approx(0.96, abs=0.01)


def exif_optics(*, focal_mm: float | None, xres: float | None, unit: int | None, focal35: int | None = None,
                make: str = "Acme", model: str = "X1", exif_width: int | None = None) -> bytes:
    exif = Image.Exif()
    exif[271], exif[272] = make, model
    sub: dict[int, object] = {}
    if focal_mm is not None:
        sub[0x920A] = IFDRational(round(focal_mm * 1000), 1000)
    if xres is not None:
        sub[0xA20E] = IFDRational(round(xres * 1000), 1000)
    if unit is not None:
        sub[0xA210] = unit
    if focal35 is not None:
        sub[0xA405] = focal35
    if exif_width is not None:
        sub[0xA002] = exif_width
    exif[0x8769] = sub
    return exif.tobytes()


@pytest.mark.parametrize(("xres", "unit"), [(4000 / 13.2 * 25.4, 2), (4000 / 13.2 * 25.4, None), (4000 / 1.32, 3),
                                            (4000 / 13.2, 4)])
def test_focal_plane_tags_are_read_in_their_unit(xres: float, unit: int | None) -> None:
    buf = io.BytesIO()
    rgb = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(buf, "JPEG", exif=exif_optics(focal_mm=8.8, xres=xres, unit=unit, exif_width=4000))
    resolved = resolve_camera(read_jpeg_meta(buf.getvalue()))
    assert resolved.source is CameraSource.FOCAL_PLANE
    assert resolved.camera.hfov_deg == pytest.approx(hfov(13.2, 8.8), abs=0.01)
    assert resolved.camera.width_px == 400  # a 1/10 preview keeps the optics


def test_georeference_with_a_camera_stated_only_by_focal_length_and_sensor_size(twin_world) -> None:
    """A frame rendered with a known camera whose EXIF states it only through focal length + sensor
    width (no stated FOV, no 35 mm equivalent): median error under 0.25 m at 60 m AGL."""
    camera_mod = pytest.importorskip("sim.camera")
    from sim.evaluate import pixel_georef_errors, twin_views
    from sim.jpeg_meta import dji_xmp

    sensor_mm, focal_mm = 13.2, 10.0
    truth_cam = CameraModel(1200, 900, hfov(sensor_mm, focal_mm), "known")
    errors: list[float] = []
    default_errors: list[float] = []
    for i, view in enumerate(twin_views(twin_world, frames=4, seed=21, camera=truth_cam)):
        frame = camera_mod.render_frame(twin_world, truth_cam, view.pose, view.at, seed=i, pose_noise=False)
        xmp = re.sub(rb'\s*dockpatrol:HfovDegree="[^"]*"', b"",
                     dji_xmp(frame.reported_pose, absolute_altitude_m=60.0, camera=truth_cam))
        buf = io.BytesIO()
        Image.fromarray(frame.rgb).save(buf, "JPEG", quality=90, xmp=xmp,
                                        exif=exif_optics(focal_mm=focal_mm, xres=1200 / sensor_mm, unit=4))
        item = ingest_bytes(buf.getvalue(), source=f"f{i}.jpg", options=FrameOptions(require_pose=True))
        assert isinstance(item, IngestedImage) and item.camera.source is CameraSource.FOCAL_PLANE
        assert item.pose is not None and item.pose.altitude_m == pytest.approx(60.0, abs=0.01)
        errors += pixel_georef_errors(twin_world, dataclasses.replace(frame, camera=item.camera.camera), item.pose,
                                      known_heights=True)
        # the same frame read with the generic default optics: the error this issue was about
        default_errors += pixel_georef_errors(twin_world, dataclasses.replace(frame, camera=CameraModel(1200, 900)),
                                              item.pose, known_heights=True)
    assert len(errors) >= 3
    assert float(np.median(errors)) < 0.25
    assert float(np.median(default_errors)) > 0.5
