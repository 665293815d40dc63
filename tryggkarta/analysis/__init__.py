"""Pure numpy/scipy analysis: grid, Gi*, KDE, emerging hot spots, temporal profiles,
patrol and design hot spots, the rolling-origin forecast protocol (:mod:`.forecasting`). Arrays in, frozen dataclasses out; no I/O.

Coordinates are working-CRS metres (EPSG:3006 by default); 2-D arrays have shape
``(ny, nx)`` with row 0 in the south (see :class:`Grid`).
"""

from .design import DesignHotspot, design_hotspots
from .emerging import EmergingResult, emerging
from .gistar import GiStarResult, fdr_bh, gistar
from .grid import Grid
from .kde import KdeResult, kde
from .patrol import PatrolHotspot, patrol_hotspots
from .temporal import hour_weekday_profile, peak_windows

__all__ = [
    "DesignHotspot",
    "EmergingResult",
    "GiStarResult",
    "Grid",
    "KdeResult",
    "PatrolHotspot",
    "design_hotspots",
    "emerging",
    "fdr_bh",
    "gistar",
    "hour_weekday_profile",
    "kde",
    "patrol_hotspots",
    "peak_windows",
]
