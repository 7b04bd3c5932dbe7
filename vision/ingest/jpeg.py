"""Drone JPEG frames: header checks, pose and camera from tags, a 1/8-scale pass, then the full decode."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np

from dockpatrol.camera import CameraModel, GeoPose
from dockpatrol.errors import GeorefError, InvalidInput
from vision.ingest.checks import (
    ImageLimits,
    Reject,
    RejectedImage,
    RejectReason,
    check_declared_size,
    check_not_blank,
    jpeg_dimensions,
    sniff,
)
from vision.ingest.exif import ImageMeta, jpeg_meta
from vision.ingest.intrinsics import ResolvedCamera, resolve_camera

#: libjpeg decodes at 1/8 scale from the DC coefficients alone: every entropy-coded block is still
#: read (so a truncated scan fails here), but only 1/64 of the pixels are allocated.
_DRAFT_SCALE = 8


@dataclass(frozen=True)
class FrameOptions:
    """What the caller knows about the frame beyond its tags."""

    require_pose: bool = False  # refuse, before decoding, a frame that cannot be georeferenced
    dock_altitude_m: float | None = None  # above sea level; turns GPS altitude into height above the dock
    camera_override: CameraModel | None = None  # the dock's configured camera beats the tags
    default_camera: CameraModel | None = None  # used when no tag states the optics


@dataclass(frozen=True, eq=False)
class IngestedImage:
    """A decoded frame (RGB) with its metadata, the camera chosen for it and its pose (None if unknown)."""

    rgb: np.ndarray
    meta: ImageMeta
    sha256: str
    size_bytes: int
    source: str
    camera: ResolvedCamera
    pose: GeoPose | None = None


def _decode_rgb(data: bytes, *, draft_scale: int = 1) -> np.ndarray:
    from PIL import Image

    img = Image.open(io.BytesIO(data), formats=["JPEG"])
    if draft_scale > 1:
        w, h = img.size
        img.draft("RGB", (max(1, w // draft_scale), max(1, h // draft_scale)))
    img.load()
    return np.asarray(img if img.mode == "RGB" else img.convert("RGB"))


def decode_ingested(data: bytes, scale: int = 1) -> np.ndarray | None:
    """The RGB pixels of a JPEG that passed ingest, at 1/``scale`` of its size (1, 2, 4 or 8: libjpeg's DCT
    scaling decodes at those for a fraction of the full cost), without repeating ingest's checks.

    OpenCV decodes a 12 MP frame in two thirds of Pillow's time, but fills a truncated scan with grey
    instead of failing: data without its end-of-image marker, like anything but a JPEG or data that
    does not decode, gives None, and the caller ingests it again to learn why.
    """
    import cv2

    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
             8: cv2.IMREAD_REDUCED_COLOR_8}
    if scale not in flags:
        raise InvalidInput(f"a JPEG decodes at 1/1, 1/2, 1/4 or 1/8 of its size, not 1/{scale}")
    if sniff(data) != "jpeg" or not data.rstrip(b"\0").endswith(b"\xff\xd9"):
        return None
    # The camera model describes the sensor's pixels: an EXIF orientation tag must not rotate them.
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags[scale] | cv2.IMREAD_IGNORE_ORIENTATION)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def ingest_jpeg(data: bytes, *, source: str, digest: str, limits: ImageLimits, reject: Reject,
                options: FrameOptions) -> IngestedImage:
    """Validate and decode a JPEG frame; every check that can fail runs before the full-size decode."""
    from PIL import Image, UnidentifiedImageError

    declared = jpeg_dimensions(data)
    if declared is None:
        raise reject(RejectReason.CORRUPT, "JPEG has no readable frame header")
    check_declared_size(*declared, size_bytes=len(data), max_pixels=limits.max_pixels, limits=limits, reject=reject)
    try:
        with warnings.catch_warnings():
            # our own pixel limit decides; PIL's warning threshold is a different, fixed number
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=["JPEG"])
            w, h = img.size
            check_declared_size(w, h, size_bytes=len(data), max_pixels=limits.max_pixels, limits=limits,
                                reject=reject)
            meta = jpeg_meta(img, data)
            pose = _pose(meta, source=source, options=options)
            camera = resolve_camera(meta, override=options.camera_override, default=options.default_camera)
            check_not_blank(_decode_rgb(data, draft_scale=_DRAFT_SCALE), limits=limits, reject=reject)
            rgb = _decode_rgb(data)
    except (RejectedImage, GeorefError):
        raise
    except Image.DecompressionBombError as exc:
        raise reject(RejectReason.TOO_MANY_PIXELS, str(exc)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise reject(RejectReason.CORRUPT, f"JPEG cannot be decoded ({exc})") from None
    if rgb.shape[:2] != (h, w):
        raise reject(RejectReason.CORRUPT, f"decoded {rgb.shape[1]}x{rgb.shape[0]}, header said {w}x{h}")
    return IngestedImage(rgb=rgb, meta=meta, sha256=digest, size_bytes=len(data), source=source, camera=camera,
                         pose=pose)


def _pose(meta: ImageMeta, *, source: str, options: FrameOptions) -> GeoPose | None:
    try:
        return meta.pose(dock_altitude_m=options.dock_altitude_m)
    except GeorefError as exc:
        if options.require_pose:
            raise GeorefError(f"{source}: {exc}") from None
        return None
