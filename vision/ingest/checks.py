"""Checks that run before pixels are decoded, and the cheap ones on a thumbnail before the detector.

Every rejection is a `RejectedImage` carrying the reason, digest and size the pipeline needs
to keep the file in quarantine. Nothing here allocates more than a thumbnail.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from dockpatrol.errors import InvalidInput


class RejectReason(StrEnum):
    UNSUPPORTED_TYPE = "unsupported_type"
    TOO_LARGE = "too_large"
    TOO_MANY_PIXELS = "too_many_pixels"
    CORRUPT = "corrupt"
    BAD_GEOREFERENCE = "bad_georeference"
    BLANK = "blank"


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


#: Builds the `RejectedImage` for one upload (source, size and digest already bound).
Reject = Callable[[RejectReason, str], RejectedImage]


@dataclass(frozen=True)
class ImageLimits:
    """Upper bounds checked before decoding; defaults fit 100-megapixel drone cameras.

    ``min_bytes_per_megapixel``: even a flat grey JPEG needs entropy-coded data for every 8×8
    block (≈ 2 bits each), so a file far smaller than that cannot hold the pixels it declares.
    ``min_spread_levels``: a thumbnail whose 1st–99th percentile spread is below this in every
    band is blank (a lens cap, an all-nodata ortho) and never reaches the detector.
    """

    max_bytes: int = 150 * 1024 * 1024
    max_pixels: int = 120_000_000
    max_ortho_pixels: int = 250_000_000
    min_bytes_per_megapixel: int = 1_000
    min_spread_levels: float = 3.0
    thumbnail_side_px: int = 512


def sniff(data: bytes) -> str | None:
    """'jpeg', 'tiff' or None from the leading magic bytes (file names and declared types are not trusted)."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    return None


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


def check_declared_size(width_px: int, height_px: int, *, size_bytes: int, max_pixels: int,
                        limits: ImageLimits, reject: Reject, compressed: bool = True) -> None:
    """Refuse a declared size over the pixel budget, or one the file is far too small to hold."""
    pixels = width_px * height_px
    if pixels <= 0:
        raise reject(RejectReason.CORRUPT, f"declares {width_px}x{height_px} pixels")
    if pixels > max_pixels:
        raise reject(RejectReason.TOO_MANY_PIXELS,
                     f"declares {width_px}x{height_px} = {pixels} pixels, the limit is {max_pixels}")
    floor = pixels / 1e6 * limits.min_bytes_per_megapixel
    if compressed and size_bytes < floor:
        raise reject(RejectReason.CORRUPT,
                     f"declares {width_px}x{height_px} = {pixels / 1e6:.1f} MP in only {size_bytes} bytes "
                     f"(at least {floor:.0f} expected); truncated or forged header")


def band_spread(thumbnail: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Largest 1st–99th percentile spread over the bands of an (h, w, bands) thumbnail, in its own units."""
    pixels = thumbnail.reshape(-1, thumbnail.shape[-1])
    if valid is not None:
        pixels = pixels[valid.reshape(-1)]
    if len(pixels) == 0:
        return 0.0
    lo, hi = np.percentile(pixels, [1.0, 99.0], axis=0)
    return float(np.max(hi - lo))


def check_not_blank(thumbnail: np.ndarray, *, limits: ImageLimits, reject: Reject,
                    valid: np.ndarray | None = None) -> None:
    """Refuse a near-constant image (uint8 thumbnail) before the detector spends seconds on it."""
    spread = band_spread(thumbnail, valid)
    if spread < limits.min_spread_levels:
        share = 1.0 if valid is None else float(np.mean(valid))
        raise reject(RejectReason.BLANK,
                     f"image is blank or near-constant (brightness spread {spread:.1f} of 255 levels over "
                     f"{share:.0%} valid pixels); nothing to detect")


def stretch_to_uint8(pixels: np.ndarray, *, lo: float, hi: float) -> np.ndarray:
    """Linear stretch of [lo, hi] onto 0..255 (16-bit rasters rarely use their full range)."""
    if hi <= lo:
        return np.zeros(pixels.shape, dtype=np.uint8)
    scaled = (pixels.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    return np.clip(scaled, 0.0, 255.0).round().astype(np.uint8)


def stretch_limits(sample: np.ndarray, valid: np.ndarray | None = None, *,
                   percentiles: tuple[float, float] = (0.5, 99.5)) -> tuple[float, float]:
    """Percentile limits shared by all bands of an (h, w, bands) sample, so colours keep their balance."""
    values = sample.reshape(-1, sample.shape[-1])
    if valid is not None:
        values = values[valid.reshape(-1)]
    if values.size == 0:
        return 0.0, 0.0
    lo, hi = np.percentile(values, percentiles)
    return float(lo), float(hi)
