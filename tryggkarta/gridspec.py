"""A square grid in the working CRS: the one definition the store and the analysis share.

The store counts per cell in SQL (:mod:`tryggkarta.store.grid`), the analysis computes on
the counts (:class:`tryggkarta.analysis.grid.Grid`, which adds how the cell size was chosen
and the point-to-cell arithmetic); both take a :class:`GridSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tryggkarta.errors import BadInput


@dataclass(frozen=True)
class GridSpec:
    """``nx`` × ``ny`` square cells of ``cell_size`` metres, origin (x0, y0) at the south-west."""

    x0: float
    y0: float
    cell_size: float
    nx: int
    ny: int

    def __post_init__(self) -> None:
        if not self.cell_size > 0 or self.nx <= 0 or self.ny <= 0:
            raise BadInput("A grid needs a positive cell size and at least one cell.")

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return (self.ny, self.nx)

    @property
    def n_cells(self) -> int:
        return self.nx * self.ny

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` of the whole grid."""
        return (
            self.x0,
            self.y0,
            self.x0 + self.nx * self.cell_size,
            self.y0 + self.ny * self.cell_size,
        )


def cell_polygons(grid: GridSpec, flat: np.ndarray, srid: int, digits: int = 6) -> list[list]:
    """GeoJSON polygon rings (WGS84 lon/lat) of the cells with flat indices ``flat``."""
    row, col = np.divmod(np.asarray(flat, dtype=np.int64), grid.nx)
    x0 = grid.x0 + col * grid.cell_size
    y0 = grid.y0 + row * grid.cell_size
    return square_rings(x0, y0, grid.cell_size, srid, digits)


def square_rings(
    x0: np.ndarray, y0: np.ndarray, size: float, srid: int, digits: int = 6
) -> list[list]:
    """GeoJSON polygon rings (WGS84 lon/lat) of squares of ``size`` with lower-left corners
    ``(x0, y0)`` in the working CRS ``srid`` (one projection call for all of them)."""
    x0 = np.asarray(x0, dtype=float)
    y0 = np.asarray(y0, dtype=float)
    x1, y1 = x0 + size, y0 + size
    xs = np.stack([x0, x1, x1, x0, x0], axis=1)
    ys = np.stack([y0, y0, y1, y1, y0], axis=1)
    from tryggkarta.geo import to_wgs84

    lon, lat = to_wgs84(xs.ravel(), ys.ravel(), srid)
    lon = np.round(lon, digits).reshape(xs.shape)
    lat = np.round(lat, digits).reshape(ys.shape)
    return [[list(map(list, zip(lo, la, strict=True)))] for lo, la in zip(lon, lat, strict=True)]
