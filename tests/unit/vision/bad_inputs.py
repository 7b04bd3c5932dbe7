"""Bad uploads built in code (no binary blobs in git), shared by the ingest tests and bench/bench_bad_inputs.py."""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image
from rasterio.io import MemoryFile
from rasterio.transform import from_origin


def patched_dimensions(data: bytes, w: int, h: int) -> bytes:
    """Rewrite the SOF0 frame header so the JPEG claims another size (a decompression bomb)."""
    i = data.index(b"\xff\xc0")
    return data[: i + 5] + struct.pack(">HH", h, w) + data[i + 9:]


def jpeg_declaring_100mp() -> bytes:
    """A tiny 8x8 JPEG, no tags at all, whose frame header claims 10000x10000 (the issue's 631-byte file)."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(buf, "JPEG")
    return patched_dimensions(buf.getvalue(), 10000, 10000)


def sparse_geotiff(*, width_px: int = 15000, height_px: int = 15000) -> bytes:
    """A tiled GeoTIFF declaring 225 MP with no tile written: a few KB on disk, all zeros when read."""
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=width_px, height=height_px, count=3, dtype="uint8", tiled=True,
                      blockxsize=512, blockysize=512, sparse_ok=True, crs="EPSG:32649",
                      transform=from_origin(700000, 2548000, 0.05, 0.05)):
            pass
        return mem.read()


def twelve_bit_geotiff(*, size_px: tuple[int, int] = (400, 300), seed: int = 0) -> bytes:
    """A 16-bit RGB ortho holding 12-bit data (0..4095), as many survey cameras write."""
    w, h = size_px
    rng = np.random.default_rng(seed)
    ramp = np.linspace(300, 3800, w)[None, :].repeat(h, axis=0)
    pixels = np.stack([ramp + rng.normal(0, 60, (h, w)) for _ in range(3)]).clip(0, 4095).astype(np.uint16)
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=w, height=h, count=3, dtype="uint16", crs="EPSG:32649",
                      transform=from_origin(700000, 2548000, 0.05, 0.05)) as dst:
            dst.write(pixels)
        return mem.read()
