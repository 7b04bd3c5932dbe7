"""The twin's painter: fills the world's polygons into a pixel raster through any planar view.

A ``View`` says where ground points land in the raster (a pinhole camera through
dockpatrol.camera, or a north-up ortho grid); the painter projects each polygon's vertices,
fills them with cv2.fillPoly (exact for flat ground) and colours them with materials whose
texture is sampled in ground coordinates, so the same place looks the same in every frame.

Where things are:
- ``view``: :class:`View`, :class:`Sun`, :func:`sun_position`, :func:`homography`.
- ``painter``: :class:`~sim.paint.painter.Painter` (noise fields, fills, shadows, walls, scene order)
  and :func:`paint`.
- ``materials``: ``MATERIALS``, the registry from an object kind to the function that paints it,
  implemented in ``land``, ``water``, ``roads``, ``structures``, ``vegetation`` and ``veils``.
- ``raster``: pixel helpers (regions of interest, masks, blends, colours) the others share.
"""

from __future__ import annotations

from sim.paint.painter import paint
from sim.paint.view import Sun, View, homography, sun_position

__all__ = ["Sun", "View", "homography", "paint", "sun_position"]
