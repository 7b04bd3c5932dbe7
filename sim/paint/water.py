"""Water materials: rivers, ponds, muddy water, pools and discoloured water."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.paint.raster import (
    _lerp,
    _mul,
    _rgb,
    _Roi,
    _soft,
)
from sim.world import WorldObject

if TYPE_CHECKING:
    from sim.paint.painter import Painter


def paint_river(painter: Painter, o: WorldObject) -> None:
    _water(painter, o, _rgb(58, 84, 80))


def paint_pond(painter: Painter, o: WorldObject) -> None:
    rng = painter.rng(o)
    _water(painter, o, _rgb(*rng.choice([(60, 92, 78), (48, 74, 70), (70, 102, 84), (55, 80, 88)])))


def paint_muddy_water(painter: Painter, o: WorldObject) -> None:
    rng = painter.rng(o)
    _water(painter, o, _rgb(*rng.choice([(122, 104, 76), (110, 96, 72), (132, 116, 86)])))


def _water(painter: Painter, o: WorldObject, base: np.ndarray) -> None:
    def colour(roi: _Roi) -> np.ndarray:
        col = painter.varied(base, roi, macro=0.035, meso=0.02, micro=0.015, ch=2)
        return col

    res = painter.fill(o.polygon, colour)
    if res is not None:
        roi, alpha = res
        # A darker wet bank along the shore.
        inner = _soft(alpha, max(1.0, 0.8 / painter.gsd))
        region = painter.canvas[roi.sl]
        region[:] = _mul(np.ascontiguousarray(region), 1.0 - 0.6 * np.clip(alpha - inner, 0, 1))


def paint_pool(painter: Painter, o: WorldObject) -> None:
    painter.fill(o.polygon, _rgb(222, 222, 212))
    inner = painter.cached_geom(o, "inner", lambda p: p.buffer(-0.4, join_style="mitre"))
    if inner.is_empty:
        return
    cx, cy, ang, length, _ = painter.frame_of(o)

    def colour(roi: _Roi) -> np.ndarray:
        u, _ = painter.local(roi, z=0, origin=(cx, cy), angle_deg=ang)
        depth = np.clip(0.5 + u / max(length, 1.0), 0, 1)
        base = _lerp(depth, _rgb(88, 190, 215), _rgb(40, 140, 190))
        return _mul(base, 1.0 + 0.06 * painter.noise("micro", roi, 1))

    painter.fill(inner, colour)


def paint_water_discoloration(painter: Painter, o: WorldObject) -> None:
    rng = painter.rng(o)
    # Unnatural colours: milky, rust, black, purple-red, ochre, chalky turquoise.
    col = _rgb(*rng.choice([(200, 198, 182), (150, 78, 48), (26, 30, 28), (170, 64, 44), (122, 52, 84),
                            (210, 190, 120), (120, 186, 190)]))
    strength = float(rng.uniform(0.7, 0.9))
    soft = min(25.0, 1.0 / painter.gsd)

    res = painter.fill(o.polygon, lambda roi: painter.varied(col, roi, meso=0.08, micro=0.03, ch=0),
                    alpha_scale=strength, soften_px=soft)
    del res
