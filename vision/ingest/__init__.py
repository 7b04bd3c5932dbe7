"""Uploaded imagery in: drone JPEG frames (EXIF GPS + DJI XMP pose) and GeoTIFF orthophotos.

Where things live: `checks` (type sniffing, byte/pixel budgets, blank images, 16-bit stretch),
`exif` (what a JPEG's tags say: `ImageMeta`), `intrinsics` (camera geometry from the best tag
source, and which one), `jpeg` and `ortho` (the two decode paths), `upload` (the entry point).
"""

from vision.ingest.checks import ImageLimits, RejectedImage, RejectReason, jpeg_dimensions, sniff
from vision.ingest.exif import ImageMeta, parse_dji_xmp, read_jpeg_meta
from vision.ingest.intrinsics import SENSORS, CameraSource, ResolvedCamera, resolve_camera
from vision.ingest.jpeg import FrameOptions, IngestedImage
from vision.ingest.ortho import IngestedOrtho
from vision.ingest.upload import ingest_bytes, ingest_file

__all__ = [
    "SENSORS", "CameraSource", "FrameOptions", "ImageLimits", "ImageMeta", "IngestedImage", "IngestedOrtho",
    "RejectReason", "RejectedImage", "ResolvedCamera", "ingest_bytes", "ingest_file", "jpeg_dimensions",
    "parse_dji_xmp", "read_jpeg_meta", "resolve_camera", "sniff",
]
