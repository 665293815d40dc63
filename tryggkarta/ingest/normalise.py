"""From a :class:`RawTable` to the layer's canonical GeoDataFrame, rejecting bad rows.

The output has exactly the columns of ``domain.LAYER_FIELDS[layer]`` plus ``dedup_key`` and
``geometry`` (working CRS). A row-level problem (bad date, bad coordinate, NaN/inf, rating
outside 1–5, outside the region) rejects that row with its file row number, column, value
and reason; everything else is kept. Text is stored verbatim: escaping is the job of
whoever renders it (HTML, CSV).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import numpy as np
import pandas as pd

from tryggkarta.config import local_timezone
from tryggkarta.domain import LAYER_FIELDS, PRECISIONS, RATING_MAX, RATING_MIN
from tryggkarta.ingest import categories as cats
from tryggkarta.ingest.coords import geometries_from_file, points_from_columns, target_area
from tryggkarta.ingest.files import bad
from tryggkarta.ingest.mapping import Mapping, norm_header, resolve_columns
from tryggkarta.ingest.parse import parse_dates, parse_numbers
from tryggkarta.ingest.registry import RawTable
from tryggkarta.ingest.report import ImportReport, Note, Reason

POLISEN = Mapping(
    columns={
        "source_id": "id",
        "occurred_at": "datetime",
        "category": "type",
        "description": "summary",
        "address": "location_name",
        "lat": "lat",
        "lon": "lon",
    },
    source="Polisen (polisen.se/api/events)",
    licence="Polisen public information (PSI, lag 2010:566)",
    key="polisen",
    crs=4326,
    reporter_org="Polisen",
    name="polisen",
)
PRESETS = {"polisen": POLISEN}
#: Date fields that may lie in the future (a project's planned start and end).
PLANNED_DATES = frozenset({"start_date", "end_date"})
_CLOCK = r"^\d{1,2}[:.]\d{2}([:.]\d{2})?$"


@dataclass
class StreamState:
    """Whole-file state carried across the chunks of a streamed import (see ``normalise``).

    Decided on the first chunk and kept: the source CRS (inferred or given) and whether the
    columns are swapped, the date formats tried per column, whether a "time" column is a
    clock time. Carried: the dedup occurrence counts and ids seen, and the counts behind
    warnings, which :meth:`finish` writes to the report once, with whole-file totals.
    """

    dates: dict[str, dict] = dc_field(default_factory=dict)
    time_mode: dict[str, str] = dc_field(default_factory=dict)
    crs: Any = None  # pyproj CRS decided on the first chunk
    swapped: bool = False
    swapped_rows: list[int] = dc_field(default_factory=list)
    swapped_names: str = ""
    counts: dict[str, int] = dc_field(default_factory=dict)
    seen_ids: set = dc_field(default_factory=set)
    seen_hashes: Any = None  # sorted uint64 runs of the content hashes so far

    def count(self, key: str, n: int) -> None:
        if n:
            self.counts[key] = self.counts.get(key, 0) + int(n)

    def finish(self, report: ImportReport) -> None:
        """The warnings whose numbers are whole-file totals (same text as the one-piece path)."""
        from tryggkarta.ingest.coords import _few

        if self.swapped_rows:
            rows = np.asarray(self.swapped_rows)
            report.warn(
                Note.ROWS_SWAPPED,
                {"count": len(rows), "names": self.swapped_names, "rows": _few(rows)},
            )
        if self.counts.get("unknown_categories"):
            unknown = report.unknown_categories
            report.warn(
                Note.UNKNOWN_CATEGORIES,
                {"count": sum(unknown.values()), "distinct": len(unknown)},
            )
        if self.counts.get("precision"):
            report.warn(Note.UNKNOWN_PRECISION, {"count": self.counts["precision"]})
        if self.counts.get("repeated_id"):
            report.warn(Note.REPEATED_ID, {"count": self.counts["repeated_id"]})
        if self.counts.get("identical"):
            report.warn(Note.IDENTICAL, {"count": self.counts["identical"]})


class Rejector:
    """Records rejections once per row (the first reason wins)."""

    def __init__(self, rows: np.ndarray, report: ImportReport) -> None:
        self.rows = rows
        self.report = report
        self.mask = np.zeros(len(rows), dtype=bool)

    def __call__(
        self, where: np.ndarray, column: str, values: Any, reason: str, params: dict | None = None
    ) -> None:
        where = np.asarray(where, dtype=bool) & ~self.mask
        if not where.any():
            return
        vals = np.asarray(
            values.to_numpy(dtype=object) if isinstance(values, pd.Series) else values, dtype=object
        )
        for i in np.flatnonzero(where):  # a loop over rejected rows only
            value = vals[i]
            self.report.reject(
                int(self.rows[i]), str(column), None if _isna(value) else value, reason, params
            )
        self.mask |= where


def _isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(frame: pd.DataFrame, cols: dict, field: str, default: Any = None) -> pd.Series:
    """A text column (object dtype, None for missing) or the default everywhere."""
    col = cols.get(field)
    if col is None:
        return pd.Series([default] * len(frame), index=frame.index, dtype=object)
    if isinstance(col, list):
        series = frame[col].astype("string").agg(" ".join, axis=1)
    else:
        series = frame[col]
    if pd.api.types.is_float_dtype(series.dtype) and (series.dropna() % 1 == 0).all():
        series = series.astype("Int64")
    series = series.astype("string").str.strip()
    series = series.where(series.str.len() > 0)
    out = series.astype(object).where(series.notna(), default)
    return out


def _dates(
    frame: pd.DataFrame,
    cols: dict,
    field: str,
    mapping: Mapping,
    reject: Rejector,
    required: bool,
    report: ImportReport,
    state: StreamState | None = None,
) -> pd.Series:
    col = cols.get(field)
    if col is None and required and mapping is not None and mapping.default_date:
        frame = pd.DataFrame(
            {"(default_date)": [mapping.default_date] * len(frame)}, index=frame.index
        )
        col = "(default_date)"
        report.warn(
            f"The file has no dates; every row was given {mapping.default_date} from the mapping."
        )
    if col is None:
        if required:
            raise bad(
                f"The file has no date column for {field} (expected datum/date/tidpunkt …).",
                "no_date_column",
            )
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    joiner = mapping.date_join if mapping else " "
    values = (
        frame[col].astype("string").agg(joiner.join, axis=1)
        if isinstance(col, list)
        else frame[col]
    )
    name = "+".join(col) if isinstance(col, list) else col
    if field == "occurred_at" and "time" in cols:
        tcol = cols["time"]
        times = frame[tcol].astype("string").str.strip()
        clock = times.str.match(_CLOCK).fillna(False)
        # An hour of the day (0–23, "14" or "14.0"): a date + hour pair (Boston, Dallas …)
        hour = pd.to_numeric(times.where(times.str.fullmatch(r"\d{1,2}(\.0+)?").fillna(False)))
        is_hour = ((hour >= 0) & (hour <= 23)).fillna(False).astype(bool)
        mode = state.time_mode.get(field) if state is not None else None
        if mode is None:
            mode = (
                "clock"
                if clock.mean() > 0.5
                else "hour"
                if is_hour.mean() > 0.5
                else "full"
                if times.notna().mean() > 0.5
                else "none"
            )
            if state is not None:
                state.time_mode[field] = mode
        # Only dates without a time of their own take the time column's.
        dated = values.astype("string").str.strip()
        bare = ~dated.str.contains(r"[ T]\d{1,2}[:.]\d{2}", regex=True).fillna(False)
        if mode == "hour":
            hh = hour.where(is_hour).astype("Int64").astype("string").str.zfill(2)
            values = dated.where(~bare, dated + (" " + hh + ":00").fillna(""))
            name = f"{name}+{tcol}"
        elif mode == "clock":
            hhmm = (" " + times.str.replace(".", ":", regex=False)).fillna("")
            values = dated.where(~bare, dated + hhmm)
            name = f"{name}+{tcol}"
        elif mode == "full":
            values, name = frame[tcol], tcol  # the "time" column holds full timestamps (Houston)
    tz = mapping.timezone if mapping and mapping.timezone else local_timezone().key
    why: dict = {}
    parsed, bad_mask, used = parse_dates(
        values,
        fmt=mapping.date_format if mapping else None,
        tz=tz,
        # Projects are planned: their dates may lie in the future; events and answers not.
        future_days=None if field in PLANNED_DATES else 1.0,
        state=state.dates.setdefault(field, {}) if state is not None else None,
        why=why,
    )
    reject(why["future"], name, values, Reason.FUTURE_DATE)
    reject(why["early"], name, values, Reason.EARLY_DATE)
    reject(bad_mask, name, values, Reason.NOT_A_DATE)
    if required:
        reject(parsed.isna().to_numpy(), name, values, Reason.MISSING_DATE)
    if used and field in ("occurred_at", "answered_at"):
        report.date_formats = used
    return parsed


def _unknown(report: ImportReport, unknown: dict[str, int]) -> None:
    for key, n in sorted(unknown.items(), key=lambda kv: -kv[1]):
        report.unknown_categories[key] = report.unknown_categories.get(key, 0) + n


def normalise(
    raw: RawTable,
    layer: str,
    report: ImportReport,
    *,
    mapping: Mapping | None = None,
    crs: Any = None,
    working_crs: int = 3006,
    region: str = "SE",
    municipality_code: str | None = None,
    state: StreamState | None = None,
    area: Any = None,
    scope: tuple[str, ...] | None = None,
) -> tuple[Any, np.ndarray]:
    """The canonical GeoDataFrame and the file row number of each kept row.

    ``scope``: the municipalities the importing user may write to (their EST group, see
    :func:`tryggkarta.policy.raw_scope`; ``None`` = anywhere in the installation). A row
    of another municipality is rejected with the reason, like any other bad row.

    With ``state`` (a :class:`StreamState`), ``raw`` is one chunk of a file read in pieces
    (CSV point layers): the report's totals accumulate, whole-file decisions come from the
    first chunk, dedup keys equal those of the whole file in one piece, and warnings with
    counts wait for ``state.finish(report)``.
    """
    import geopandas as gpd

    if layer not in LAYER_FIELDS:
        raise bad(f"Unknown layer {layer!r}; choose one of {', '.join(LAYER_FIELDS)}.", "bad_layer")
    if raw.preset and mapping is None:
        mapping = PRESETS[raw.preset]
    frame = raw.frame.reset_index(drop=True)
    rows = np.asarray(raw.row_numbers)
    if state is None:
        report.rows_read = len(frame) + len(raw.bad_rows)
    else:
        report.rows_read += len(frame) + len(raw.bad_rows)
    for message, params in raw.warnings:
        report.warn(message, params)
    for row, column, value, reason, *params in raw.bad_rows:
        report.reject(row, column, value, reason, params[0] if params else None)
    cols = resolve_columns(layer, [str(c) for c in frame.columns], mapping)
    report.column_map.update(
        {k: ("+".join(v) if isinstance(v, list) else str(v)) for k, v in cols.items()}
    )
    reject = Rejector(rows, report)
    area = area or target_area(working_crs, region, municipality_code)
    given_crs = crs if crs is not None else (mapping.crs if mapping else None)
    point_layer = layer in ("incidents", "survey")
    if raw.geometry is not None:
        geoms = geometries_from_file(raw, given_crs, working_crs, area, point_layer, report, reject)
    else:
        if not point_layer:
            raise bad(
                f"A {layer} file needs polygon geometries (GeoPackage, GeoJSON, Shapefile, KML).",
                "no_geometry",
            )
        x, y = points_from_columns(
            frame, cols, rows, given_crs, working_crs, area, report, reject, state=state
        )
        geoms = None
    out = pd.DataFrame(index=frame.index)
    for field in LAYER_FIELDS[layer]:
        out[field] = None
    out["source_id"] = _text(frame, cols, "source_id")
    build = {"incidents": _incidents, "survey": _survey, "projects": _projects, "areas": _areas}[
        layer
    ]
    build(frame, cols, out, mapping, reject, report, municipality_code, state)

    keep = ~reject.mask
    if geoms is None:
        keep &= np.isfinite(x) & np.isfinite(y)
        geometry = gpd.points_from_xy(x[keep], y[keep])
    else:
        keep &= geoms != None  # noqa: E711 - elementwise on an object array
        geometry = geoms[keep]
    out = out.loc[keep].reset_index(drop=True)
    gdf = gpd.GeoDataFrame(out, geometry=geometry, crs=f"EPSG:{working_crs}")
    from tryggkarta.ingest.dedup import dedup_keys

    gdf = dedup_keys(gdf, layer, mapping, report, state=state)
    # After the keys (they hash the file's own values): every layer gets its municipality.
    gdf["municipality_code"] = municipality_codes(
        gdf, working_crs, municipality_code or default_municipality(region)
    )
    kept_rows = rows[keep][gdf.index.to_numpy()] if len(gdf) else rows[:0]
    if scope is not None and len(gdf):
        gdf, kept_rows = outside_scope(gdf, kept_rows, region, scope, report)
    return gdf, kept_rows


def outside_scope(
    gdf: Any, rows: np.ndarray, region: str, scope: tuple[str, ...], report: ImportReport
) -> tuple[Any, np.ndarray]:
    """Reject the rows whose municipality is outside the importer's ``scope`` (within the
    installation ``region``): the rest go on, as with every other rejected row."""
    from tryggkarta.services.municipalities import Reach

    reach = Reach.of(region, scope)
    column = gdf["municipality_code"]
    codes = column.to_numpy(object)
    if reach.codes is None:
        return gdf, rows
    ok = column.isin(reach.codes).to_numpy(bool)  # vectorised: a chunk is 100,000 rows
    if reach.unknown_admitted:
        ok |= column.isna().to_numpy(bool)
    for row, code in zip(rows[~ok], codes[~ok], strict=True):
        report.reject(int(row), "municipality_code", code or "", Reason.NOT_IN_SCOPE)
    if ok.all():
        return gdf, rows
    return gdf.loc[ok].reset_index(drop=True), rows[ok]


def default_municipality(region: str) -> str | None:
    """The installation's municipality (``TRYGGKARTA_REGION`` = a municipality code) or None."""
    from tryggkarta import geo
    from tryggkarta.errors import ConfigError

    try:
        return geo.parse_region(region).municipality_code
    except ConfigError:
        return None


def municipality_codes(gdf: Any, working_crs: int, default: str | None) -> pd.Series:
    """Each row's municipality code: the file's (incidents), else ``default`` (a chosen or the
    installation's municipality: every kept row lies in it, +1 km), else the municipality at
    the row's location (a polygon's inner point). County-precision incidents keep none."""
    import shapely

    from tryggkarta import geo

    if "municipality_code" in gdf.columns:
        codes = gdf["municipality_code"].astype(object).where(gdf["municipality_code"].notna())
    else:
        codes = pd.Series(None, index=gdf.index, dtype=object)
    todo = codes.isna().to_numpy(bool).copy()
    if "precision" in gdf.columns:
        todo &= (gdf["precision"] != "county").to_numpy(bool)
    if not todo.any():
        return codes
    if default:
        codes[todo] = default
        return codes
    geoms = np.asarray(gdf.geometry.values, dtype=object)[todo]
    shapes = shapely.get_type_id(geoms) != 0
    if shapes.any():  # a polygon: its inner point (points are their own)
        geoms = geoms.copy()
        geoms[shapes] = shapely.point_on_surface(geoms[shapes])
    codes[todo] = geo.municipality_codes_at(shapely.get_x(geoms), shapely.get_y(geoms), working_crs)
    return codes


def _incidents(frame, cols, out, mapping, reject, report, municipality_code, state=None) -> None:  # noqa: ANN001
    out["occurred_at"] = _dates(frame, cols, "occurred_at", mapping, reject, True, report, state)
    out["occurred_to"] = _dates(frame, cols, "occurred_to", mapping, reject, False, report, state)
    if "category" in cols:
        source_type = _text(frame, cols, "category")
        override = (mapping.categories if mapping else None) or None
        out["category"], unknown = cats.map_categories(source_type, override)
        _unknown(report, unknown)
        if unknown and state is not None:
            state.count("unknown_categories", sum(unknown.values()))
        elif unknown:
            report.warn(
                Note.UNKNOWN_CATEGORIES,
                {"count": sum(unknown.values()), "distinct": len(unknown)},
            )
        out["source_type"] = source_type
    else:
        out["category"] = "ovrigt"
        report.warn(Note.NO_CATEGORY)
    for field in ("subcategory", "description", "address"):
        out[field] = _text(frame, cols, field)
    out["reporter_org"] = _text(
        frame, cols, "reporter_org", mapping.reporter_org if mapping else None
    )
    if mapping and mapping.name == "polisen":
        county = cats.is_county(frame[cols["address"]])
        out["precision"] = np.where(county, "county", "municipality")
        out["municipality_code"] = _muni_codes(out["address"]).where(~county, None)
    else:
        prec = _text(frame, cols, "precision", (mapping.precision if mapping else None) or "exact")
        valid = prec.isin(list(PRECISIONS))
        if (~valid).any() and state is not None:
            state.count("precision", int((~valid).sum()))
        elif (~valid).any():
            report.warn(Note.UNKNOWN_PRECISION, {"count": int((~valid).sum())})
        out["precision"] = prec.where(valid, "exact")
        out["municipality_code"] = _text(frame, cols, "municipality_code", municipality_code)


def _muni_codes(names: pd.Series) -> pd.Series:
    from tryggkarta import geo

    by_name = {name.lower(): code for code, name in geo.municipality_codes().items()}
    return names.astype("string").str.strip().str.lower().map(by_name).astype(object)


def _survey(frame, cols, out, mapping, reject, report, municipality_code, state=None) -> None:  # noqa: ANN001
    out["survey"] = _text(frame, cols, "survey", mapping.source if mapping else None)
    out["answered_at"] = _dates(frame, cols, "answered_at", mapping, reject, False, report)
    if "rating" not in cols:
        raise bad("A survey file needs a rating column (betyg/rating, 1–5).", "no_rating_column")
    col = cols["rating"]
    rating, bad_num = parse_numbers(frame[col])
    wrong = ~np.isfinite(rating) | (rating % 1 != 0) | (rating < RATING_MIN) | (rating > RATING_MAX)
    reject(wrong | bad_num, col, frame[col], Reason.RATING, {"low": RATING_MIN, "high": RATING_MAX})
    out["rating"] = pd.array(np.where(wrong, 1, rating).astype(int))
    if "reasons" in cols:
        out["reasons"], unknown = cats.map_reasons(
            _text(frame, cols, "reasons"), (mapping.values.get("reasons") if mapping else None)
        )
        _unknown(report, unknown)
    if "time_of_day" in cols:
        tod, unknown = cats.map_simple("time_of_day", _text(frame, cols, "time_of_day"))
        if unknown:
            report.warn(f"Unknown time-of-day values left empty: {', '.join(unknown)}.")
        out["time_of_day"] = tod
    for field in ("comment", "age_band", "gender"):
        out[field] = _text(frame, cols, field)


def _projects(frame, cols, out, mapping, reject, report, municipality_code, state=None) -> None:  # noqa: ANN001
    out["case_number"] = _text(frame, cols, "case_number")
    out["name"] = _text(frame, cols, "name")
    out["name"] = out["name"].where(out["name"].notna(), out["case_number"])
    reject(
        out["name"].isna().to_numpy(),
        cols.get("name", "name"),
        out["name"],
        Reason.PROJECT_NAME,
    )
    kind = _text(frame, cols, "kind", mapping.kind if mapping else None)
    out["kind"], _u = cats.map_simple("kind_projects", kind.fillna("ovrigt"))
    status, _u = cats.map_simple(
        "status", _text(frame, cols, "status", "pagaende").fillna("pagaende")
    )
    out["status"] = status.where(status.notna(), "pagaende")
    for field in ("start_date", "end_date"):
        out[field] = (
            _dates(frame, cols, field, mapping, reject, False, report)
            .dt.tz_convert(local_timezone())
            .dt.date
        )
    out["description"] = _text(frame, cols, "description")


def _areas(frame, cols, out, mapping, reject, report, municipality_code, state=None) -> None:  # noqa: ANN001
    out["code"] = _text(frame, cols, "code")
    out["name"] = _text(frame, cols, "name")
    out["name"] = out["name"].where(out["name"].notna(), out["code"])
    reject(out["name"].isna().to_numpy(), cols.get("name", "name"), out["name"], Reason.AREA_NAME)
    fixed = mapping.kind if mapping and mapping.kind else None
    if "kind" in cols and not fixed:
        kind, _u = cats.map_simple("kind_areas", _text(frame, cols, "kind"))
        out["kind"] = kind.where(kind.notna(), "district")
    else:
        muni_like = {norm_header(str(cols.get(f, ""))) for f in ("name", "code")} & {
            "kommun",
            "kom_namn",
            "kommunnamn",
            "kommun_kod",
            "kommunkod",
            "kom_kod",
        }
        out["kind"] = fixed or ("municipality" if muni_like else "district")
    if (out["kind"] == "municipality").all():
        code = out["code"].astype("string")
        out["code"] = code.where(~code.str.fullmatch(r"\d{3}").fillna(False), "0" + code).astype(
            object
        )
