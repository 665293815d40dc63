"""A square grid in the working CRS: the one definition the store and the analysis share.

The store counts per cell in SQL (:mod:`tryggkarta.store.grid`), the analysis computes on
the counts (:class:`tryggkarta.analysis.grid.Grid`, which adds how the cell size was chosen
and the point-to-cell arithmetic); both take a :class:`GridSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass

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
