"""Ingest: EXIF GPS + DJI XMP parsing, GeoTIFF, size/pixel limits, bombs and corrupt files."""

from __future__ import annotations

import io
import math
import struct
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.io import MemoryFile
from rasterio.transform import from_origin

from dockpatrol.errors import GeorefError, InvalidInput
from tests.unit.vision.bad_inputs import patched_dimensions
from vision.ingest import (
    CameraSource,
    ImageLimits,
    IngestedImage,
    IngestedOrtho,
    RejectedImage,
    RejectReason,
    ingest_bytes,
    ingest_file,
    parse_dji_xmp,
    read_jpeg_meta,
)

DJI_ATTR_XMP = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="DJI Meta Data" xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/"
   drone-dji:AbsoluteAltitude="+72.35" drone-dji:RelativeAltitude="+60.12"
   drone-dji:GimbalRollDegree="+0.00" drone-dji:GimbalYawDegree="-45.30" drone-dji:GimbalPitchDegree="-89.90"
   drone-dji:FlightRollDegree="+1.20" drone-dji:FlightYawDegree="-44.90" drone-dji:FlightPitchDegree="-2.30"/>
</rdf:RDF></x:xmpmeta>"""

DJI_ELEM_XMP = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description>
<drone-dji:RelativeAltitude>+45.5</drone-dji:RelativeAltitude><drone-dji:GimbalYawDegree>10</drone-dji:GimbalYawDegree>
<drone-dji:GimbalPitchDegree>-60</drone-dji:GimbalPitchDegree><drone-dji:GpsLatitude>23.0301</drone-dji:GpsLatitude>
<drone-dji:GpsLongtitude>113.1502</drone-dji:GpsLongtitude></rdf:Description></rdf:RDF></x:xmpmeta>"""


def dms(value: float) -> tuple[float, float, float]:
    d = int(value)
    m = int((value - d) * 60)
    return (float(d), float(m), round((value - d - m / 60) * 3600, 4))


def textured(size: tuple[int, int], *, seed: int = 0) -> np.ndarray:
    """A noisy RGB picture: the blank-image check refuses flat ones."""
    return np.random.default_rng(seed).integers(40, 200, (size[1], size[0], 3), dtype=np.uint8)


def make_jpeg(*, size=(64, 48), gps: tuple[float, float, float] | None = (113.15, 23.03, 72.35),
              xmp: bytes | None = DJI_ATTR_XMP, when="2026:01:05 11:30:00", offset: str | None = "+08:00",
              focal35: int | None = 24) -> bytes:
    img = Image.fromarray(textured(size))
    exif = Image.Exif()
    exif[271], exif[272] = "DJI", "M3E"
    if gps is not None:
        lon, lat, alt = gps
        exif[0x8825] = {1: "N" if lat >= 0 else "S", 2: dms(abs(lat)), 3: "E" if lon >= 0 else "W",
                        4: dms(abs(lon)), 5: 0, 6: alt}
    sub = {36867: when} if when else {}
    if offset:
        sub[36881] = offset
    if focal35:
        sub[41989] = focal35
    exif[0x8769] = sub
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), quality=90)
    data = buf.getvalue()
    if xmp is not None:
        payload = b"http://ns.adobe.com/xap/1.0/\x00" + xmp
        data = data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    return data


def test_dji_jpeg_pose_time_and_camera() -> None:
    out = ingest_bytes(make_jpeg(), source="DJI_0001.JPG")
    assert isinstance(out, IngestedImage) and out.rgb.shape == (48, 64, 3)
    meta = out.meta
    pose = meta.pose()
    assert pose.lon == pytest.approx(113.15, abs=1e-6) and pose.lat == pytest.approx(23.03, abs=1e-6)
    assert (pose.altitude_m, pose.yaw_deg, pose.pitch_deg) == (60.12, -45.3, -89.9)
    assert meta.gps_altitude_m == pytest.approx(72.35)
    assert meta.captured_at == datetime(2026, 1, 5, 3, 30, tzinfo=UTC)
    assert (meta.make, meta.model) == ("DJI", "M3E")
    cam = meta.camera()
    assert (cam.width_px, cam.height_px) == (64, 48)
    # a known DJI M3E: its 17.3 mm sensor behind the 12.29 mm lens beats the 35 mm equivalent
    assert cam.hfov_deg == pytest.approx(math.degrees(2 * math.atan(17.3 / 2 / 12.29)), abs=0.01)
    assert out.camera.source is CameraSource.SENSOR_TABLE and out.pose == pose
    assert out.size_bytes > 0 and len(out.sha256) == 64


def test_element_style_xmp_and_position_from_xmp() -> None:
    meta = read_jpeg_meta(make_jpeg(gps=None, xmp=DJI_ELEM_XMP, offset=None, focal35=None))
    pose = meta.pose()
    assert (pose.lon, pose.lat, pose.altitude_m, pose.yaw_deg, pose.pitch_deg) == (113.1502, 23.0301, 45.5, 10, -60)
    assert meta.captured_at == datetime(2026, 1, 5, 11, 30, tzinfo=UTC)  # no offset tag: taken as UTC
    # no focal length tag: the known camera's nominal lens
    assert meta.camera().hfov_deg == pytest.approx(math.degrees(2 * math.atan(17.3 / 2 / 12.29)), abs=0.01)


def test_missing_pose_fields_are_named() -> None:
    meta = read_jpeg_meta(make_jpeg(gps=None, xmp=None))
    with pytest.raises(GeorefError, match="GPS latitude, GPS longitude, relative altitude"):
        meta.pose()
    no_rel = read_jpeg_meta(make_jpeg(xmp=None))
    with pytest.raises(GeorefError, match="relative altitude"):
        no_rel.pose()
    assert no_rel.pose(dock_altitude_m=12.35).altitude_m == pytest.approx(60.0)
    assert no_rel.pose(dock_altitude_m=12.35).pitch_deg == -90.0  # no gimbal tag: nadir


def test_parse_dji_xmp_without_packet() -> None:
    assert parse_dji_xmp(b"\xff\xd8 no xmp here") == {}
    assert parse_dji_xmp(make_jpeg())["FlightYawDegree"] == "-44.90"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", RejectReason.UNSUPPORTED_TYPE),
        (b"GIF89a" + bytes(100), RejectReason.UNSUPPORTED_TYPE),
        (b"%PDF-1.7 not an image", RejectReason.UNSUPPORTED_TYPE),
        (b"\xff\xd8\xff\xe0" + bytes(64), RejectReason.CORRUPT),  # JPEG magic, garbage after
        (make_jpeg(size=(256, 256))[:400], RejectReason.CORRUPT),  # truncated inside the scan
        (b"II*\x00" + bytes(64), RejectReason.CORRUPT),  # TIFF magic, garbage after
    ],
)
def test_bad_files_are_rejected_with_quarantine_details(data: bytes, reason: RejectReason) -> None:
    with pytest.raises(RejectedImage) as err:
        ingest_bytes(data, source="upload.bin")
    e = err.value
    assert e.reason is reason and e.source == "upload.bin" and e.size_bytes == len(data) and len(e.sha256) == 64
    assert isinstance(e, InvalidInput) and str(e).startswith("upload.bin: ")


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = patched_dimensions(make_jpeg(), 60000, 60000)
    with pytest.raises(RejectedImage) as err:
        ingest_bytes(bomb, source="bomb.jpg")
    assert err.value.reason is RejectReason.TOO_MANY_PIXELS and "60000x60000" in str(err.value)


@pytest.mark.parametrize(
    ("limits", "reason"),
    [(ImageLimits(max_bytes=100), RejectReason.TOO_LARGE), (ImageLimits(max_pixels=1000), RejectReason.TOO_MANY_PIXELS)],
)
def test_limits(limits: ImageLimits, reason: RejectReason) -> None:
    with pytest.raises(RejectedImage) as err:
        ingest_bytes(make_jpeg(), source="a.jpg", limits=limits)
    assert err.value.reason is reason


def test_ingest_file_checks_size_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(make_jpeg())
    with pytest.raises(RejectedImage, match="limit is 10"):
        ingest_file(path, limits=ImageLimits(max_bytes=10))
    assert isinstance(ingest_file(path), IngestedImage)


def geotiff_bytes(*, dtype="uint8", count=3, crs="EPSG:32649", size=(40, 30), flat: bool = False) -> bytes:
    w, h = size
    rng = np.random.default_rng(0)
    values = np.full((count, h, w), 200) if flat else rng.integers(100, 220, (count, h, w))
    with MemoryFile() as mem:
        kwargs = {"driver": "GTiff", "width": w, "height": h, "count": count, "dtype": dtype}
        if crs:
            kwargs |= {"crs": crs, "transform": from_origin(700000, 2548000, 0.05, 0.05)}
        with mem.open(**kwargs) as dst:
            dst.write(values.astype(dtype))
        return mem.read()


def test_geotiff_ortho() -> None:
    out = ingest_bytes(geotiff_bytes(), source="ortho.tif")
    assert isinstance(out, IngestedOrtho) and out.rgb.shape == (30, 40, 3) and out.rgb.dtype == np.uint8
    lon, lat = out.georef.pixels_to_lonlat(np.array([0.0]), np.array([0.0]))
    assert 112 < lon[0] < 114 and 22 < lat[0] < 24
    grey16 = ingest_bytes(geotiff_bytes(dtype="uint16", count=1), source="g.tif")
    # values 100..219 in a 16-bit file: stretched by percentiles onto 0..255, not shifted to black by >> 8
    assert grey16.rgb.shape == (30, 40, 3) and grey16.rgb.min() == 0 and grey16.rgb.max() == 255
    assert grey16.stretch is not None and 100 <= grey16.stretch[0] < grey16.stretch[1] <= 219


@pytest.mark.parametrize(
    ("kwargs", "limits", "reason"),
    [
        ({"crs": None}, ImageLimits(), RejectReason.BAD_GEOREFERENCE),
        ({"dtype": "float32"}, ImageLimits(), RejectReason.UNSUPPORTED_TYPE),
        ({}, ImageLimits(max_ortho_pixels=100), RejectReason.TOO_MANY_PIXELS),
        ({"flat": True}, ImageLimits(), RejectReason.BLANK),
    ],
)
def test_bad_geotiffs(kwargs, limits, reason) -> None:
    with pytest.raises(RejectedImage) as err:
        ingest_bytes(geotiff_bytes(**kwargs), source="x.tif", limits=limits)
    assert err.value.reason is reason


def test_rasterio_is_importable_for_orthos() -> None:
    assert rasterio.__version__


def test_a_stored_frame_decodes_whole_or_reduced_and_a_truncated_one_not_at_all() -> None:
    """What the mosaic reads of a stored frame: the picture, or at 1/8 of each side for registration;
    anything but a whole JPEG gives None (the caller then ingests it again to learn why)."""
    from vision.ingest.jpeg import decode_ingested

    rng = np.random.default_rng(3)
    rgb = np.repeat(np.repeat(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), 16, axis=0), 16, axis=1)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
    small = decode_ingested(buf.getvalue(), 8)
    assert small is not None and small.shape == (60, 80, 3)
    full = decode_ingested(buf.getvalue())
    pillow = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    assert full is not None and full.shape == rgb.shape and np.abs(full.astype(float) - pillow).mean() < 1.0
    block_means = rgb.reshape(60, 8, 80, 8, 3).mean(axis=(1, 3))
    assert np.abs(small.astype(float) - block_means).mean() < 4.0
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, format="PNG")
    assert decode_ingested(png.getvalue(), 8) is None
    assert decode_ingested(buf.getvalue()[:200], 8) is None
    assert decode_ingested(buf.getvalue()[: len(buf.getvalue()) // 2]) is None  # truncated: no end marker
