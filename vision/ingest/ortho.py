"""GeoTIFF orthophotos: header checks, a decimated read (overviews when present) before the full one.

The thumbnail answers the cheap questions first (is anything there? what range do 16-bit values
use?), so a sparse or all-nodata raster is refused without reading it at full size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vision.georef import OrthoGeoref
from vision.ingest.checks import (
    ImageLimits,
    Reject,
    RejectedImage,
    RejectReason,
    check_declared_size,
    check_not_blank,
    stretch_limits,
    stretch_to_uint8,
)

_GDAL_CACHE_MB = 64


@dataclass(frozen=True, eq=False)
class IngestedOrtho:
    """A decoded orthophoto (RGB uint8) with its georeferencing; 16-bit sources are percentile-stretched."""

    rgb: np.ndarray
    georef: OrthoGeoref
    sha256: str
    size_bytes: int
    source: str
    stretch: tuple[float, float] | None = None  # (low, high) source values mapped onto 0..255, for 16-bit


def _bit_depth(values: np.ndarray) -> int:
    """Bits the data actually uses (12-bit sensors in 16-bit containers are common), at least 8."""
    top = int(values.max(initial=0))
    return min(16, max(8, math.ceil(math.log2(top + 1)))) if top > 0 else 8


def ingest_geotiff(data: bytes, *, source: str, digest: str, limits: ImageLimits, reject: Reject) -> IngestedOrtho:
    """Validate and decode a GeoTIFF ortho; the full-size read happens only after the thumbnail passes."""
    import rasterio
    from pyproj import CRS
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioError
    from rasterio.io import MemoryFile

    try:
        # a small block cache: a decimated read of a sparse 225 MP raster otherwise caches every block
        with rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE_MB), MemoryFile(data) as mem, mem.open() as src:
            w, h, bands = src.width, src.height, src.count
            check_declared_size(w, h, size_bytes=len(data), max_pixels=limits.max_ortho_pixels, limits=limits,
                                reject=reject, compressed=False)
            if src.crs is None or src.transform == rasterio.Affine.identity():
                raise reject(RejectReason.BAD_GEOREFERENCE, "TIFF has no CRS or geotransform; not a GeoTIFF")
            dtype = src.dtypes[0]
            if dtype not in ("uint8", "uint16"):
                raise reject(RejectReason.UNSUPPORTED_TYPE, f"GeoTIFF pixels are {dtype}; expected 8- or 16-bit RGB")
            indexes = [1, 2, 3] if bands >= 3 else [1, 1, 1]
            scale = max(1.0, max(w, h) / limits.thumbnail_side_px)
            tw, th = max(1, round(w / scale)), max(1, round(h / scale))
            thumb = src.read(indexes, out_shape=(3, th, tw), resampling=Resampling.nearest).transpose(1, 2, 0)
            valid = src.dataset_mask(out_shape=(th, tw), resampling=Resampling.nearest) > 0
            stretch = None
            if dtype == "uint16":
                level = 2 ** (_bit_depth(thumb[valid]) - 8)  # one 8-bit grey level in the data's own units
                lo, hi = stretch_limits(thumb, valid)
                check_not_blank(thumb / level, limits=limits, reject=reject, valid=valid)
                stretch = (lo, hi)
            else:
                check_not_blank(thumb, limits=limits, reject=reject, valid=valid)
            pixels = src.read(indexes)
            transform, crs = src.transform, CRS.from_user_input(src.crs.to_wkt())
    except RejectedImage:
        raise
    except (RasterioError, ValueError, OSError) as exc:
        raise reject(RejectReason.CORRUPT, f"GeoTIFF cannot be decoded ({exc})") from None
    rgb = pixels.transpose(1, 2, 0)
    rgb = stretch_to_uint8(rgb, lo=stretch[0], hi=stretch[1]) if stretch else np.ascontiguousarray(rgb)
    return IngestedOrtho(rgb=rgb, georef=OrthoGeoref(transform, crs), sha256=digest, size_bytes=len(data),
                         source=source, stretch=stretch)
