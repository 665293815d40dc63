"""Place search that works offline: districts, named places and street addresses — no Flask.

Named places (POIs: squares, schools, stations …) and street addresses are optional layers a
municipality imports from a GeoPackage, GeoJSON, CSV or Excel file (``tryggkarta places
import``); files are read by the ingest readers (:func:`tryggkarta.ingest.registry.read_table`).
A row needs a name (``name``/``namn``; for addresses ``adress``/``address`` or a street plus a
house number, as in OpenStreetMap's ``addr:street``/``addr:housenumber``) and a place: a
geometry (polygons count by a point inside them) or lon/lat (WGS84) or x/y columns (the file's
CRS, else ``--crs``, else the working CRS). Rows without either, or outside the installation's
region, are skipped and counted. A re-import of a kind replaces that kind.

:func:`search` looks up districts (areas of kind ``district``) and places by name: names that
start with the text first, then names containing it; case and surrounding spaces ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import case, delete, func, insert, select

from tryggkarta import params
from tryggkarta.errors import BadInput
from tryggkarta.geo import parse_region, to_wgs84, transform
from tryggkarta.store import Filters, Place, layer_frame
from tryggkarta.store.engine import Database

KINDS = ("place", "address")
PLURAL = {"place": "places", "address": "addresses"}
MIN_QUERY, MAX_QUERY = 2, 100
MAX_RESULTS = 50
NAME_COLUMNS = {
    "place": ("name", "namn", "benamning", "benämning", "ortnamn", "label"),
    "address": ("adress", "address", "gatuadress", "belagenhetsadress", "beladress"),
}
STREET_COLUMNS = ("addr:street", "gata", "gatunamn", "street", "adressomrade")
NUMBER_COLUMNS = ("addr:housenumber", "nummer", "husnummer", "housenumber", "adressplatsnummer")
CATEGORY_COLUMNS = ("category", "kategori", "typ", "type", "amenity")
LON_COLUMNS = ("lon", "lng", "long", "longitude", "longitud")
LAT_COLUMNS = ("lat", "latitude", "latitud")
X_COLUMNS = ("x", "e", "easting", "ost", "öst")
Y_COLUMNS = ("y", "n", "northing", "nord")
_SPACE = re.compile(r"\s+")


def fold(text: str) -> str:
    """A name as compared in search: case-folded, spaces collapsed (å, ä, ö kept)."""
    return _SPACE.sub(" ", str(text)).strip().casefold()


@dataclass
class PlacesImport:
    """What an import did: rows stored, rows skipped and why (reason -> count)."""

    kind: str
    added: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def _column(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lower = {str(c).strip().casefold(): c for c in frame.columns}
    for name in names:
        if name in lower:
            return lower[name]
    return None


def _numbers(values: pd.Series) -> np.ndarray:
    text = values.astype("string").str.strip().str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _names(frame: pd.DataFrame, kind: str) -> pd.Series:
    col = _column(frame, NAME_COLUMNS[kind])
    if col is None and kind == "address":
        street, number = _column(frame, STREET_COLUMNS), _column(frame, NUMBER_COLUMNS)
        if street is not None:
            names = frame[street].astype("string").str.strip()
            if number is not None:
                nums = frame[number].astype("string").str.strip().fillna("")
                names = (names + " " + nums).str.strip()
            return names
    if col is None:
        wanted = ", ".join(NAME_COLUMNS[kind])
        extra = " or a street and a house number column" if kind == "address" else ""
        raise BadInput(
            f"The file has no name column for {PLURAL[kind]}: expected one of {wanted}{extra} among "
            f"{', '.join(map(str, frame.columns[:30]))}."
        )
    return frame[col].astype("string").str.strip()


def _xy(table: Any, srid: int, crs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Working-CRS x/y per row (NaN where the row has no usable place)."""
    frame = table.frame
    if table.geometry is not None:
        geoms = np.asarray(table.geometry.values, dtype=object)
        ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        points = np.full(len(geoms), None, dtype=object)
        points[ok] = shapely.point_on_surface(geoms[ok])
        x = np.where(ok, shapely.get_x(points), np.nan) if ok.any() else np.full(len(geoms), np.nan)
        y = np.where(ok, shapely.get_y(points), np.nan) if ok.any() else np.full(len(geoms), np.nan)
        source = table.crs or crs
        if source is None:
            raise BadInput("The file's geometries have no CRS; give one with --crs (e.g. 3006).")
        return transform(x, y, source, srid)
    lon, lat = _column(frame, LON_COLUMNS), _column(frame, LAT_COLUMNS)
    if lon is not None and lat is not None:
        return transform(_numbers(frame[lon]), _numbers(frame[lat]), 4326, srid)
    xc, yc = _column(frame, X_COLUMNS), _column(frame, Y_COLUMNS)
    if xc is not None and yc is not None:
        return transform(_numbers(frame[xc]), _numbers(frame[yc]), crs or srid, srid)
    raise BadInput(
        "The file has no coordinates: a geometry, lon/lat (WGS84) or x/y columns are needed "
        f"among {', '.join(map(str, frame.columns[:30]))}."
    )


def read_places(path: Path, kind: str, srid: int, crs: Any = None) -> pd.DataFrame:
    """A places file as rows ``name``, ``category``, ``x``, ``y`` (working CRS; NaN where
    the row has no usable place, empty name where it has no name)."""
    from tryggkarta.ingest.registry import ReadOptions, read_table

    if kind not in KINDS:
        raise BadInput(f"Unknown kind of place: {params.shown(kind)}. Valid: {', '.join(KINDS)}.")
    table = read_table(Path(path), ReadOptions(crs=crs))
    names = _names(table.frame, kind)
    x, y = _xy(table, srid, crs)
    category = _column(table.frame, CATEGORY_COLUMNS)
    return pd.DataFrame(
        {
            "name": names.fillna("").str.slice(0, 300).to_numpy(dtype=object),
            "category": (
                table.frame[category].astype("string").str.slice(0, 100).to_numpy(dtype=object)
                if category is not None
                else None
            ),
            "x": np.asarray(x, dtype=float),
            "y": np.asarray(y, dtype=float),
        }
    )


def import_places(
    db: Database, path: Path, kind: str, crs: Any = None, source: str | None = None
) -> PlacesImport:
    """Read ``path`` and replace the stored places of ``kind`` with its rows (one transaction:
    all or nothing, and importing the same file again leaves the same places)."""
    records, result = prepare_places(db, path, kind, crs=crs, source=source)
    with db.session() as s:
        s.execute(delete(Place).where(Place.kind == kind))
        s.execute(insert(Place), records.to_dict("records"))
    result.added = len(records)
    return result


def prepare_places(
    db: Database, path: Path, kind: str, crs: Any = None, source: str | None = None
) -> tuple[pd.DataFrame, PlacesImport]:
    """The rows :func:`import_places` would store (and what it would skip), writing nothing:
    the admin page's preview runs this, its confirm runs :func:`import_places`.

    Raises BadInput when no row is usable (nothing is replaced by an empty file)."""
    rows = read_places(path, kind, db.srid, crs)
    region = parse_region(db.settings.region)
    result = PlacesImport(kind)
    has_name = rows["name"].astype(str).str.strip().str.len().to_numpy() > 0
    finite = np.isfinite(rows["x"].to_numpy()) & np.isfinite(rows["y"].to_numpy())
    inside = np.zeros(len(rows), dtype=bool)
    if finite.any():
        lon, lat = to_wgs84(rows["x"].to_numpy()[finite], rows["y"].to_numpy()[finite], db.srid)
        inside[finite] = region.contains_lonlat(lon, lat)
    for reason, mask in (
        ("no name", ~has_name),
        ("no usable coordinates", has_name & ~finite),
        (f"outside {region.name}", has_name & finite & ~inside),
    ):
        if mask.any():
            result.skipped[reason] = int(mask.sum())
    keep = rows[has_name & finite & inside]
    if keep.empty:
        raise BadInput(
            f"No row of {Path(path).name} is a usable {kind}: "
            + "; ".join(f"{n} {r}" for r, n in result.skipped.items())
        )
    records = pd.DataFrame(
        {
            "kind": kind,
            "name": keep["name"].to_numpy(),
            "name_key": keep["name"].map(fold).str.slice(0, 300).to_numpy(),
            "category": keep["category"].to_numpy() if "category" in keep else None,
            "municipality_code": region.municipality_code,
            "x": keep["x"].to_numpy(),
            "y": keep["y"].to_numpy(),
            "source": (source or Path(path).name)[:300],
        }
    )
    records = records.astype(object).where(records.notna(), None)
    result.added = len(records)
    return records, result


def place_sets(db: Database) -> list[dict[str, Any]]:
    """What is stored, per kind and source file: ``kind``, ``source``, ``n`` places."""
    with db.session() as s:
        rows = s.execute(
            select(Place.kind, Place.source, func.count())
            .group_by(Place.kind, Place.source)
            .order_by(Place.kind, Place.source)
        ).all()
    return [{"kind": k, "source": src or "", "n": int(n)} for k, src, n in rows]


def delete_places(db: Database, kind: str, source: str | None = None) -> int:
    """Delete the stored places of ``kind`` (only those from ``source`` when given); how many."""
    if kind not in KINDS:
        raise BadInput(f"Unknown kind of place: {params.shown(kind)}. Valid: {', '.join(KINDS)}.")
    stmt = delete(Place).where(Place.kind == kind)
    if source is not None:
        stmt = (
            stmt.where(Place.source == source)
            if source
            else stmt.where((Place.source == "") | Place.source.is_(None))
        )
    with db.session() as s:
        return int(s.execute(stmt).rowcount or 0)


def parse_search(text: str | None, t: params.Translate = params.swedish) -> str:
    """The search text, checked: 2–100 printable characters."""
    value = (text or "").strip()
    if len(value) < MIN_QUERY:
        raise BadInput(t("Skriv minst %(n)s tecken att söka efter.", n=MIN_QUERY))
    if len(value) > MAX_QUERY or not value.isprintable():
        raise BadInput(t("Sökningen ska vara högst %(n)s vanliga tecken.", n=MAX_QUERY))
    return value


def search(db: Database, text: str, limit: int = 10) -> list[dict[str, Any]]:
    """Districts and places whose names match ``text``: ``name``, ``kind`` (``district``,
    ``place``, ``address``), ``category``, ``lon``/``lat`` (WGS84) and, for districts,
    ``bounds`` (west, south, east, north). Prefix matches first, districts before places."""
    key = fold(text)
    region = parse_region(db.settings.region)
    out: list[dict[str, Any]] = []
    areas = layer_frame(
        db, "areas", Filters(municipality_code=region.municipality_code), columns=["name", "kind"]
    )
    areas = areas[(areas["kind"] == "district") & areas["name"].notna()]
    if not areas.empty:
        folded = areas["name"].map(fold)
        hit = folded.str.contains(key, regex=False).to_numpy()
        areas, folded = areas[hit], folded[hit]
        if not areas.empty:
            order = np.lexsort((folded.to_numpy(), ~folded.str.startswith(key).to_numpy()))
            areas = areas.iloc[order]
            bounds = shapely.bounds(np.asarray(areas.geometry.values, dtype=object))
            lo_lon, lo_lat = to_wgs84(bounds[:, 0], bounds[:, 1], db.srid)
            hi_lon, hi_lat = to_wgs84(bounds[:, 2], bounds[:, 3], db.srid)
            out += [
                {
                    "name": name,
                    "kind": "district",
                    "category": None,
                    "lon": round(float((a + c) / 2), 6),
                    "lat": round(float((b + d) / 2), 6),
                    "bounds": [round(float(v), 6) for v in (a, b, c, d)],
                }
                for name, a, b, c, d in zip(
                    areas["name"], lo_lon, lo_lat, hi_lon, hi_lat, strict=True
                )
            ]
    like = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with db.session() as s:
        stmt = (
            select(Place.name, Place.kind, Place.category, Place.x, Place.y)
            .where(Place.name_key.like(f"%{like}%", escape="\\"))
            .order_by(
                case((Place.name_key.like(f"{like}%", escape="\\"), 0), else_=1),
                func.length(Place.name_key),
                Place.name_key,
            )
            .limit(limit)
        )
        if region.municipality_code:
            stmt = stmt.where(
                (Place.municipality_code == region.municipality_code)
                | Place.municipality_code.is_(None)
            )
        rows = s.execute(stmt).all()
    if rows:
        xs = np.array([r.x for r in rows])
        ys = np.array([r.y for r in rows])
        lon, lat = to_wgs84(xs, ys, db.srid)
        out += [
            {
                "name": r.name,
                "kind": r.kind,
                "category": r.category,
                "lon": round(float(a), 6),
                "lat": round(float(b), 6),
            }
            for r, a, b in zip(rows, lon, lat, strict=True)
        ]
    return out[:limit]


def count_places(db: Database) -> dict[str, int]:
    """Stored places per kind."""
    with db.session() as s:
        return dict(s.execute(select(Place.kind, func.count()).group_by(Place.kind)).all())
