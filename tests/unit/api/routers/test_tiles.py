"""Mosaic tiles over HTTP: the listing needs a token and hands out a signed XYZ template; a tile with a bad or
foreign signature is 403; a real tile of a patrol COG is a PNG with the mosaic's pixels where it has data
and transparent elsewhere; tiles outside the mosaic are 404."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import httpx
import morecantile
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from shapely.geometry import box, mapping

from dockpatrol.identity import Role
from tests.unit.api.routers.shared import Headers

WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")
#: A 200 m square at 2 m GSD near Guangzhou (UTM 49N); the left half is red, the right half has no data.
EPSG = 32649
WEST_M, NORTH_M, GSD_M, SIDE_PX = 700_000.0, 2_548_000.0, 2.0, 100


def _write_cog(path: Path) -> None:
    import rasterio
    from affine import Affine
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    rgb = np.zeros((3, SIDE_PX, SIDE_PX), np.uint8)
    rgb[0, :, : SIDE_PX // 2] = 220
    mask = np.zeros((SIDE_PX, SIDE_PX), np.uint8)
    mask[:, : SIDE_PX // 2] = 255
    raw = path.with_suffix(".raw.tif")
    with rasterio.open(raw, "w", driver="GTiff", width=SIDE_PX, height=SIDE_PX, count=3, dtype="uint8",
                       crs=f"EPSG:{EPSG}", transform=Affine(GSD_M, 0, WEST_M, 0, -GSD_M, NORTH_M)) as dst:
        dst.write(rgb)
        dst.write_mask(mask)
    cog_translate(raw, path, cog_profiles.get("deflate"), add_mask=True, quiet=True,
                  config={"GDAL_TIFF_INTERNAL_MASK": True})


def _lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    from pyproj import Transformer

    return Transformer.from_crs(EPSG, 4326, always_xy=True).transform(x_m, y_m)


@pytest.fixture
def mosaic(tmp_path: Path) -> str:
    """Area A1 with two patrols; the newer one (F2) has a stored mosaic, F1 has none."""
    from api import context
    from flight.types import Flight, FlightStatus
    from missions.types import Mission, PatrolArea
    from storage.repositories import areas, flights

    cog = tmp_path / "m.tif"
    _write_cog(cog)
    key = "flights/F2/mosaic.tif"
    context.object_store().put(key, cog.read_bytes(), content_type="image/tiff")
    (w, s), (e, n) = _lonlat(WEST_M, NORTH_M - SIDE_PX * GSD_M), _lonlat(WEST_M + SIDE_PX * GSD_M, NORTH_M)
    with context.database().unit_of_work() as session:
        areas.upsert(session=session, area=PatrolArea(id="A1", name="Riverside", polygon=mapping(box(w, s, e, n)),
                                                      scenarios=frozenset()))
        flights.save_mission(session=session, mission=Mission(id="M1", area_id="A1"))
        flights.save_flight(session=session, flight=Flight(id="F1", mission_id="M1", status=FlightStatus.LANDED,
                                                           started_at=datetime(2026, 5, 1, tzinfo=UTC)))
        flights.save_flight(session=session, flight=Flight(id="F2", mission_id="M1", status=FlightStatus.LANDED,
                                                           started_at=datetime(2026, 5, 2, tzinfo=UTC),
                                                           summary={"mosaic": {"key": key}}))
    return key


def _png(r: httpx.Response) -> np.ndarray:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))


def test_mosaics_need_a_token_and_tiles_need_a_valid_signature(client: TestClient, mosaic: str,
                                                              headers_for: Headers) -> None:
    assert client.get("/api/mosaics").status_code == 401
    listed = client.get("/api/mosaics", headers=headers_for(Role.OPERATOR)).json()
    assert [(m["flight_id"], m["area_id"], m["area_name"]) for m in listed] == [("F2", "A1", "Riverside")]
    template = listed[0]["tile_url"]
    x, y, z = _tile_at_red_half()
    url = template.format(z=z, x=x, y=y)
    assert client.get(url).status_code == 200
    r = client.get(url.split("&sig=")[0] + "&sig=" + "f" * 64)  # well-formed, but not ours
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    # A template signed for F2 does not open F1's (or any other) tiles.
    assert client.get(url.replace("/F2/", "/F1/")).status_code == 403
    assert client.get(url.split("?")[0]).status_code == 422


def _tile_at_red_half() -> tuple[int, int, int]:
    lon, lat = _lonlat(WEST_M + SIDE_PX * GSD_M * 0.25, NORTH_M - SIDE_PX * GSD_M * 0.5)
    t = WEB_MERCATOR.tile(lon, lat, 17)
    return t.x, t.y, t.z


def test_a_tile_shows_the_mosaic_and_is_transparent_outside_its_data(client: TestClient, mosaic: str,
                                                                    headers_for: Headers) -> None:
    listed = client.get("/api/mosaics", headers=headers_for(Role.OPERATOR)).json()
    template, (west, south, east, north) = listed[0]["tile_url"], listed[0]["bounds"]
    corner_w, corner_s = _lonlat(WEST_M, NORTH_M - SIDE_PX * GSD_M)
    assert west < east and south < north and abs(west - corner_w) < 1e-4 and abs(south - corner_s) < 1e-4
    # The zoom-16 tile (≈2.2 m px) over the edge of the data holds red pixels and transparent ones.
    lon_edge, lat = _lonlat(WEST_M + 100, NORTH_M - 100)
    t = WEB_MERCATOR.tile(lon_edge, lat, 16)
    img = _png(client.get(template.format(z=t.z, x=t.x, y=t.y)))
    assert img.shape == (256, 256, 4)
    b = WEB_MERCATOR.bounds(t)

    def pixel(lon: float, lat: float) -> np.ndarray:
        col = int((lon - b.left) / (b.right - b.left) * 256)
        row = int((b.top - lat) / (b.top - b.bottom) * 256)
        return img[row, col]

    red = pixel(*_lonlat(WEST_M + 90, NORTH_M - 100))
    assert red[3] == 255 and red[0] > 200 and red[1] < 30
    nodata = _lonlat(WEST_M + 112, NORTH_M - 100)
    assert b.left < nodata[0] < b.right and pixel(*nodata)[3] == 0
    assert (img[..., 3] == 0).any() and (img[..., 3] == 255).any()
    # Far from the mosaic: 404, not an empty image.
    far = WEB_MERCATOR.tile(lon_edge + 0.05, lat, 16)
    assert client.get(template.format(z=far.z, x=far.x, y=far.y)).status_code == 404
