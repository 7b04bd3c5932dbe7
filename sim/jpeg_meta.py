"""Drone-like JPEG encoding: EXIF GPS and time plus DJI-style XMP pose, so ingest treats twin frames as real ones."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from fractions import Fraction

import numpy as np
from PIL import Image

from dockpatrol.camera import CameraModel, GeoPose
from dockpatrol.errors import InvalidInput

MAKE = "dockpatrol"
MODEL = "digital-twin camera"
_GPS_IFD, _EXIF_IFD = 0x8825, 0x8769


def _dms(value_deg: float) -> tuple[Fraction, Fraction, Fraction]:
    """Degrees as EXIF degrees/minutes/seconds rationals (seconds to 1e-4 s ≈ 3 mm)."""
    v = abs(value_deg)
    d = math.floor(v)
    m = math.floor((v - d) * 60)
    s = round(((v - d) * 60 - m) * 60, 4)
    if s >= 60:
        s -= 60
        m += 1
    if m >= 60:
        m -= 60
        d += 1
    return Fraction(d, 1), Fraction(m, 1), Fraction(round(s * 10000), 10000)


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def dji_xmp(pose: GeoPose, *, absolute_altitude_m: float, camera: CameraModel) -> bytes:
    """An XMP packet with the drone-dji pose attributes a DJI dock camera writes (and a synthetic-data flag)."""
    yaw = (pose.yaw_deg + 180.0) % 360.0 - 180.0
    attrs = {
        "drone-dji:GpsLatitude": f"{pose.lat:.8f}",
        "drone-dji:GpsLongitude": f"{pose.lon:.8f}",
        "drone-dji:AbsoluteAltitude": _signed(absolute_altitude_m),
        "drone-dji:RelativeAltitude": _signed(pose.altitude_m),
        "drone-dji:GimbalRollDegree": _signed(pose.roll_deg),
        "drone-dji:GimbalYawDegree": _signed(yaw),
        "drone-dji:GimbalPitchDegree": _signed(pose.pitch_deg),
        "drone-dji:FlightRollDegree": _signed(0.0),
        "drone-dji:FlightYawDegree": _signed(yaw),
        "drone-dji:FlightPitchDegree": _signed(0.0),
        "dockpatrol:Synthetic": "True",
        "dockpatrol:HfovDegree": f"{camera.hfov_deg:.4f}",
    }
    body = "\n   ".join(f'{k}="{v}"' for k, v in attrs.items())
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '   xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/"\n'
        '   xmlns:dockpatrol="https://dockpatrol.invalid/ns/sim/1.0/"\n'
        f"   {body}/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )
    return packet.encode("utf-8")


def exif_bytes(pose: GeoPose, *, captured_at: datetime, absolute_altitude_m: float, camera: CameraModel) -> bytes:
    """EXIF with Make/Model, DateTimeOriginal (UTC, with offset), 35 mm focal length and GPS position."""
    if captured_at.tzinfo is None:
        raise InvalidInput("capture time must be timezone-aware (UTC)")
    utc = captured_at.astimezone(UTC)
    exif = Image.Exif()
    exif[0x010F] = MAKE
    exif[0x0110] = MODEL
    exif[0x0131] = "dockpatrol sim"
    exif[0x0132] = utc.strftime("%Y:%m:%d %H:%M:%S")
    sub = exif.get_ifd(_EXIF_IFD)
    sub[0x9003] = utc.strftime("%Y:%m:%d %H:%M:%S")
    sub[0x9011] = "+00:00"
    sub[0xA002] = camera.width_px
    sub[0xA003] = camera.height_px
    # A 36 mm wide full-frame sensor behind the same field of view.
    sub[0xA405] = max(1, round(18.0 / math.tan(math.radians(camera.hfov_deg) / 2)))
    gps = exif.get_ifd(_GPS_IFD)
    gps[0x0000] = b"\x02\x03\x00\x00"
    gps[0x0001] = "N" if pose.lat >= 0 else "S"
    gps[0x0002] = _dms(pose.lat)
    gps[0x0003] = "E" if pose.lon >= 0 else "W"
    gps[0x0004] = _dms(pose.lon)
    gps[0x0005] = 0 if absolute_altitude_m >= 0 else 1
    gps[0x0006] = Fraction(round(abs(absolute_altitude_m) * 1000), 1000)
    gps[0x0007] = (Fraction(utc.hour, 1), Fraction(utc.minute, 1), Fraction(utc.second, 1))
    gps[0x001D] = utc.strftime("%Y:%m:%d")
    gps[0x0012] = "WGS-84"
    return exif.tobytes()


def encode_jpeg(rgb: np.ndarray, *, pose: GeoPose, captured_at: datetime, camera: CameraModel,
                ground_amsl_m: float, quality: int = 90) -> bytes:
    """JPEG bytes of an RGB uint8 image with the pose in EXIF GPS and DJI XMP."""
    if not 1 <= quality <= 100:
        raise InvalidInput(f"JPEG quality must be within 1..100, got {quality}")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InvalidInput(f"image must be HxWx3 uint8, got {rgb.shape} {rgb.dtype}")
    absolute = ground_amsl_m + pose.altitude_m
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(
        buf, format="JPEG", quality=quality, subsampling=0 if quality >= 90 else 2,
        exif=exif_bytes(pose, captured_at=captured_at, absolute_altitude_m=absolute, camera=camera),
        xmp=dji_xmp(pose, absolute_altitude_m=absolute, camera=camera),
    )
    return buf.getvalue()
