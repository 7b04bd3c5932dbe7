"""Input checks the CLI makes before handing a path to a library, so failures read as one line."""

from __future__ import annotations

import stat
from pathlib import Path

from dockpatrol.errors import InvalidInput


def require_regular_file(path: Path, *, what: str) -> Path:
    """``path`` if it is a regular file; devices (/dev/zero), directories and missing paths are refused."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InvalidInput(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise InvalidInput(f"{what} {path}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise InvalidInput(f"{what} {path} is a directory; give a file")
    if not stat.S_ISREG(mode):
        raise InvalidInput(f"{what} {path} is not a regular file (a device or pipe cannot be read as an image)")
    return path


def require_earth_crs(path: Path) -> None:
    """A GeoTIFF must be placed on the earth (a geographic or projected CRS), not in a local frame."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        return
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as ds:
            crs = ds.crs
    except RasterioError as exc:
        raise InvalidInput(f"{path}: not a readable GeoTIFF ({exc})") from None
    if crs is None:
        raise InvalidInput(f"{path}: the GeoTIFF has no coordinate reference system")
    if not (crs.is_geographic or crs.is_projected) or (crs.to_epsg() is None and "LOCAL_CS" in crs.to_wkt()):
        raise InvalidInput(f"{path}: the GeoTIFF uses a local coordinate system ({crs.to_wkt()[:60]}…); "
                           "an ortho must be in a geographic or projected CRS such as EPSG:4326 or a UTM zone")
