"""Camera geometry from the best source a frame offers, and which source that was.

Order, best first (a source is skipped when its tags are absent or implausible):

1. ``override``: a camera the operator configured for the dock (a lab calibration beats any tag);
2. ``xmp_calibrated``: DJI's per-unit ``drone-dji:CalibratedFocalLength``, in pixels of the full frame;
3. ``xmp_stated``: a field of view stated outright in XMP (the digital twin writes one);
4. ``focal_plane``: EXIF FocalLength (mm) with the sensor width from FocalPlaneXResolution + unit;
5. ``sensor_table``: EXIF FocalLength (or the lens's nominal one) with the sensor width of a known
   drone camera, looked up by EXIF Make/Model in `SENSORS`;
6. ``focal_35mm``: EXIF FocalLengthIn35mmFilm, read **width-based** (36 mm across the image
   width), as OpenSfM and OpenDroneMap read it, so findings land where an ODM orthophoto of the
   same photos puts them. The diagonal reading (43.27 mm across the image diagonal, exiftool's
   scale factor) gives a field of view ~4 % narrower on a 4:3 frame; cameras whose makers
   mean the diagonal should be in the table or carry focal-plane tags;
7. ``default``: the caller's default camera at this image size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from dockpatrol.camera import CameraModel
from vision.ingest.exif import ImageMeta

#: Horizontal fields of view outside this range are taken as broken tags, not optics.
PLAUSIBLE_HFOV_DEG = (5.0, 150.0)
_FILM_WIDTH_MM = 36.0


class CameraSource(StrEnum):
    """Where a frame's camera geometry came from; recorded with the frame."""

    OVERRIDE = "override"
    XMP_CALIBRATED = "xmp_calibrated"
    XMP_STATED = "xmp_stated"
    FOCAL_PLANE = "focal_plane"
    SENSOR_TABLE = "sensor_table"
    FOCAL_35MM = "focal_35mm"
    DEFAULT = "default"


@dataclass(frozen=True)
class SensorSpec:
    """A drone camera's sensor width and its lens's nominal focal length (fixed-lens cameras)."""

    sensor_width_mm: float
    focal_length_mm: float
    description: str


#: Common survey and dock drone cameras, keyed on lower-case (EXIF Make, EXIF Model). Sensor widths
#: are the manufacturers' published sensor formats (1" = 13.2 mm, 4/3" = 17.3 mm, 1/2" = 6.4 mm wide,
#: the same values OpenSfM's sensor database carries); focal lengths are the published lens values.
SENSORS: MappingProxyType[tuple[str, str], SensorSpec] = MappingProxyType({
    ("dji", "fc6310"): SensorSpec(13.2, 8.8, "DJI Phantom 4 Pro, 1\" 20 MP"),
    ("dji", "fc6310s"): SensorSpec(13.2, 8.8, "DJI Phantom 4 Pro V2, 1\" 20 MP"),
    ("dji", "fc6310r"): SensorSpec(13.2, 8.8, "DJI Phantom 4 RTK, 1\" 20 MP"),
    ("dji", "m3e"): SensorSpec(17.3, 12.29, "DJI Mavic 3 Enterprise wide camera, 4/3\" 20 MP"),
    ("dji", "m3d"): SensorSpec(17.3, 12.29, "DJI Matrice 3D (Dock 2) wide camera, 4/3\" 20 MP"),
    ("hasselblad", "l2d-20c"): SensorSpec(17.3, 12.29, "DJI Mavic 3 Hasselblad camera, 4/3\" 20 MP"),
    ("dji", "m30t"): SensorSpec(6.4, 4.5, "DJI Matrice 30T wide camera, 1/2\" 12 MP"),
    ("dji", "m30"): SensorSpec(6.4, 4.5, "DJI Matrice 30 wide camera, 1/2\" 12 MP"),
    ("dji", "fc3411"): SensorSpec(13.2, 8.38, "DJI Air 2S, 1\" 20 MP"),
})


@dataclass(frozen=True)
class ResolvedCamera:
    """The camera chosen for a frame, the source it came from, and what each usable source said."""

    camera: CameraModel
    source: CameraSource
    candidates_hfov_deg: MappingProxyType[CameraSource, float]

    @property
    def disagreement(self) -> float:
        """Largest relative difference in focal length between the usable sources (0 when one source)."""
        focals = [1.0 / math.tan(math.radians(h) / 2.0) for h in self.candidates_hfov_deg.values()]
        return (max(focals) / min(focals) - 1.0) if len(focals) > 1 else 0.0


def _hfov_from_focal_px(width_px: int, focal_px: float) -> float:
    return math.degrees(2.0 * math.atan(width_px / 2.0 / focal_px))


def _plausible(hfov_deg: float | None) -> float | None:
    if hfov_deg is None or not math.isfinite(hfov_deg):
        return None
    return hfov_deg if PLAUSIBLE_HFOV_DEG[0] <= hfov_deg <= PLAUSIBLE_HFOV_DEG[1] else None


def sensor_for(make: str | None, model: str | None) -> SensorSpec | None:
    """The table entry for an EXIF Make/Model pair (case and padding ignored), if known."""
    if not make or not model:
        return None
    return SENSORS.get((make.strip().lower(), model.strip().lower()))


def candidate_hfovs(meta: ImageMeta) -> dict[CameraSource, float]:
    """Horizontal field of view (degrees) each tag-based source gives for this frame, in priority order."""
    w = meta.width_px
    out: dict[CameraSource, float | None] = {}
    if meta.calibrated_focal_px:
        out[CameraSource.XMP_CALIBRATED] = _hfov_from_focal_px(w, meta.calibrated_focal_px)
    out[CameraSource.XMP_STATED] = meta.hfov_deg
    if meta.focal_length_mm and meta.focal_plane_x_px_per_mm:
        # the resolution describes the sensor as read out at PixelXDimension; a resized file keeps the optics
        sensor_width_mm = (meta.exif_width_px or w) / meta.focal_plane_x_px_per_mm
        out[CameraSource.FOCAL_PLANE] = math.degrees(2.0 * math.atan(sensor_width_mm / 2.0 / meta.focal_length_mm))
    spec = sensor_for(meta.make, meta.model)
    if spec is not None:
        focal_mm = meta.focal_length_mm or spec.focal_length_mm
        out[CameraSource.SENSOR_TABLE] = math.degrees(2.0 * math.atan(spec.sensor_width_mm / 2.0 / focal_mm))
    if meta.focal_35mm_mm:
        out[CameraSource.FOCAL_35MM] = math.degrees(2.0 * math.atan(_FILM_WIDTH_MM / 2.0 / meta.focal_35mm_mm))
    return {k: v for k, v in ((k, _plausible(v)) for k, v in out.items()) if v is not None}


def resolve_camera(meta: ImageMeta, *, override: CameraModel | None = None,
                   default: CameraModel | None = None) -> ResolvedCamera:
    """The frame's camera from the best available source (module docstring), rescaled to its pixel size."""
    candidates = candidate_hfovs(meta)
    w, h = meta.width_px, meta.height_px
    if override is not None:
        camera = CameraModel(width_px=w, height_px=h, hfov_deg=override.hfov_deg, name=override.name,
                             mount=override.mount, source=CameraSource.OVERRIDE.value)
        return ResolvedCamera(camera, CameraSource.OVERRIDE, MappingProxyType(candidates))
    base = default or CameraModel()  # tags never say how the camera is mounted: the dock's card does
    if candidates:
        source, hfov = next(iter(candidates.items()))
        spec = sensor_for(meta.make, meta.model)
        name = meta.model or (spec.description if spec else source.value)
        camera = CameraModel(width_px=w, height_px=h, hfov_deg=hfov, name=name, mount=base.mount,
                             source=source.value)
        return ResolvedCamera(camera, source, MappingProxyType(candidates))
    camera = CameraModel(width_px=w, height_px=h, hfov_deg=base.hfov_deg, name=base.name, mount=base.mount,
                         source=CameraSource.DEFAULT.value)
    return ResolvedCamera(camera, CameraSource.DEFAULT,
                          MappingProxyType(candidates))
