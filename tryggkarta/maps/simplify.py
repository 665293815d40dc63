"""Polygons simplified for display: a page must not carry vertices no screen can show.

One imported 400k-vertex area made the public start page 12 MB. Areas and projects are
simplified in the working CRS (metres) with a tolerance of half a screen pixel at the
deepest zoom the page is meant for (:func:`tolerance_for_zoom`); topology is preserved, so
no polygon collapses or crosses itself, and a polygon smaller than the tolerance keeps its
shape. Vectorised (shapely 2), no Python loop over geometries.
"""

from __future__ import annotations

import math

import geopandas as gpd
import shapely

#: Web Mercator ground resolution at zoom 0 on the equator (metres per 256-px tile pixel).
_Z0_METRES_PER_PIXEL = 156_543.034
#: Deepest zoom the start page's polygons are drawn for (a block; streets are the basemap's).
DISPLAY_ZOOM = 16
#: Latitude of the installations (Sweden): metres per pixel shrink with cos(latitude).
DEFAULT_LATITUDE = 58.0


def tolerance_for_zoom(zoom: int, latitude: float = DEFAULT_LATITUDE) -> float:
    """Half a screen pixel at ``zoom`` in metres (zoom 16 at 58° N: about 0.6 m)."""
    if not 0 <= zoom <= 24:
        raise ValueError(f"zoom must be 0–24, got {zoom}")
    per_pixel = _Z0_METRES_PER_PIXEL * math.cos(math.radians(latitude)) / 2**zoom
    return per_pixel / 2


def simplify_for_display(
    frame: gpd.GeoDataFrame, zoom: int = DISPLAY_ZOOM, latitude: float = DEFAULT_LATITUDE
) -> gpd.GeoDataFrame:
    """``frame`` (a projected CRS in metres) with polygons simplified for ``zoom``.

    Returns a copy; points and empty frames come back unchanged. A geometry with at most
    five vertices, or one the simplification would empty or halve, keeps its original shape.
    """
    if frame is None or len(frame) == 0:
        return frame
    if frame.crs is not None and not frame.crs.is_projected:
        raise ValueError("simplify_for_display needs a projected CRS in metres")
    geoms = frame.geometry.to_numpy()
    simple = shapely.simplify(geoms, tolerance_for_zoom(zoom, latitude), preserve_topology=True)
    # nothing to save on a rectangle; a polygon near the tolerance's size would lose its shape
    keep = (
        shapely.is_empty(simple)
        | shapely.is_missing(simple)
        | (shapely.get_num_coordinates(geoms) <= 5)
        | (shapely.area(simple) < 0.5 * shapely.area(geoms))
    )
    simple[keep] = geoms[keep]
    out = frame.copy()
    out[frame.geometry.name] = gpd.GeoSeries(simple, index=frame.index, crs=frame.crs)
    return out


def vertex_count(frame: gpd.GeoDataFrame) -> int:
    """All vertices of ``frame``'s geometries (for measurements and tests)."""
    return int(shapely.get_num_coordinates(frame.geometry.to_numpy()).sum())
