"""Uploaded imagery in: JPEG frames with EXIF GPS + DJI XMP pose, GeoTIFF orthophotos.

Every check runs before pixels are decoded (type sniffed from magic bytes, byte size, declared
pixel count against a decompression-bomb limit). A rejected file raises `RejectedImage`, which
carries the reason, digest and size the pipeline needs to keep the file in quarantine.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import struct
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path

import numpy as np

from dockpatrol.camera import CameraModel, GeoPose
from dockpatrol.errors import GeorefError, InvalidInput
from vision.georef import OrthoGeoref

#: 35 mm film diagonal; "35 mm equivalent" focal lengths are defined against it.
_FILM_DIAGONAL_MM = math.hypot(36.0, 24.0)


class RejectReason(StrEnum):
    UNSUPPORTED_TYPE = "unsupported_type"
    TOO_LARGE = "too_large"
    TOO_MANY_PIXELS = "too_many_pixels"
    CORRUPT = "corrupt"
    BAD_GEOREFERENCE = "bad_georeference"


class RejectedImage(InvalidInput):
    """An upload that will not be analysed; the pipeline quarantines the raw bytes under ``sha256``."""

    title = "Rejected image"

    def __init__(self, reason: RejectReason, *, source: str, detail: str, size_bytes: int, sha256: str) -> None:
        self.reason = reason
        self.source = source
        self.detail = detail
        self.size_bytes = size_bytes
        self.sha256 = sha256
        super().__init__(f"{source}: {detail}")


@dataclass(frozen=True)
class ImageLimits:
    """Upper bounds checked before decoding; defaults fit 100-megapixel drone cameras."""

    max_bytes: int = 150 * 1024 * 1024
    max_pixels: int = 120_000_000
    max_ortho_pixels: int = 250_000_000


@dataclass(frozen=True)
class ImageMeta:
    """What a drone JPEG says about itself: position, attitude, time, camera (None where absent)."""

    width_px: int
    height_px: int
    lon: float | None = None
    lat: float | None = None
    gps_altitude_m: float | None = None  # above sea level (EXIF GPS or DJI AbsoluteAltitude)
    relative_altitude_m: float | None = None  # above the take-off point, i.e. the dock
    gimbal_yaw_deg: float | None = None
    gimbal_pitch_deg: float | None = None
    gimbal_roll_deg: float | None = None
    flight_yaw_deg: float | None = None
    captured_at: datetime | None = None
    make: str | None = None
    model: str | None = None
    focal_35mm_mm: float | None = None
    hfov_deg: float | None = None  # stated outright (twin XMP) or from DJI's calibrated focal length
    xmp: dict[str, str] = field(default_factory=dict)

    def pose(self, *, dock_altitude_m: float | None = None) -> GeoPose:
        """Camera pose for georeferencing; altitude above the dock from XMP, or GPS altitude − dock altitude."""
        missing = [n for n, v in (("GPS latitude", self.lat), ("GPS longitude", self.lon)) if v is None]
        altitude = self.relative_altitude_m
        if altitude is None and self.gps_altitude_m is not None and dock_altitude_m is not None:
            altitude = self.gps_altitude_m - dock_altitude_m
        if altitude is None:
            missing.append("relative altitude (drone-dji:RelativeAltitude, or GPS altitude with the dock's)")
        if missing:
            raise GeorefError(f"image has no {', '.join(missing)}; it cannot be georeferenced")
        yaw = self.gimbal_yaw_deg if self.gimbal_yaw_deg is not None else self.flight_yaw_deg
        return GeoPose(
            lon=float(self.lon),  # type: ignore[arg-type]
            lat=float(self.lat),  # type: ignore[arg-type]
            altitude_m=float(altitude),
            yaw_deg=float(yaw or 0.0),
            pitch_deg=float(self.gimbal_pitch_deg if self.gimbal_pitch_deg is not None else -90.0),
            roll_deg=float(self.gimbal_roll_deg or 0.0),
        )

    def camera(self, default: CameraModel | None = None) -> CameraModel:
        """Pinhole model from a stated field of view, else the 35 mm equivalent focal length (diagonal
        convention, as DJI writes it), else ``default`` rescaled to this size."""
        if self.hfov_deg and 1.0 <= self.hfov_deg <= 170.0:
            return CameraModel(self.width_px, self.height_px, self.hfov_deg, self.model or "xmp")
        if self.focal_35mm_mm and self.focal_35mm_mm > 0:
            diag_px = math.hypot(self.width_px, self.height_px)
            half_w_mm = _FILM_DIAGONAL_MM * self.width_px / diag_px / 2.0
            hfov = math.degrees(2.0 * math.atan(half_w_mm / self.focal_35mm_mm))
            return CameraModel(self.width_px, self.height_px, hfov, self.model or "exif")
        base = default or CameraModel()
        return CameraModel(self.width_px, self.height_px, base.hfov_deg, base.name)


@dataclass(frozen=True, eq=False)
class IngestedImage:
    """A decoded frame (RGB) with its metadata."""

    rgb: np.ndarray
    meta: ImageMeta
    sha256: str
    size_bytes: int
    source: str


@dataclass(frozen=True, eq=False)
class IngestedOrtho:
    """A decoded orthophoto (RGB) with its georeferencing."""

    rgb: np.ndarray
    georef: OrthoGeoref
    sha256: str
    size_bytes: int
    source: str


def sniff(data: bytes) -> str | None:
    """'jpeg', 'tiff' or None from the leading magic bytes (file names and declared types are not trusted)."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    return None


def ingest_bytes(data: bytes, *, source: str, limits: ImageLimits = ImageLimits()) -> IngestedImage | IngestedOrtho:
    """Validate and decode an upload; raises `RejectedImage` with a reason a person can act on."""
    digest = hashlib.sha256(data).hexdigest()

    def reject(reason: RejectReason, detail: str) -> RejectedImage:
        return RejectedImage(reason, source=source, detail=detail, size_bytes=len(data), sha256=digest)

    if len(data) > limits.max_bytes:
        raise reject(RejectReason.TOO_LARGE, f"file is {len(data)} bytes, the limit is {limits.max_bytes}")
    kind = sniff(data)
    if kind == "jpeg":
        return _ingest_jpeg(data, source=source, digest=digest, limits=limits, reject=reject)
    if kind == "tiff":
        return _ingest_geotiff(data, source=source, digest=digest, limits=limits, reject=reject)
    head = data[:8].hex(" ") if data else "empty file"
    raise reject(RejectReason.UNSUPPORTED_TYPE, f"not a JPEG or GeoTIFF (starts with {head})")


def ingest_file(path: Path, *, limits: ImageLimits = ImageLimits()) -> IngestedImage | IngestedOrtho:
    """`ingest_bytes` for a file, refusing oversized files before reading them."""
    path = Path(path)
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise RejectedImage(RejectReason.TOO_LARGE, source=path.name, size_bytes=size, sha256="",
                            detail=f"file is {size} bytes, the limit is {limits.max_bytes}")
    return ingest_bytes(path.read_bytes(), source=path.name, limits=limits)


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the JPEG frame header, found by walking the marker segments; None if absent."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if marker in _SOF_MARKERS and i + 9 <= len(data):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        if marker == 0xDA or length < 2:  # scan data before any frame header
            return None
        i += 2 + length
    return None


def _ingest_jpeg(data: bytes, *, source: str, digest: str, limits: ImageLimits, reject) -> IngestedImage:
    from PIL import Image, UnidentifiedImageError

    declared = jpeg_dimensions(data)
    if declared is None:
        raise reject(RejectReason.CORRUPT, "JPEG has no readable frame header")
    if declared[0] * declared[1] > limits.max_pixels:
        w, h = declared
        raise reject(RejectReason.TOO_MANY_PIXELS,
                     f"declares {w}x{h} = {w * h} pixels, the limit is {limits.max_pixels}")
    try:
        with warnings.catch_warnings():
            # our own pixel limit below decides; PIL's warning threshold is a different, fixed number
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=["JPEG"])
            w, h = img.size
            if w * h > limits.max_pixels:
                raise reject(RejectReason.TOO_MANY_PIXELS,
                             f"declares {w}x{h} = {w * h} pixels, the limit is {limits.max_pixels}")
            meta = _jpeg_meta(img, data)
            rgb = np.asarray(img.convert("RGB"))
    except RejectedImage:
        raise
    except Image.DecompressionBombError as exc:
        raise reject(RejectReason.TOO_MANY_PIXELS, str(exc)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise reject(RejectReason.CORRUPT, f"JPEG cannot be decoded ({exc})") from None
    if rgb.shape[:2] != (h, w):
        raise reject(RejectReason.CORRUPT, f"decoded {rgb.shape[1]}x{rgb.shape[0]}, header said {w}x{h}")
    return IngestedImage(rgb=rgb, meta=meta, sha256=digest, size_bytes=len(data), source=source)


def read_jpeg_meta(data: bytes) -> ImageMeta:
    """Metadata of a JPEG without decoding its pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        return _jpeg_meta(Image.open(io.BytesIO(data), formats=["JPEG"]), data)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInput(f"not a readable JPEG ({exc})") from None


_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_TAG_MAKE, _TAG_MODEL = 271, 272
_TAG_DATETIME_ORIGINAL, _TAG_OFFSET_ORIGINAL = 36867, 36881
_TAG_FOCAL_35MM = 41989


def _ratio(value: object) -> float:
    if isinstance(value, tuple) and len(value) == 2:
        num, den = value
        return float(num) / float(den) if den else math.nan
    return float(value)  # PIL's IFDRational and plain numbers


def _dms(value: object) -> float:
    parts = [_ratio(v) for v in value]  # type: ignore[attr-defined]
    while len(parts) < 3:
        parts.append(0.0)
    return parts[0] + parts[1] / 60.0 + parts[2] / 3600.0


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    return str(value).strip("\x00 ").strip() or None


def _captured_at(exif_ifd: dict) -> datetime | None:
    raw = _text(exif_ifd.get(_TAG_DATETIME_ORIGINAL))
    if not raw:
        return None
    try:
        naive = datetime.strptime(raw, "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = _text(exif_ifd.get(_TAG_OFFSET_ORIGINAL))
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", offset or "")
    if match:
        sign = 1 if match[1] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(match[2]), minutes=int(match[3])))
        return naive.replace(tzinfo=tz).astimezone(UTC)
    # without an offset tag the clock is taken as UTC (what the twin and most dock firmware write)
    return naive.replace(tzinfo=UTC)


_XMP_ATTR = re.compile(rb'drone-dji:(\w+)\s*=\s*"([^"]*)"')
_XMP_HFOV = re.compile(rb'dockpatrol:HfovDegree\s*=\s*"([^"]*)"')
_XMP_ELEM = re.compile(rb"<drone-dji:(\w+)>([^<]*)</drone-dji:\1>")


def parse_dji_xmp(data: bytes) -> dict[str, str]:
    """``drone-dji:*`` fields of the XMP packet, written as attributes (DJI firmware) or elements (exiftool)."""
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        return {}
    end = data.find(b"</x:xmpmeta>", start)
    packet = data[start:end if end > 0 else start + 65536]
    fields = {k.decode(): v.decode("utf-8", "replace").strip() for k, v in _XMP_ELEM.findall(packet)}
    fields.update({k.decode(): v.decode("utf-8", "replace").strip() for k, v in _XMP_ATTR.findall(packet)})
    hfov = _XMP_HFOV.search(packet)
    if hfov:
        fields["dockpatrol:HfovDegree"] = hfov[1].decode("ascii", "replace")
    return fields


def _xmp_float(xmp: dict[str, str], *names: str) -> float | None:
    for name in names:
        if name in xmp:
            try:
                value = float(xmp[name])
            except ValueError:
                continue
            if math.isfinite(value):
                return value
    return None


def _jpeg_meta(img, data: bytes) -> ImageMeta:
    exif = img.getexif()
    gps = exif.get_ifd(_GPS_IFD) if exif else {}
    exif_ifd = exif.get_ifd(_EXIF_IFD) if exif else {}
    lat = lon = alt = None
    try:
        if 2 in gps and 4 in gps:
            lat = _dms(gps[2]) * (-1 if _text(gps.get(1)) == "S" else 1)
            lon = _dms(gps[4]) * (-1 if _text(gps.get(3)) == "W" else 1)
        if 6 in gps:
            below = gps.get(5) in (1, b"\x01")
            alt = _ratio(gps[6]) * (-1 if below else 1)
    except (TypeError, ValueError, ZeroDivisionError):
        lat = lon = alt = None
    xmp = parse_dji_xmp(data)
    if lat is None or lon is None:
        lat = _xmp_float(xmp, "GpsLatitude", "Latitude")
        lon = _xmp_float(xmp, "GpsLongitude", "GpsLongtitude", "Longitude")  # some DJI firmware misspells it
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None
    focal = exif_ifd.get(_TAG_FOCAL_35MM)
    w, h = img.size
    hfov = _xmp_float(xmp, "dockpatrol:HfovDegree")
    calibrated_px = _xmp_float(xmp, "CalibratedFocalLength")  # DJI enterprise: pixels of the full-size image
    if hfov is None and calibrated_px and calibrated_px > 0:
        hfov = math.degrees(2.0 * math.atan(w / 2.0 / calibrated_px))
    return ImageMeta(
        width_px=w,
        height_px=h,
        lon=lon,
        lat=lat,
        gps_altitude_m=alt if alt is not None else _xmp_float(xmp, "AbsoluteAltitude"),
        relative_altitude_m=_xmp_float(xmp, "RelativeAltitude"),
        gimbal_yaw_deg=_xmp_float(xmp, "GimbalYawDegree"),
        gimbal_pitch_deg=_xmp_float(xmp, "GimbalPitchDegree"),
        gimbal_roll_deg=_xmp_float(xmp, "GimbalRollDegree"),
        flight_yaw_deg=_xmp_float(xmp, "FlightYawDegree"),
        captured_at=_captured_at(exif_ifd),
        make=_text(exif.get(_TAG_MAKE)) if exif else None,
        model=_text(exif.get(_TAG_MODEL)) if exif else None,
        focal_35mm_mm=float(focal) if focal else None,
        hfov_deg=hfov,
        xmp=xmp,
    )


def _ingest_geotiff(data: bytes, *, source: str, digest: str, limits: ImageLimits, reject) -> IngestedOrtho:
    import rasterio
    from pyproj import CRS
    from rasterio.errors import RasterioError
    from rasterio.io import MemoryFile

    try:
        with MemoryFile(data) as mem, mem.open() as src:
            w, h, bands = src.width, src.height, src.count
            if w * h > limits.max_ortho_pixels:
                raise reject(RejectReason.TOO_MANY_PIXELS,
                             f"declares {w}x{h} = {w * h} pixels, the limit is {limits.max_ortho_pixels}")
            if src.crs is None or src.transform == rasterio.Affine.identity():
                raise reject(RejectReason.BAD_GEOREFERENCE, "TIFF has no CRS or geotransform; not a GeoTIFF")
            if src.dtypes[0] not in ("uint8", "uint16"):
                raise reject(RejectReason.UNSUPPORTED_TYPE, f"GeoTIFF pixels are {src.dtypes[0]}; "
                                                            "expected 8- or 16-bit RGB")
            indexes = [1, 2, 3] if bands >= 3 else [1, 1, 1]
            pixels = src.read(indexes)
            transform, crs = src.transform, CRS.from_user_input(src.crs.to_wkt())
    except RejectedImage:
        raise
    except (RasterioError, ValueError, OSError) as exc:
        raise reject(RejectReason.CORRUPT, f"GeoTIFF cannot be decoded ({exc})") from None
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    rgb = np.ascontiguousarray(pixels.transpose(1, 2, 0))
    return IngestedOrtho(rgb=rgb, georef=OrthoGeoref(transform, crs), sha256=digest, size_bytes=len(data),
                         source=source)
