"""The one disclosure step: every number or sentence that leaves the server for a role below
raw detail is made here, from counts that went through :class:`Rule`, never before.

The model (README, "Vem ser vad"):

* **Fixed releases.** Below raw detail, statistics exist only for a fixed 250 m grid anchored
  at the working CRS's origin, fixed periods (the last 52 whole weeks ending on the most recent
  Monday 00:00 local time, whole calendar years and quarters that have ended) and fixed
  category groups (:data:`CATEGORY_GROUPS`). Ad-hoc filters — any date window, category set,
  weekday, hour, cell size — are for raw-detail roles. A bounding box only selects which
  released cells come back; it never changes a number.
* **Suppression and rounding.** A count below ``k`` (``TRYGGKARTA_MIN_COUNT``, default 5) —
  zero included — is not published; every other count is rounded to a multiple of ``base`` (default ``k``). Sums
  and differences of published values are then multiples of ``base`` — never 1…k−1 — and a
  true value can only be bracketed, not recovered: cell minus margin, one period minus another,
  group minus total all leave a range at least ``base`` wide.
* **Shares in bands.** A share (e.g. unsafe survey answers) is published as a 10-point band,
  and only where both the part and the rest hold at least ``k`` records; where only one side
  does, the band is the half it lies in ("över 50 %" / "under 50 %"). So count × share never
  gives a suppressed count back.
* **Derived values** (trends, area sums, sentences) are computed from published values only.

Raw-detail roles get :data:`RAW_RULE` (no suppression, no rounding) through the same code.
Flask-free; numpy arrays in, plain values out.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from tryggkarta.domain import (
    INCIDENT_CATEGORIES,
    STREET_LEVEL_PRECISIONS,
    UNSAFE_MAX_RATING,
    Detail,
    Label,
    Trend,
)
from tryggkarta.errors import BadInput
from tryggkarta.gridspec import GridSpec

if TYPE_CHECKING:
    from tryggkarta.store.engine import Database

log = logging.getLogger(__name__)

#: The one grid of every release (metres, working CRS, anchored at 0/0).
RELEASE_CELL = 250.0
#: Width of a published share band.
SHARE_BAND = 0.1
#: Most cells one release grid may have (a county at 250 m fits; the whole country does not
#: yet — that needs sparse releases, issue #16).
MAX_RELEASE_CELLS = 2_000_000
#: Default period of a release.
DEFAULT_PERIOD = "52v"


class ReleaseTooLarge(BadInput):
    """The data cover more cells than one dense release grid holds."""


# --------------------------------------------------------------------------- the rule


@dataclass(frozen=True)
class Rule:
    """Suppress counts below ``k``, round the rest to a multiple of ``base``."""

    k: int
    base: int

    @property
    def raw(self) -> bool:
        return self.k <= 1 and self.base <= 1

    def value(self, n: float | int | None) -> int | None:
        """A count as published: ``None`` below ``k`` — zero included, so that "none" and "a
        few" look the same and cannot be told apart by differencing (raw rules keep 0)."""
        if n is None or (isinstance(n, float) and not math.isfinite(n)):
            return None
        n = int(n)
        if self.raw:
            return max(n, 0)
        if n < self.k:
            return None
        if self.base <= 1:
            return n
        return max(self.base, self.base * math.floor(n / self.base + 0.5))

    def values(self, counts: np.ndarray) -> np.ndarray:
        """Counts as published, vectorised: −1 where suppressed (0…k−1; raw rules keep 0)."""
        a = np.asarray(counts, dtype=np.int64)
        if self.raw:
            return a.copy()
        out = np.maximum(self.base, self.base * np.floor(a / self.base + 0.5)).astype(np.int64)
        out[a < self.k] = -1
        return out

    def band(self, part: int, whole: int) -> tuple[float, float] | None:
        """The published share ``part / whole`` as ``(low, high)``; ``None`` when not published."""
        low, high = self.bands(np.array([part]), np.array([whole]))
        return None if np.isnan(low[0]) else (float(low[0]), float(high[0]))

    def bands(self, part: np.ndarray, whole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`band` for arrays: ``(low, high)``, NaN where no share is published.

        A 10-point band where both the part and the rest hold ``k``; the half it lies in
        where only one side does; nothing otherwise (raw rules: the share itself)."""
        part = np.asarray(part, dtype=np.int64)
        whole = np.asarray(whole, dtype=np.int64)
        ok = (whole > 0) & (part >= 0) & (part <= whole)
        share = np.divide(part, whole, out=np.zeros(part.shape), where=whole > 0)
        low = np.full(part.shape, np.nan)
        high = np.full(part.shape, np.nan)
        if self.raw:
            low[ok], high[ok] = share[ok], share[ok]
            return low, high
        rest = whole - part
        both = ok & (part >= self.k) & (rest >= self.k)
        start = np.round(np.minimum(np.floor(share / SHARE_BAND) * SHARE_BAND, 1 - SHARE_BAND), 2)
        low[both], high[both] = start[both], np.round(start[both] + SHARE_BAND, 2)
        upper = ok & ~both & (part >= self.k)
        low[upper], high[upper] = 0.5, 1.0
        lower = ok & ~both & ~upper & (rest >= self.k)
        low[lower], high[lower] = 0.0, 0.5
        return low, high


RAW_RULE = Rule(1, 1)


def rule_for(level: Detail, min_count: int, base: int | None = None) -> Rule:
    """The rule for a detail level: raw roles see counts as they are."""
    if level is Detail.RAW:
        return RAW_RULE
    k = max(2, int(min_count))
    return Rule(k, int(base) if base else k)


def band_text(band: tuple[float, float] | None, lang: str = "sv") -> str | None:
    """``"20–30 %"`` (Swedish) / ``"20–30%"`` (English) for a band."""
    if band is None:
        return None
    low, high = (round(v * 100) for v in band)
    if low == high:
        return f"{low} %" if lang == "sv" else f"{low}%"
    return f"{low}–{high} %" if lang == "sv" else f"{low}–{high}%"


# --------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """A fixed release period ``[start, end)`` (aware UTC) with its key and labels."""

    key: str
    kind: str  # "52v", "year", "quarter"
    start: datetime
    end: datetime
    label_sv: str
    label_en: str

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_sv


def _tz(tz: ZoneInfo | str | None) -> ZoneInfo:
    from tryggkarta.config import local_timezone

    if isinstance(tz, ZoneInfo):
        return tz
    return ZoneInfo(tz) if tz else local_timezone()


def release_cut(now: datetime | None = None, tz: ZoneInfo | str | None = None) -> datetime:
    """The newest moment any release covers: the latest Monday 00:00 local time (UTC)."""
    zone = _tz(tz)
    local = (now or datetime.now(UTC)).astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    return datetime.combine(monday, time(0), zone).astimezone(UTC)


def _local(d: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), zone).astimezone(UTC)


def parse_period(
    key: str | None, now: datetime | None = None, tz: ZoneInfo | str | None = None
) -> Period:
    """The release period named ``key``: ``52v`` (default), ``2025`` or ``2025-K3``/``2025-Q3``.
    Only periods that have ended by :func:`release_cut` exist.

    Two nested levels of time at most (year → quarter): the attack suite's interval
    propagation pins hidden counts with a third (quarter → month) on the demo data, and none
    with two (tests/test_disclosure_attacks.py)."""
    zone = _tz(tz)
    cut = release_cut(now, zone)
    key = (key or DEFAULT_PERIOD).strip()
    if key in ("52v", "52w"):
        start = cut - timedelta(weeks=52)
        last = (cut - timedelta(days=1)).astimezone(zone).date()
        return Period(
            "52v",
            "52v",
            start,
            cut,
            f"52 veckor t.o.m. {last.isoformat()}",
            f"52 weeks to {last.isoformat()}",
        )
    try:
        if len(key) == 4 and key.isdigit():
            year = int(key)
            start_d, end_d = date(year, 1, 1), date(year + 1, 1, 1)
            kind, sv, en = "year", f"År {year}", f"Year {year}"
        elif len(key) == 7 and key[4] == "-" and key[5] in "KQkq" and key[6] in "1234":
            year, q = int(key[:4]), int(key[6])
            start_d = date(year, 3 * q - 2, 1)
            end_d = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
            kind, sv, en = "quarter", f"Kvartal {q} {year}", f"Q{q} {year}"
            key = f"{year}-K{q}"
        else:
            raise ValueError(key)
    except ValueError:
        raise BadInput(
            "Unknown period: use 52v (last 52 weeks), a year (2025) or a quarter (2025-K3). "
            "Months are not released: a third level of nested periods lets differencing pin "
            "hidden counts."
        ) from None
    if not 1900 <= year <= 2200:
        raise BadInput("The period's year must be between 1900 and 2200.")
    start, end = _local(start_d, zone), _local(end_d, zone)
    if end > cut:
        raise BadInput(
            f"The period {key} has not ended yet: releases exist only for whole periods."
        )
    return Period(key, kind, start, end, sv.capitalize(), en)


def previous(period: Period, tz: ZoneInfo | str | None = None) -> Period:
    """The period of the same kind just before ``period`` (for trends)."""
    zone = _tz(tz)
    if period.kind == "52v":
        start = period.start - timedelta(weeks=52)
        return Period(
            "52v-prev", "52v", start, period.start, "Föregående 52 veckor", "52 weeks before"
        )
    first = period.start.astimezone(zone).date()
    if period.kind == "year":
        key = str(first.year - 1)
    else:
        q = (first.month - 1) // 3 + 1
        key = f"{first.year}-K{q - 1}" if q > 1 else f"{first.year - 1}-K4"
    return parse_period(key, period.end, zone)


def period_choices(
    now: datetime | None = None, tz: ZoneInfo | str | None = None, years: int = 3
) -> list[Period]:
    """The periods offered in forms: 52 weeks, the last ``years`` years, the last 4 quarters."""
    zone = _tz(tz)
    cut = release_cut(now, zone)
    out = [parse_period("52v", now, zone)]
    last_year = (cut - timedelta(days=1)).astimezone(zone).year
    for year in range(last_year, last_year - years - 1, -1):
        try:
            out.append(parse_period(str(year), now, zone))
        except BadInput:
            continue
    d = (cut - timedelta(days=1)).astimezone(zone).date()
    year, q = d.year, (d.month - 1) // 3 + 1
    for _ in range(5):
        try:
            out.append(parse_period(f"{year}-K{q}", now, zone))
        except BadInput:
            pass
        year, q = (year, q - 1) if q > 1 else (year - 1, 4)
    seen: set[str] = set()
    return [p for p in out if not (p.key in seen or seen.add(p.key))][: 2 + years + 4]


# --------------------------------------------------------------------------- category groups


#: The fixed category groups of releases (a partition of the incident categories, plus all).
CATEGORY_GROUPS: dict[str, tuple[Label, tuple[str, ...]]] = {
    "alla": (Label("Alla kategorier", "All categories"), tuple(INCIDENT_CATEGORIES)),
    "skadegorelse": (
        Label("Skadegörelse, klotter och nedskräpning", "Vandalism, graffiti and litter"),
        ("skadegorelse", "klotter", "nedskrapning", "brand", "belysning_fel"),
    ),
    "ordning": (
        Label("Ordning, narkotika och ungdomar", "Disorder, drugs and youth gatherings"),
        ("ordningsstorning", "narkotika", "ungdomar"),
    ),
    "brott": (
        Label("Våld, hot, stöld och inbrott", "Violence, threats, theft and burglary"),
        ("vald_hot", "stold_inbrott"),
    ),
    "ovrigt": (Label("Trafik och övrigt", "Traffic and other"), ("trafik", "ovrigt")),
}
GROUP_OF: dict[str, str] = {
    cat: key for key, (_label, cats) in CATEGORY_GROUPS.items() if key != "alla" for cat in cats
}
assert set(GROUP_OF) == set(INCIDENT_CATEGORIES), "category groups must partition the categories"


def parse_group(key: str | None) -> str:
    key = (key or "alla").strip()
    if key not in CATEGORY_GROUPS:
        raise BadInput(f"Unknown category group; choose one of {', '.join(CATEGORY_GROUPS)}.")
    return key


def release_grid(bounds: tuple[float, float, float, float]) -> GridSpec:
    """The release grid over ``bounds``: :data:`RELEASE_CELL` cells on multiples of the cell."""
    size = RELEASE_CELL
    minx, miny, maxx, maxy = bounds
    x0, y0 = math.floor(minx / size) * size, math.floor(miny / size) * size
    nx = max(1, math.floor((maxx - x0) / size) + 1)
    ny = max(1, math.floor((maxy - y0) / size) + 1)
    if nx * ny > MAX_RELEASE_CELLS:
        raise ReleaseTooLarge(
            f"The data cover {nx * ny:,} release cells of {size:.0f} m, more than one release "
            f"holds ({MAX_RELEASE_CELLS:,}); set TRYGGKARTA_REGION to a municipality or county."
        )
    return GridSpec(x0, y0, size, nx, ny)


def cell_ids(grid: GridSpec, flat: np.ndarray) -> list[str]:
    """Stable cell names ``"E<col>N<row>"`` in absolute grid units (same in every release)."""
    row, col = np.divmod(np.asarray(flat, dtype=np.int64), grid.nx)
    c0, r0 = round(grid.x0 / grid.cell_size), round(grid.y0 / grid.cell_size)
    return [f"E{c}N{r}" for c, r in zip((col + c0).tolist(), (row + r0).tolist(), strict=True)]


# --------------------------------------------------------------------------- releases


@dataclass(frozen=True)
class Release:
    """Published values per cell of one release; arrays are flat over ``grid`` (−1 = suppressed).

    ``values`` always holds ``count``; incident releases add one array per category group
    (``g:<group>``) and ``trend`` (−1/0/+1 from published values, −2 where unknown); survey
    releases add ``unsafe``, ``band_lo``/``band_hi`` (NaN where unpublished) and ``reasons``
    (per cell, published ``[[reason, n], …]``).
    """

    layer: str
    period: Period | None
    group: str
    rule: Rule
    grid: GridSpec
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def shown(self) -> np.ndarray:
        """Flat indices of the cells that are published (count > 0)."""
        return np.flatnonzero(self.values["count"] > 0)


_CACHE: OrderedDict[tuple, Release] = OrderedDict()
_CACHE_LOCK = threading.Lock()


_BUILDING: dict[tuple, threading.Lock] = {}


def _lookup(key: tuple) -> Release | None:
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    return None


def _cached(key: tuple, compute: Callable[[], Release]) -> Release:
    """``compute()`` once per key; threads asking for a release being computed wait for it
    (eight cold requests at once computed it eight times, each eight times slower)."""
    value = _lookup(key)
    if value is not None:
        return value
    with _CACHE_LOCK:
        building = _BUILDING.setdefault(key, threading.Lock())
    with building:
        value = _lookup(key)
        if value is not None:
            return value
        try:
            value = compute()
            with _CACHE_LOCK:
                _CACHE[key] = value
                while len(_CACHE) > 64:
                    _CACHE.popitem(last=False)
        finally:
            with _CACHE_LOCK:
                _BUILDING.pop(key, None)
    return value


def _versions(db: Database, layers: tuple[str, ...]) -> str:
    """What the layers hold now: every dataset's id, checksum, import time and rows."""
    from tryggkarta.store.queries import data_version

    return repr(data_version(db, layers))


def _trend(now: np.ndarray, before: np.ndarray) -> np.ndarray:
    """+1 up / −1 down / 0 flat from published values (−2 where either is unpublished)."""
    out = np.full(now.shape, -2, dtype=np.int64)
    ok = (now >= 0) & (before >= 0) & ((now > 0) | (before > 0))
    up = ok & (now - before >= np.maximum(5, 0.25 * before))
    down = ok & (before - now >= np.maximum(5, 0.25 * now))
    out[ok] = 0
    out[up] = 1
    out[down] = -1
    return out


def incident_release(
    db: Database,
    municipality_code: str | None,
    period: Period,
    rule: Rule,
    *,
    with_trend: bool = True,
    from_counts: bool = True,
) -> Release | None:
    """Incidents with a street-level position per release cell, per category group, for
    ``period``; ``None`` when the layer is empty.

    Read from the counts kept on import (:mod:`tryggkarta.store.cellcounts`: the period's
    buckets, no incident row); ``from_counts=False`` scans the incidents instead (one SQL
    ``GROUP BY`` per period), which the tests compare it with."""
    from tryggkarta.store import cellcounts
    from tryggkarta.store.grid import grid_counts_by
    from tryggkarta.store.queries import Filters, extent

    key = (
        "incidents",
        str(db.engine.url),
        id(db),
        municipality_code,
        period.key,
        period.start,
        rule,
        with_trend,
        from_counts,
        _versions(db, ("incidents",)),
    )

    def compute() -> Release | None:
        base = Filters(municipality_code=municipality_code, precisions=STREET_LEVEL_PRECISIONS)
        bounds = (
            cellcounts.street_extent(db, municipality_code)
            if from_counts
            else extent(db, "incidents", base)
        )
        if bounds is None:
            return None
        try:
            grid = release_grid(bounds)
        except ReleaseTooLarge as exc:
            log.warning("no incident release: %s", exc.message)
            return None

        def counts(p: Period) -> tuple[np.ndarray, dict[str, np.ndarray]]:
            groups = {g: np.zeros(grid.n_cells, dtype=np.int64) for g in CATEGORY_GROUPS}
            if from_counts and cellcounts.is_boundary(p.start) and cellcounts.is_boundary(p.end):
                # the kept counts (incident_cell_counts): the period's buckets, no incident row
                cx, cy, grp, n = cellcounts.street_counts(db, municipality_code, p.start, p.end)
                col = cx - round(grid.x0 / grid.cell_size)
                row = cy - round(grid.y0 / grid.cell_size)
                ok = (col >= 0) & (col < grid.nx) & (row >= 0) & (row < grid.ny)
                flat, grp, n = (row * grid.nx + col)[ok], grp[ok], n[ok]
                for g in CATEGORY_GROUPS:
                    sel = grp == g
                    groups[g] += np.bincount(flat[sel], n[sel], grid.n_cells).astype(np.int64)
                groups["alla"] = np.bincount(flat, n, grid.n_cells).astype(np.int64)
                return groups["alla"], groups
            by_cat = grid_counts_by(db, "incidents", grid, base.replace(start=p.start, end=p.end))
            for cat, arr in by_cat.items():
                flat = np.asarray(arr, dtype=np.int64).ravel()
                groups["alla"] += flat
                groups[GROUP_OF.get(cat, "ovrigt")] += flat
            return groups["alla"], groups

        total, groups = counts(period)
        values: dict[str, Any] = {"count": rule.values(total)}
        for g, arr in groups.items():
            if g != "alla":
                values[f"g:{g}"] = rule.values(arr)
        if with_trend:
            before, _ = counts(previous(period))
            values["trend"] = _trend(values["count"], rule.values(before))
        return Release("incidents", period, "alla", rule, grid, values)

    return _cached(key, compute)  # type: ignore[arg-type]


def survey_release(db: Database, municipality_code: str | None, rule: Rule) -> Release | None:
    """Survey answers per release cell (all campaigns): answers, unsafe answers, the unsafe
    share as a band, and the most named reasons among unsafe answers — all published values."""
    from tryggkarta.store.grid import grid_counts_by
    from tryggkarta.store.queries import Filters, extent, layer_frame

    key = (
        "survey",
        str(db.engine.url),
        id(db),
        municipality_code,
        rule,
        _versions(db, ("survey",)),
    )

    def compute() -> Release | None:
        base = Filters(municipality_code=municipality_code)
        bounds = extent(db, "survey", base)
        if bounds is None:
            return None
        try:
            grid = release_grid(bounds)
        except ReleaseTooLarge as exc:
            log.warning("no survey release: %s", exc.message)
            return None
        by_rating = grid_counts_by(db, "survey", grid, base, by="rating")
        answers = np.zeros(grid.n_cells, dtype=np.int64)
        unsafe = np.zeros(grid.n_cells, dtype=np.int64)
        for r, arr in by_rating.items():
            flat = np.asarray(arr, dtype=np.int64).ravel()
            answers += flat
            if int(float(r)) <= UNSAFE_MAX_RATING:
                unsafe += flat
        lo, hi = rule.bands(unsafe, answers)
        lo[answers < rule.k] = hi[answers < rule.k] = np.nan  # shares only of published cells
        reasons: dict[int, list[list[Any]]] = {}
        if unsafe.any():
            frame = layer_frame(
                db,
                "survey",
                base.replace(max_rating=UNSAFE_MAX_RATING),
                columns=["x", "y", "reasons"],
                geometry=False,
            )
            reasons = _reasons_per_cell(grid, frame, rule, answers)
        values = {
            "count": rule.values(answers),
            "unsafe": rule.values(unsafe),
            "band_lo": lo,
            "band_hi": hi,
            "reasons": reasons,
        }
        return Release("survey", None, "alla", rule, grid, values)

    return _cached(key, compute)  # type: ignore[arg-type]


def _reasons_per_cell(grid: GridSpec, frame: Any, rule: Rule, answers: np.ndarray) -> dict:
    """Published reason counts per cell (top 3): one bincount per reason, no loop over rows."""
    from tryggkarta.domain import SURVEY_REASONS

    if frame.empty:
        return {}
    x, y = frame["x"].to_numpy(float), frame["y"].to_numpy(float)
    col = np.floor((x - grid.x0) / grid.cell_size).astype(np.int64)
    row = np.floor((y - grid.y0) / grid.cell_size).astype(np.int64)
    ok = (col >= 0) & (col < grid.nx) & (row >= 0) & (row < grid.ny)
    flat = np.where(ok, row * grid.nx + col, 0)
    text = frame["reasons"].fillna("").astype(str)
    per_reason = {}
    for reason in SURVEY_REASONS:
        has = text.str.contains(rf"(?:^|,){reason}(?:,|$)", regex=True).to_numpy() & ok
        per_reason[reason] = rule.values(np.bincount(flat[has], minlength=grid.n_cells))
    out: dict[int, list[list[Any]]] = {}
    shown = np.flatnonzero(answers >= rule.k)
    for idx in shown.tolist():
        pairs = [(r, int(a[idx])) for r, a in per_reason.items() if a[idx] > 0]
        if pairs:
            pairs.sort(key=lambda kv: -kv[1])
            out[idx] = [[r, n] for r, n in pairs[:3]]
    return out


# --------------------------------------------------------------------------- output


_TREND_KEYS = {1: Trend.UP, 0: Trend.FLAT, -1: Trend.DOWN}


def _in_bbox(grid: GridSpec, flat: np.ndarray, bbox: tuple[float, float, float, float] | None):
    if bbox is None or len(flat) == 0:
        return flat
    row, col = np.divmod(flat, grid.nx)
    x0 = grid.x0 + col * grid.cell_size
    y0 = grid.y0 + row * grid.cell_size
    keep = (
        (x0 < bbox[2])
        & (x0 + grid.cell_size > bbox[0])
        & (y0 < bbox[3])
        & (y0 + grid.cell_size > bbox[1])
    )
    return flat[keep]


def release_geojson(
    release: Release | None,
    srid: int,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    group: str = "alla",
    lang: str = "sv",
    page: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """A release as a WGS84 FeatureCollection of its published cells (``bbox``: working CRS).

    With ``page`` = (offset, limit) only those cells become features (in cell order) and
    ``numberMatched`` says how many there are: an OGC page builds 100 features, not all.

    Incident cells carry ``count`` (of ``group``), ``groups`` (published counts per category
    group) and ``trend``; survey cells carry ``count`` (answers), ``unsafe``, ``share`` (the
    band's middle, for colour) with ``share_text``, and ``reasons``.
    """
    from tryggkarta.gridspec import cell_polygons

    empty: dict[str, Any] = {"type": "FeatureCollection", "features": []}
    if release is None:
        return empty
    counts = release.values["count"] if group == "alla" else release.values[f"g:{group}"]
    flat = _in_bbox(release.grid, np.flatnonzero(counts > 0), bbox)
    if page is not None:
        empty["numberMatched"] = len(flat)
        flat = flat[max(0, page[0]) : max(0, page[0]) + max(0, page[1])]
    if len(flat) == 0:
        return {**empty, **_meta(release, group, lang)}
    rings = cell_polygons(release.grid, flat, srid)
    names = cell_ids(release.grid, flat)
    feats = []
    for idx, ring, name in zip(flat.tolist(), rings, names, strict=True):
        props: dict[str, Any] = {"cell": name, "count": int(counts[idx])}
        if release.layer == "incidents":
            groups = {
                g: int(release.values[f"g:{g}"][idx])
                for g in CATEGORY_GROUPS
                if g != "alla" and release.values[f"g:{g}"][idx] > 0
            }
            if groups and group == "alla":
                props["groups"] = groups
            trends = release.values.get("trend") if group == "alla" else None
            if trends is not None and int(trends[idx]) in _TREND_KEYS:
                props["trend"] = _TREND_KEYS[int(trends[idx])]
        else:
            u = int(release.values["unsafe"][idx])
            props["unsafe"] = u if u >= 0 else None
            lo, hi = release.values["band_lo"][idx], release.values["band_hi"][idx]
            if np.isfinite(lo):
                props["share"] = round(float(lo + hi) / 2, 3)
                props["share_band"] = [float(lo), float(hi)]
                props["share_text"] = band_text((float(lo), float(hi)), lang)
            if release.values["reasons"].get(idx):
                props["reasons"] = release.values["reasons"][idx]
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": ring},
                "properties": props,
            }
        )
    return {**empty, "features": feats, **_meta(release, group, lang)}


def _meta(release: Release, group: str, lang: str) -> dict[str, Any]:
    return {
        "release": {
            "layer": release.layer,
            "period": release.period.key if release.period else "alla",
            "period_label": release.period.label(lang) if release.period else None,
            "group": group,
            "cell_size": release.grid.cell_size,
            "min_count": release.rule.k,
            "rounded_to": release.rule.base,
        }
    }


def area_sum(release: Release | None, cells: np.ndarray | None, key: str = "count") -> int | None:
    """Sum of published values over flat ``cells`` (suppressed cells count as 0), published
    again (a sum of published values is itself published: no new information)."""
    if release is None or cells is None or len(cells) == 0:
        return None
    values = np.asarray(release.values[key])[np.asarray(cells, dtype=np.int64)]
    total = int(values[values > 0].sum())
    return total if total > 0 else None


def cells_touching(release: Release | None, geom: Any) -> np.ndarray:
    """Flat indices of release cells whose square intersects ``geom`` (working CRS)."""
    import shapely

    if release is None or geom is None:
        return np.array([], dtype=np.int64)
    g = release.grid
    minx, miny, maxx, maxy = geom.bounds
    c0 = max(0, math.floor((minx - g.x0) / g.cell_size))
    c1 = min(g.nx - 1, math.floor((maxx - g.x0) / g.cell_size))
    r0 = max(0, math.floor((miny - g.y0) / g.cell_size))
    r1 = min(g.ny - 1, math.floor((maxy - g.y0) / g.cell_size))
    if c1 < c0 or r1 < r0:
        return np.array([], dtype=np.int64)
    cols, rows = np.meshgrid(np.arange(c0, c1 + 1), np.arange(r0, r1 + 1))
    cols, rows = cols.ravel(), rows.ravel()
    x0 = g.x0 + cols * g.cell_size
    y0 = g.y0 + rows * g.cell_size
    boxes = shapely.box(x0, y0, x0 + g.cell_size, y0 + g.cell_size)
    hit = shapely.intersects(boxes, geom)
    return (rows[hit] * g.nx + cols[hit]).astype(np.int64)


# --------------------------------------------------------------------------- features


#: Properties of hotspot features that may reach a role below raw detail, by kind.
SAFE_TEXT = frozenset(
    {
        "key",
        "rank",
        "name",
        "district",
        "class",
        "label",
        "category",
        "trend",
        "method",
        "method_sv",
        "method_en",
        "cell",
        "kind",
        "status",
    }
)
COUNT_KEYS = frozenset({"count", "n_answers", "n_unsafe", "n", "hits"})
SHARE_KEYS = frozenset({"unsafe_share", "smoothed_share", "share"})


def disclose_properties(props: Mapping[str, Any], rule: Rule, lang: str = "sv") -> dict[str, Any]:
    """A feature's properties as a role below raw detail may get them.

    Text keys on :data:`SAFE_TEXT` pass; counts (:data:`COUNT_KEYS`) are published through
    ``rule``; shares become bands (with the count behind them when known); measure and reason
    lists keep their keys only; everything else (sentences with numbers, profiles, z-scores,
    internal statistics) is left out.
    """
    if rule.raw:
        return dict(props)
    out: dict[str, Any] = {k: v for k, v in props.items() if k in SAFE_TEXT and _plain(v)}
    for key in COUNT_KEYS & props.keys():
        value = props[key]
        out[key] = rule.value(value) if isinstance(value, int | float) else None
    whole = props.get("n_answers", props.get("count"))
    for key in SHARE_KEYS & props.keys():
        share = props.get(key)
        if isinstance(share, int | float) and isinstance(whole, int | float) and whole > 0:
            band = rule.band(round(float(share) * whole), int(whole))
            out[key] = None if band is None else round((band[0] + band[1]) / 2, 3)
            out[f"{key}_text"] = band_text(band, lang)
        else:
            out[key] = None
    if isinstance(props.get("measures"), list):
        out["measures"] = [m.get("key") if isinstance(m, dict) else m for m in props["measures"]]
    if isinstance(props.get("reasons"), list):
        out["reasons"] = _disclosed_reasons(props["reasons"], props.get("n_unsafe"), rule, lang)
    return out


def _disclosed_reasons(reasons: list, n_unsafe: Any, rule: Rule, lang: str) -> list[list[Any]]:
    """``[[reason, share], …]`` → ``[[reason, band middle, band text], …]`` (top 3), the share
    of ``n_unsafe`` published as a band (or not at all)."""
    out = []
    for r in reasons[:3]:
        key = r[0] if isinstance(r, list | tuple) else r
        share = r[1] if isinstance(r, list | tuple) and len(r) > 1 else None
        band = None
        if isinstance(share, float) and 0 <= share <= 1 and isinstance(n_unsafe, int | float):
            band = rule.band(round(share * n_unsafe), int(n_unsafe))
        mid = None if band is None else round((band[0] + band[1]) / 2, 3)
        out.append([key, mid, band_text(band, lang)])
    return out


def _plain(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def disclose_features(fc: Mapping[str, Any], rule: Rule, lang: str = "sv") -> dict[str, Any]:
    """:func:`disclose_properties` over a FeatureCollection; features whose published count is
    suppressed are left out."""
    if rule.raw:
        return dict(fc)
    features = fc.get("features", [])
    densities = [
        float(f["properties"]["density"])
        for f in features
        if isinstance((f.get("properties") or {}).get("density"), int | float)
    ]
    peak = max(densities) if densities else 0.0
    feats = []
    for f in features:
        raw = f.get("properties") or {}
        props = disclose_properties(raw, rule, lang)
        if peak > 0 and isinstance(raw.get("density"), int | float):
            # a kernel-smoothed surface, published as its level relative to the peak in fifths
            props["density"] = math.ceil(5 * float(raw["density"]) / peak) / 5
            props["hotspot"] = bool(raw.get("hotspot"))
            props.pop("count", None)
        else:
            counts = [props[k] for k in COUNT_KEYS if k in props]
            if counts and all(c is None for c in counts):
                continue
        feats.append({"type": "Feature", "geometry": f["geometry"], "properties": props})
    return {"type": "FeatureCollection", "features": feats}


def district_values(
    db: Database, layer: str, period: Period | None, rule: Rule, municipality_code: str | None
) -> list[dict[str, Any]]:
    """Published counts per district for a fixed period (incidents: street-level and all
    precisions alike; survey: all answers)."""
    from tryggkarta.store.queries import Filters, count, layer_frame

    areas = layer_frame(
        db, "areas", Filters(municipality_code=municipality_code), columns=["name", "kind"]
    )
    areas = areas[areas["kind"] == "district"]
    base = Filters(municipality_code=municipality_code)
    if layer == "incidents" and period is not None:
        base = base.replace(start=period.start, end=period.end)
    rows = []
    for name, geom in zip(areas["name"].tolist(), areas.geometry.tolist(), strict=True):
        rows.append(
            {"name": name, "count": rule.value(count(db, layer, base.replace(polygon=geom)))}
        )
    return sorted(rows, key=lambda r: r["name"] or "")
