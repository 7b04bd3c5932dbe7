"""One entry for uploaded imagery: size and type checks, then the JPEG frame or GeoTIFF ortho path."""

from __future__ import annotations

import hashlib
from pathlib import Path

from vision.ingest.checks import ImageLimits, RejectedImage, RejectReason, sniff
from vision.ingest.jpeg import FrameOptions, IngestedImage, ingest_jpeg
from vision.ingest.ortho import IngestedOrtho, ingest_geotiff


def ingest_bytes(data: bytes, *, source: str, limits: ImageLimits = ImageLimits(),
                 options: FrameOptions = FrameOptions()) -> IngestedImage | IngestedOrtho:
    """Validate and decode an upload; raises `RejectedImage` with a reason a person can act on.

    With ``options.require_pose`` a frame that cannot be georeferenced raises `GeorefError`
    before its pixels are decoded.
    """
    digest = hashlib.sha256(data).hexdigest()

    def reject(reason: RejectReason, detail: str) -> RejectedImage:
        return RejectedImage(reason, source=source, detail=detail, size_bytes=len(data), sha256=digest)

    if len(data) > limits.max_bytes:
        raise reject(RejectReason.TOO_LARGE, f"file is {len(data)} bytes, the limit is {limits.max_bytes}")
    kind = sniff(data)
    if kind == "jpeg":
        return ingest_jpeg(data, source=source, digest=digest, limits=limits, reject=reject, options=options)
    if kind == "tiff":
        return ingest_geotiff(data, source=source, digest=digest, limits=limits, reject=reject)
    head = data[:8].hex(" ") if data else "empty file"
    raise reject(RejectReason.UNSUPPORTED_TYPE, f"not a JPEG or GeoTIFF (starts with {head})")


def ingest_file(path: Path, *, limits: ImageLimits = ImageLimits(),
                options: FrameOptions = FrameOptions()) -> IngestedImage | IngestedOrtho:
    """`ingest_bytes` for a file, refusing oversized files before reading them."""
    path = Path(path)
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise RejectedImage(RejectReason.TOO_LARGE, source=path.name, size_bytes=size, sha256="",
                            detail=f"file is {size} bytes, the limit is {limits.max_bytes}")
    return ingest_bytes(path.read_bytes(), source=path.name, limits=limits, options=options)
