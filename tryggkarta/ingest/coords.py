"""Positions: coordinate columns or file geometries into the working CRS, inside the region.

* A declared CRS (GeoPackage, Shapefile .prj, GeoJSON) is honoured; a CSV's CRS is inferred
  from the value ranges (:func:`tryggkarta.geo.infer_point_crs`) unless given, and the report
  says which.
* Columns swapped in the whole file (lat in "lon", N in "E") and single swapped rows are
  fixed *with a warning*.
* Rows outside the configured region, or outside a chosen municipality plus a margin, are
  rejected row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from tryggkarta import geo
from tryggkarta.errors import ConfigError
from tryggkarta.ingest.files import bad
from tryggkarta.ingest.parse import parse_numbers
from tryggkarta.ingest.report import Note, Reason

#: The explanations of :func:`tryggkarta.geo.infer_point_crs` as Swedish message keys.
WHY = {
    "WGS84 lon/lat (values within Sweden's degrees)": "WGS84 lon/lat (värden inom Sveriges grader)",
    "WGS84 with latitude and longitude columns swapped": "WGS84 med latitud- och longitudkolumnerna omkastade",
    "SWEREF 99 TM easting/northing (metre values within Sweden)": "SWEREF 99 TM öst/nord (metervärden inom Sverige)",
    "SWEREF 99 TM with E and N columns swapped": "SWEREF 99 TM med E- och N-kolumnerna omkastade",
    "RT90 2.5 gon V easting/northing (metre values within Sweden)": "RT90 2.5 gon V öst/nord (metervärden inom Sverige)",
    "RT90 2.5 gon V with X and Y columns swapped": "RT90 2.5 gon V med X- och Y-kolumnerna omkastade",
    "WGS84 lon/lat (degree values)": "WGS84 lon/lat (gradvärden)",
}

if TYPE_CHECKING:
    import pandas as pd

    from tryggkarta.ingest.registry import RawTable
    from tryggkarta.ingest.report import ImportReport

#: Margin around a chosen municipality within which points are still accepted (metres).
MUNICIPALITY_MARGIN_M = 1000.0


@dataclass
class Area:
    """Where rows may lie, in the working CRS."""

    polygon: Any
    label: str
    #: the label as a Swedish message key and its parameters (translated at render time)
    key: tuple[str, dict] = ("%(label)s", {})


def target_area(working_crs: int, region: str, municipality_code: str | None) -> Area:
    """The configured region, narrowed to a municipality (+ margin) when one is chosen."""
    try:
        if municipality_code:
            poly = geo.municipality(municipality_code, working_crs).buffer(MUNICIPALITY_MARGIN_M)
            name = geo.muni_name(municipality_code)
            label = f"municipality {municipality_code} {name} (+1 km)"
            key = ("kommunen %(code)s %(name)s (+1 km)", {"code": municipality_code, "name": name})
        else:
            reg = geo.parse_region(region)
            poly = geo.region_polygon(reg, working_crs)
            if reg.municipality_codes:
                poly = poly.buffer(MUNICIPALITY_MARGIN_M)
            label = f"the region {reg.name}"
            key = ("regionen %(name)s", {"name": reg.name})
    except ConfigError as exc:
        raise bad(exc.message, "bad_municipality") from None
    shapely.prepare(poly)
    return Area(poly, label, key)


def as_crs(value: Any, what: str) -> CRS:
    """A pyproj CRS from an EPSG number/text, or a clear error."""
    try:
        text = str(value).strip()
        return CRS.from_user_input(int(text) if text.isdigit() else text)
    except (CRSError, ValueError, TypeError):
        raise bad(
            f"{what} {value!r} is not a known coordinate system (use an EPSG code such as 3006).",
            "bad_crs",
        ) from None


def crs_label(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg} ({crs.name})" if epsg else crs.name


def points_from_columns(
    frame: pd.DataFrame,
    cols: dict,
    rows: np.ndarray,
    given_crs: Any,
    working_crs: int,
    area: Area,
    report: ImportReport,
    reject: Any,
    state: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Working-CRS x/y arrays from lat/lon or x/y columns (NaN where rejected).

    With ``state`` (a :class:`~tryggkarta.ingest.normalise.StreamState`, one chunk of a
    file): the CRS and a whole-file swap are decided on the first chunk with usable
    coordinates and applied to the later ones; "no usable coordinates" is then the caller's
    check at the end of the file (``state.crs is None``).
    """
    if "lon" in cols and "lat" in cols:
        a_col, b_col, names = cols["lon"], cols["lat"], "lat/lon"
    elif "x" in cols and "y" in cols:
        a_col, b_col, names = cols["x"], cols["y"], "x/y"
    else:
        raise bad(
            "The file has no coordinate columns: expected lat/lon, latitud/longitud, x/y, E/N or "
            f"easting/northing among {', '.join(map(str, frame.columns[:30]))}.",
            "no_coordinates",
            columns=", ".join(map(str, frame.columns[:30])),
        )
    info_a: dict = {}
    info_b: dict = {}
    a, bad_a = parse_numbers(frame[a_col], info_a)
    b, bad_b = parse_numbers(frame[b_col], info_b)
    for info, col in ((info_a, a_col), (info_b, b_col)):
        if "ambiguous" in info:
            reject(info["ambiguous"], col, frame[col], Reason.AMBIGUOUS_NUMBER)
    reject(bad_a, a_col, frame[a_col], Reason.NOT_A_NUMBER)
    reject(bad_b & ~bad_a, b_col, frame[b_col], Reason.NOT_A_NUMBER)
    missing = ~(np.isfinite(a) & np.isfinite(b)) & ~bad_a & ~bad_b
    reject(missing & np.isnan(a), a_col, frame[a_col], Reason.MISSING_COORDINATE)
    reject(missing & ~np.isnan(a), b_col, frame[b_col], Reason.MISSING_COORDINATE)
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        if state is not None:
            return np.full(len(a), np.nan), np.full(len(a), np.nan)
        raise bad("No row of the file has usable coordinates.", "no_coordinates")
    if state is not None and state.crs is not None:
        src = state.crs
        if state.swapped:
            a, b = b, a
    elif given_crs is not None:
        src = as_crs(given_crs, "The CRS")
        report.crs_note = "given"
        report.crs_note_key = [Note.CRS_GIVEN, {}]
    else:
        epsg, swapped, why = geo.infer_point_crs(a[ok], b[ok], working_crs)
        if epsg is None:
            raise bad(
                f"The coordinate system of the {names} columns cannot be inferred ({why}); "
                "give it with --crs (e.g. 3006 for SWEREF 99 TM, 3010 for SWEREF 99 16 30).",
                "crs_unknown",
                values=why.split("around ", 1)[-1].split(" fit", 1)[0] if "around" in why else "",
            )
        src = CRS.from_epsg(epsg)
        report.crs_note = f"inferred from the values: {why}"
        why_key = [WHY.get(why, "%(why)s"), {"why": why}]
        report.crs_note_key = [Note.CRS_INFERRED, {"why": why_key}]
        report.warn(Note.CRS_GUESSED, {"crs": crs_label(src), "why": why_key})
        if swapped:
            a, b = b, a
            report.warn(Note.COLUMNS_SWAPPED, {"a": a_col, "b": b_col, "why": why_key})
        if state is not None:
            state.swapped = bool(swapped)
    if state is not None:
        state.crs = src
    report.crs = crs_label(src)
    x, y = geo.transform(a, b, src, working_crs)
    inside = ok & shapely.contains_xy(area.polygon, np.nan_to_num(x), np.nan_to_num(y))
    # Single rows with their two coordinates swapped: outside as given, inside when swapped.
    cand = ok & ~inside
    if cand.any():
        sx, sy = geo.transform(b[cand], a[cand], src, working_crs)
        fits = np.isfinite(sx) & np.isfinite(sy)
        fits[fits] = shapely.contains_xy(area.polygon, sx[fits], sy[fits])
        if fits.any():
            idx = np.flatnonzero(cand)[fits]
            x[idx], y[idx] = sx[fits], sy[fits]
            inside[idx] = True
            if state is not None:
                state.swapped_rows.extend(int(r) for r in rows[idx])
                state.swapped_names = names
            else:
                report.warn(
                    Note.ROWS_SWAPPED,
                    {"count": len(idx), "names": names, "rows": _few(rows[idx])},
                )
    outside = ok & ~inside
    if outside.any():  # the "lat,lon" text is built only when a row is rejected
        reject(
            outside,
            f"{b_col},{a_col}",
            frame[b_col].astype("string") + "," + frame[a_col].astype("string"),
            Reason.OUTSIDE,
            {"area": list(area.key)},
        )
    x = np.where(inside, x, np.nan)
    y = np.where(inside, y, np.nan)
    return x, y


def geometries_from_file(
    raw: RawTable,
    given_crs: Any,
    working_crs: int,
    area: Area,
    points: bool,
    report: ImportReport,
    reject: Any,
) -> np.ndarray:
    """The file's geometries in the working CRS (None where rejected)."""
    geoms = raw.geometry
    declared = raw.crs
    if declared is None and given_crs is None:
        raise bad(
            "The file does not say which coordinate system it uses; give it with --crs.",
            "crs_unknown",
        )
    if declared is not None and given_crs is not None:
        given = as_crs(given_crs, "The CRS")
        if not CRS.from_user_input(declared).equals(given):
            report.warn(
                f"The file declares {crs_label(CRS.from_user_input(declared))}; the given CRS was ignored."
            )
    src = CRS.from_user_input(declared) if declared is not None else as_crs(given_crs, "The CRS")
    report.crs = crs_label(src)
    report.crs_note = "declared in the file" if declared is not None else "given"
    report.crs_note_key = [Note.CRS_DECLARED if declared is not None else Note.CRS_GIVEN, {}]
    values = np.asarray(geoms.values, dtype=object)
    empty = shapely.is_missing(values) | shapely.is_empty(values)
    reject(empty, "geometry", np.full(len(values), ""), Reason.NO_GEOMETRY)
    import geopandas as gpd

    series = gpd.GeoSeries(np.where(empty, None, values), crs=src).to_crs(working_crs)
    out = np.asarray(series.values, dtype=object)
    ok = ~empty & ~shapely.is_missing(out)
    kinds = shapely.get_type_id(out)
    if points:
        non_point = ok & (kinds != 0)
        if non_point.any():
            out[non_point] = shapely.point_on_surface(out[non_point])
            report.warn(
                f"{int(non_point.sum())} features were not points; their inner point was used."
            )
        valid_xy = ok.copy()
        inside = np.zeros(len(out), dtype=bool)
        inside[valid_xy] = shapely.contains_xy(
            area.polygon, shapely.get_x(out[valid_xy]), shapely.get_y(out[valid_xy])
        )
    else:
        invalid = ok & ~shapely.is_valid(np.where(ok, out, None))
        if invalid.any():
            out[invalid] = shapely.make_valid(out[invalid])
            report.warn(f"{int(invalid.sum())} invalid polygons were repaired (make_valid).")
        inside = np.zeros(len(out), dtype=bool)
        inside[ok] = shapely.intersects(area.polygon, out[ok])
    reject(
        ok & ~inside,
        "geometry",
        np.full(len(out), "(feature)"),
        Reason.OUTSIDE,
        {"area": list(area.key)},
    )
    return np.where(ok & inside, out, None)


def _few(rows: np.ndarray, n: int = 8) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:n])
    return shown + (", …" if len(rows) > n else "")
