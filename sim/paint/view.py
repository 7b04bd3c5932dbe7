"""Where the painter draws: a planar view of the ground (pinhole camera or ortho grid) and the sun."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np


@dataclass
class View:
    """A raster of ``width`` × ``height`` pixels looking at the ground plane of a world.

    ``to_px`` is the homography from UTM ground points (z = 0) to pixel coordinates and ``h0``
    the one from pixel coordinates to metres relative to ``origin_m`` on the ground plane;
    ``window_m`` bounds the ground that can appear (with margin for tall things). ``camera_m``
    (UTM x, y, z) is None for an orthographic view, where height does not move a point.
    """

    width: int
    height: int
    origin_m: tuple[float, float]
    to_px: np.ndarray
    h0: np.ndarray
    gsd_m: float
    window_m: tuple[float, float, float, float]
    camera_m: tuple[float, float, float] | None = None
    _maps: tuple[np.ndarray, np.ndarray] | None = None

    def matrix(self, z: float) -> np.ndarray | None:
        """UTM → pixel homography for points at height ``z``; None when the plane is not below the camera.

        A point at height z lies on the same ray as the ground point C + (P − C)·H/(H − z), so every
        height reuses the ground homography.
        """
        cam = self.camera_m
        if z == 0.0 or cam is None:
            return self.to_px
        if z >= cam[2]:
            return None
        k = cam[2] / (cam[2] - z)
        return self.to_px @ np.array([[k, 0.0, (1 - k) * cam[0]], [0.0, k, (1 - k) * cam[1]], [0.0, 0.0, 1.0]])

    def project(self, xy: np.ndarray, z: float = 0.0) -> np.ndarray:
        """Pixel coordinates (n, 2) of UTM points ``xy`` (n, 2) at height ``z``; NaN where not in front of the camera."""
        m = self.to_px if z == 0.0 else self.matrix(z)
        if m is None:
            return np.full(np.shape(xy), np.nan)
        q = np.dot(xy, m[:, :2].T)
        q += m[:, 2]
        out = q[:, :2] / q[:, 2:]
        if not (q[:, 2] > 0).all():
            out[q[:, 2] <= 0] = np.nan
        return out

    def ground_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """Local ground metres (x east, y north from ``origin_m``) under every pixel centre, float32."""
        if self._maps is None:
            h = self.h0.astype(np.float32)
            xs = np.arange(self.width, dtype=np.float32) + np.float32(0.5)
            ys = np.arange(self.height, dtype=np.float32)[:, None] + np.float32(0.5)
            gx = h[0, 0] * xs + (h[0, 1] * ys + h[0, 2])
            gy = h[1, 0] * xs + (h[1, 1] * ys + h[1, 2])
            if abs(h[2, 0]) + abs(h[2, 1]) > 1e-12:
                wq = h[2, 0] * xs + (h[2, 1] * ys + h[2, 2])
                np.reciprocal(wq, out=wq)
                gx *= wq
                gy *= wq
            elif h[2, 2] != 1.0:
                gx *= 1.0 / h[2, 2]
                gy *= 1.0 / h[2, 2]
            self._maps = (gx, gy)
        return self._maps


@dataclass(frozen=True)
class Sun:
    """Sun direction: azimuth clockwise from north and elevation above the horizon, degrees."""

    azimuth_deg: float
    elevation_deg: float

    @property
    def shadow_per_m(self) -> tuple[float, float]:
        """Ground offset (east, north) of the shadow of a point 1 m above the ground."""
        el = math.radians(max(self.elevation_deg, 8.0))
        az = math.radians(self.azimuth_deg)
        k = 1.0 / math.tan(el)
        return -math.sin(az) * k, -math.cos(az) * k

    @property
    def towards(self) -> tuple[float, float]:
        az = math.radians(self.azimuth_deg)
        return math.sin(az), math.cos(az)


def sun_position(at: datetime, lon: float, lat: float) -> Sun:
    """Approximate solar azimuth/elevation (NOAA low-precision formulas; ~0.5° is plenty here)."""
    n = at.timetuple().tm_yday
    hours = at.hour + at.minute / 60 + at.second / 3600
    g = 2 * math.pi / 365 * (n - 1 + (hours - 12) / 24)
    decl = (0.006918 - 0.399912 * math.cos(g) + 0.070257 * math.sin(g) - 0.006758 * math.cos(2 * g)
            + 0.000907 * math.sin(2 * g) - 0.002697 * math.cos(3 * g) + 0.00148 * math.sin(3 * g))
    eqtime = 229.18 * (0.000075 + 0.001868 * math.cos(g) - 0.032077 * math.sin(g)
                       - 0.014615 * math.cos(2 * g) - 0.040849 * math.sin(2 * g))
    solar_min = hours * 60 + eqtime + 4 * lon
    ha = math.radians(solar_min / 4 - 180)
    phi = math.radians(lat)
    cos_zen = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(ha)
    zen = math.acos(max(-1.0, min(1.0, cos_zen)))
    az = math.degrees(math.atan2(math.sin(ha), math.cos(ha) * math.sin(phi) - math.tan(decl) * math.cos(phi))) + 180
    return Sun(az % 360, 90 - math.degrees(zen))


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """3×3 projective map taking 4 points ``src`` onto ``dst`` (float64 DLT, no float32 rounding)."""
    a, b = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b.extend([u, v])
    h = np.linalg.solve(np.array(a, float), np.array(b, float))
    return np.append(h, 1.0).reshape(3, 3)
