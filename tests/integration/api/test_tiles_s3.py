"""Mosaic tiles from an S3 store: the COG is copied once into the tile cache, named by its ETag, so a
rebuilt mosaic is fetched again and every tile reads a local file."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from storage.objects import MinioObjectStore
from tests.unit.api.routers.test_tiles import _write_cog


def test_an_s3_mosaic_is_cached_once_per_version_and_renders(s3_endpoint: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from api.routers import tiles
    from dockpatrol.settings import get_settings

    store = MinioObjectStore(endpoint=s3_endpoint, access_key="test", secret_key="testtest",
                             bucket=f"dp-{uuid.uuid4().hex[:12]}")
    monkeypatch.setattr(tiles.context, "object_store", lambda: store)
    cog = tmp_path / "m.tif"
    _write_cog(cog)
    store.put("flights/F9/mosaic.tif", cog.read_bytes(), content_type="image/tiff")
    gets: list[str] = []
    real_get = store.get
    monkeypatch.setattr(store, "get", lambda key: gets.append(key) or real_get(key))

    first = tiles.mosaic_path("flights/F9/mosaic.tif")
    again = tiles.mosaic_path("flights/F9/mosaic.tif")
    assert first == again and first.read_bytes() == cog.read_bytes() and len(gets) == 1
    assert get_settings().data_dir.resolve() in first.resolve().parents

    store.put("flights/F9/mosaic.tif", cog.read_bytes() + b"\0", content_type="image/tiff")  # a rebuilt mosaic
    rebuilt = tiles.mosaic_path("flights/F9/mosaic.tif")
    assert rebuilt != first and len(gets) == 2

    import morecantile
    from pyproj import Transformer

    from tests.unit.api.routers.test_tiles import EPSG, NORTH_M, WEST_M

    lon, lat = Transformer.from_crs(EPSG, 4326, always_xy=True).transform(WEST_M + 50, NORTH_M - 100)
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 17)
    assert tiles.render_tile(first, x=t.x, y=t.y, z=t.z)[:8] == b"\x89PNG\r\n\x1a\n"
