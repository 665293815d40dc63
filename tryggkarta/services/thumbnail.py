"""A saved map's thumbnail: a small server-side SVG, no Flask, no data access.

The caller hands over what the *viewer* may see (GeoJSON in WGS84: the municipality and
district boundaries and the released or raw-detail cell layers — never points), and the
bounds to draw. Coordinates are projected with a local equirectangular projection (x scaled
by cos(latitude)), which at a municipality's extent is indistinguishable from SWEREF 99 TM.
Paths are built for a whole layer at once from shapely's coordinate arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import geopandas as gpd
import numpy as np
import shapely

WIDTH = 240
#: A thumbnail shows at least this much ground (metres), so a street-level view keeps its
#: surroundings (district lines, neighbouring cells) and stays recognisable.
MIN_SPAN_M = 2000.0
_M_PER_DEG = 111_320.0
#: fill colours per layer key (incidents red, survey blue); other layers grey.
FILLS = {"incidents": "#c0392b", "survey": "#2c7fb8"}


def _geometries(fc: dict[str, Any] | None) -> np.ndarray:
    features = (fc or {}).get("features") or []
    if not features:
        return np.empty(0, dtype=object)
    frame = gpd.GeoDataFrame.from_features(features)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    return geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]


def _path(geoms: np.ndarray, project: Any) -> str:
    """One SVG path ``d`` for all polygons (and lines) in ``geoms``."""
    if not len(geoms):
        return ""
    parts = shapely.get_parts(geoms)
    polys = parts[shapely.get_type_id(parts) == 3]
    lines = parts[np.isin(shapely.get_type_id(parts), (1, 2))]
    rings = np.concatenate([shapely.get_rings(polys), lines]) if len(parts) else parts
    if not len(rings):
        return ""
    coords, index = shapely.get_coordinates(rings, return_index=True)
    x, y = project(coords[:, 0], coords[:, 1])
    first = np.r_[True, index[1:] != index[:-1]]
    last = np.r_[index[1:] != index[:-1], True]
    cmd = np.where(first, "M", "L")
    text = np.char.add(
        np.char.add(np.char.add(cmd, np.char.mod("%.1f", x)), " "), np.char.mod("%.1f", y)
    )
    text = np.where(last, np.char.add(text, "Z"), text)
    return "".join(text.tolist())


def render_svg(parts: dict[str, Any], title: str = "", width: int = WIDTH) -> str:
    """An SVG document of ``parts``.

    Parameters
    ----------
    parts : dict
        ``bounds`` (WGS84 west, south, east, north), ``areas`` (FeatureCollection with
        ``kind`` = ``municipality`` / ``district``) and ``layers``: a sequence of
        ``(key, FeatureCollection)`` drawn in order.
    title : str
        The accessible title (escaped here).

    Returns
    -------
    str
        ``<svg …>`` with a viewBox of ``width`` × height (aspect from the bounds).
    """
    bounds: Sequence[float] | None = parts.get("bounds")
    if not bounds:
        bounds = (11.0, 55.0, 24.0, 69.0)  # Sweden
    w, s, e, n = (float(v) for v in bounds)
    kx = np.cos(np.radians((s + n) / 2))
    half_lat = max((n - s) / 2, MIN_SPAN_M / _M_PER_DEG / 2)
    half_lon = max((e - w) / 2, MIN_SPAN_M / (_M_PER_DEG * kx) / 2)
    cx, cy = (w + e) / 2, (s + n) / 2
    w, s, e, n = cx - half_lon, cy - half_lat, cx + half_lon, cy + half_lat
    span_x, span_y = max((e - w) * kx, 1e-6), max(n - s, 1e-6)
    height = int(np.clip(round(width * span_y / span_x), width // 3, width * 2))
    scale = min(width / span_x, height / span_y)
    off_x = (width - span_x * scale) / 2
    off_y = (height - span_y * scale) / 2

    def project(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return off_x + (lon - w) * kx * scale, off_y + (n - lat) * scale

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label={quoteattr(title)}>',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#f6f6f3"/>',
    ]
    for key, fc in parts.get("layers") or []:
        d = _path(_geometries(fc), project)
        if d:
            fill = FILLS.get(key, "#777777")
            out.append(f'<path d="{d}" fill="{fill}" fill-opacity="0.6" stroke="none"/>')
    areas = (parts.get("areas") or {}).get("features") or []
    for kind, stroke, weight in (("district", "#6b6b6b", 0.7), ("municipality", "#222222", 1.6)):
        chosen = {
            "type": "FeatureCollection",
            "features": [f for f in areas if (f.get("properties") or {}).get("kind") == kind],
        }
        d = _path(_geometries(chosen), project)
        if d:
            out.append(
                f'<path d="{d}" fill="none" stroke="{stroke}" stroke-width="{weight}" '
                'stroke-linejoin="round"/>'
            )
    out.append("</svg>")
    return "".join(out)
