"""What a drone JPEG says about itself: EXIF GPS, time and optics plus DJI XMP pose, read from the header only."""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from dockpatrol.camera import CameraModel, GeoPose
from dockpatrol.errors import GeorefError, InvalidInput


@dataclass(frozen=True)
class ImageMeta:
    """Position, attitude, time and optics a JPEG states (None where a tag is absent)."""

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
    focal_35mm_mm: float | None = None  # EXIF FocalLengthIn35mmFilm
    focal_length_mm: float | None = None  # EXIF FocalLength (physical)
    focal_plane_x_px_per_mm: float | None = None  # EXIF FocalPlaneXResolution in its unit, as pixels per mm
    exif_width_px: int | None = None  # EXIF PixelXDimension: the width the focal-plane resolution refers to
    calibrated_focal_px: float | None = None  # DJI XMP CalibratedFocalLength, pixels of the full-size image
    hfov_deg: float | None = None  # stated outright (the twin's XMP)
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
        """The pinhole model from the best source these tags offer (see `vision.ingest.intrinsics`)."""
        from vision.ingest.intrinsics import resolve_camera

        return resolve_camera(self, default=default).camera


def read_jpeg_meta(data: bytes) -> ImageMeta:
    """Metadata of a JPEG without decoding its pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        return jpeg_meta(Image.open(io.BytesIO(data), formats=["JPEG"]), data)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInput(f"not a readable JPEG ({exc})") from None


_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_TAG_MAKE, _TAG_MODEL = 271, 272
_TAG_DATETIME_ORIGINAL, _TAG_OFFSET_ORIGINAL = 36867, 36881
_TAG_FOCAL_LENGTH = 0x920A
_TAG_PIXEL_X_DIMENSION = 0xA002
_TAG_FOCAL_PLANE_X_RES = 0xA20E
_TAG_FOCAL_PLANE_UNIT = 0xA210
_TAG_FOCAL_35MM = 0xA405
#: FocalPlaneResolutionUnit → millimetres per unit (EXIF: 2 inch, the default; 3 cm; 4 mm and 5 µm
#: are not in the standard but written by some cameras, and exiftool reads them so).
_MM_PER_UNIT = {1: None, 2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}


def _ratio(value: object) -> float:
    if isinstance(value, tuple) and len(value) == 2:
        num, den = value
        return float(num) / float(den) if den else math.nan
    return float(value)  # PIL's IFDRational and plain numbers


def _positive(value: object) -> float | None:
    """A finite positive number from a tag value, else None (0 and NaN mean 'unknown' in EXIF)."""
    if value is None:
        return None
    try:
        number = _ratio(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None


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


def _focal_plane_px_per_mm(exif_ifd: dict[int, Any]) -> float | None:
    resolution = _positive(exif_ifd.get(_TAG_FOCAL_PLANE_X_RES))
    unit = exif_ifd.get(_TAG_FOCAL_PLANE_UNIT, 2)
    mm_per_unit = _MM_PER_UNIT.get(int(unit) if isinstance(unit, int) else 2)
    if resolution is None or mm_per_unit is None:
        return None
    return resolution / mm_per_unit


def jpeg_meta(img: Any, data: bytes) -> ImageMeta:
    """`ImageMeta` of a lazily opened PIL JPEG (``img``) and its bytes (for the XMP packet); decodes no pixels."""
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
    w, h = img.size
    exif_width = exif_ifd.get(_TAG_PIXEL_X_DIMENSION)
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
        focal_35mm_mm=_positive(exif_ifd.get(_TAG_FOCAL_35MM)),
        focal_length_mm=_positive(exif_ifd.get(_TAG_FOCAL_LENGTH)),
        focal_plane_x_px_per_mm=_focal_plane_px_per_mm(exif_ifd),
        exif_width_px=int(exif_width) if isinstance(exif_width, int) and exif_width > 0 else None,
        calibrated_focal_px=_positive(_xmp_float(xmp, "CalibratedFocalLength")),
        hfov_deg=_positive(_xmp_float(xmp, "dockpatrol:HfovDegree")),
        xmp=xmp,
    )
