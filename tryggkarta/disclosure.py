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
* **Derived values** (trends, area sums, sentences, a page's coarser cells) are computed
  from published values only.
* **Sparse.** A release holds its occupied cells only (:class:`Release`), counted with one
  ``GROUP BY`` cell: its cost follows the occupied cells, so the whole country is a release
  like a municipality. An absent cell and a suppressed one publish the same nothing.
* **Kept.** A release below raw detail is written to the database once per data version
  (:mod:`tryggkarta.store.releases`) and read from there by every process: published
  values only, and the record of what was published when.

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
from time import perf_counter
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
from tryggkarta.store import releases

if TYPE_CHECKING:
    from tryggkarta.store.engine import Database

log = logging.getLogger(__name__)

#: The one grid of every release (metres, working CRS, anchored at 0/0).
RELEASE_CELL = 250.0
#: Width of a published share band.
SHARE_BAND = 0.1
#: Most occupied cells one release may have. A release counts occupied cells only (its cost
#: follows them, not its bounding box): Sweden's 15 million incidents over ten years occupy
#: a few hundred thousand 250 m cells a year, so the whole country fits many times over.
MAX_RELEASE_CELLS = 2_000_000
#: Most cells of the dense release grid (``dense=True``, kept to check the sparse path): a
#: county at 250 m fits, Sweden's extent (16 million cells) does not.
MAX_DENSE_CELLS = 2_000_000
#: Default period of a release.
DEFAULT_PERIOD = "52v"


class ReleaseTooLarge(BadInput):
    """A release would hold more cells than :data:`MAX_RELEASE_CELLS` (occupied) or
    :data:`MAX_DENSE_CELLS` (a dense grid)."""


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
    """A dense :data:`RELEASE_CELL` grid over ``bounds`` (cells on multiples of the cell):
    the dense path of :func:`incident_release` / :func:`survey_release` (``dense=True``),
    kept to check the sparse path against, and survey results' campaign areas."""
    size = RELEASE_CELL
    minx, miny, maxx, maxy = bounds
    x0, y0 = math.floor(minx / size) * size, math.floor(miny / size) * size
    nx = max(1, math.floor((maxx - x0) / size) + 1)
    ny = max(1, math.floor((maxy - y0) / size) + 1)
    if nx * ny > MAX_DENSE_CELLS:
        raise ReleaseTooLarge(
            f"The data cover {nx * ny:,} release cells of {size:.0f} m, more than a dense "
            f"grid holds ({MAX_DENSE_CELLS:,}); use the sparse release (the default), which "
            "counts occupied cells only."
        )
    return GridSpec(x0, y0, size, nx, ny)


def occupied(cx: np.ndarray, cy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct cells of ``(cx, cy)`` (integer cell numbers) in row-major order — south
    to north, west to east, the order of a dense grid's flat index — and each input's index
    among them. Sorting, not a grid: the cost follows the occupied cells, not their extent."""
    cx = np.asarray(cx, dtype=np.int64)
    cy = np.asarray(cy, dtype=np.int64)
    if len(cx) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    x0, y0 = int(cx.min()), int(cy.min())
    width = int(cx.max()) - x0 + 1
    keys, inverse = np.unique((cy - y0) * width + (cx - x0), return_inverse=True)
    return keys % width + x0, keys // width + y0, inverse.ravel().astype(np.int64)


def _index_of(cx: np.ndarray, cy: np.ndarray, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Index of each cell ``(qx, qy)`` among the row-major sorted cells ``(cx, cy)``; −1 for a
    cell that is not there."""
    qx = np.asarray(qx, dtype=np.int64)
    qy = np.asarray(qy, dtype=np.int64)
    out = np.full(len(qx), -1, dtype=np.int64)
    if len(cx) == 0 or len(qx) == 0:
        return out
    x0, x1, y0 = int(cx.min()), int(cx.max()), int(cy.min())
    width = x1 - x0 + 1
    keys = (cy - y0) * width + (cx - x0)
    inside = (qx >= x0) & (qx <= x1) & (qy >= y0)
    q = (qy - y0) * width + (qx - x0)
    pos = np.clip(np.searchsorted(keys, q), 0, len(keys) - 1)
    hit = inside & (keys[pos] == q)
    out[hit] = pos[hit]
    return out


def cell_ids(release: Release, idx: np.ndarray) -> list[str]:
    """Stable cell names in absolute cell numbers (the same in every release): ``"E<col>N<row>"``
    for the 250 m release cells, ``"<size>mE<col>N<row>"`` for coarser ones."""
    idx = np.asarray(idx, dtype=np.int64)
    prefix = "" if release.cell_size == RELEASE_CELL else f"{release.cell_size:.0f}m"
    cols, rows = release.cx[idx].tolist(), release.cy[idx].tolist()
    return [f"{prefix}E{c}N{r}" for c, r in zip(cols, rows, strict=True)]


# --------------------------------------------------------------------------- releases


@dataclass(frozen=True, eq=False)
class Release:
    """Published values per occupied cell of one release (a sparse release).

    ``cx``/``cy`` are the cells' integer numbers (cell ``(cx, cy)`` covers
    ``[cx·size, (cx+1)·size) × [cy·size, (cy+1)·size)`` in the working CRS), in row-major
    order; every array in ``values`` is aligned with them (−1 = suppressed). Only cells with
    at least one record (in the period, or the one before for trends) are there: the cost of
    a release follows its occupied cells, not its bounding box — a county and the country
    alike. An absent cell and a suppressed one publish the same thing (nothing).

    ``values`` always holds ``count``; incident releases add one array per category group
    (``g:<group>``) and, with trends, ``before`` (the previous period's published counts) and
    ``trend`` (−1/0/+1 from published values, −2 where unknown); survey releases add
    ``unsafe``, ``band_lo``/``band_hi`` (NaN where unpublished) and ``reasons`` (per cell
    index, published ``[[reason, n], …]``).
    """

    layer: str
    period: Period | None
    group: str
    rule: Rule
    cell_size: float
    cx: np.ndarray
    cy: np.ndarray
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def n_cells(self) -> int:
        return len(self.cx)

    @property
    def shown(self) -> np.ndarray:
        """Indices of the cells that are published (count > 0)."""
        return np.flatnonzero(self.values["count"] > 0)

    def corners(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower-left corners (working CRS) of the cells at ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        return self.cx[idx] * self.cell_size, self.cy[idx] * self.cell_size


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


def _cap(n: int) -> None:
    if n > MAX_RELEASE_CELLS:
        raise ReleaseTooLarge(
            f"The release would have {n:,} occupied cells of {RELEASE_CELL:.0f} m, more than "
            f"one release holds ({MAX_RELEASE_CELLS:,})."
        )


#: Per period: ``(cx, cy, group, n)`` — street-level incidents per occupied cell and group.
_Counts = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _period_counts(
    db: Database, municipality_code: str | None, p: Period, from_counts: bool
) -> _Counts:
    """Street-level incidents of ``p`` per occupied release cell and category group: from the
    kept counts (the period's buckets, no incident row) or one ``GROUP BY`` over the rows."""
    import pandas as pd

    from tryggkarta.store import cellcounts
    from tryggkarta.store.grid import occupied_cells_by
    from tryggkarta.store.queries import Filters

    if from_counts and cellcounts.is_boundary(p.start) and cellcounts.is_boundary(p.end):
        return cellcounts.street_counts(db, municipality_code, p.start, p.end)
    base = Filters(
        municipality_code=municipality_code,
        precisions=STREET_LEVEL_PRECISIONS,
        start=p.start,
        end=p.end,
    )
    ix, iy, cat, n = occupied_cells_by(db, "incidents", RELEASE_CELL, base, by="category")
    grp = pd.Series(cat, dtype=object).map(GROUP_OF).fillna("ovrigt").to_numpy(dtype=object)
    return ix, iy, grp, n


def _per_group(idx: np.ndarray, grp: np.ndarray, n: np.ndarray, m: int) -> dict[str, np.ndarray]:
    out = {
        g: np.bincount(idx[grp == g], n[grp == g], m).astype(np.int64)
        for g in CATEGORY_GROUPS
        if g != "alla"
    }
    out["alla"] = np.bincount(idx, n, m).astype(np.int64)
    return out


def _sparse_incidents(
    db: Database, municipality_code: str | None, periods: list[Period], from_counts: bool
) -> tuple[np.ndarray, np.ndarray, list[dict[str, np.ndarray]]] | None:
    """Occupied cells of ``periods`` (together) and per period the counts per group on them."""
    from tryggkarta.store import cellcounts
    from tryggkarta.store.queries import Filters, count

    if from_counts and all(
        cellcounts.is_boundary(p.start) and cellcounts.is_boundary(p.end) for p in periods
    ):
        # all periods in one pass over the kept counts (the usual case: releases are whole
        # buckets); a row per occupied (cell, group) with a column per period
        rx, ry, grp, n = cellcounts.street_counts_periods(
            db, municipality_code, [(p.start, p.end) for p in periods]
        )
        keep = n.sum(axis=1) > 0
        rx, ry, grp, n = rx[keep], ry[keep], grp[keep], n[keep]
        cx, cy, idx = occupied(rx, ry)
        parts = [(idx, grp, n[:, i]) for i in range(len(periods))]
    else:
        got = [_period_counts(db, municipality_code, p, from_counts) for p in periods]
        cx, cy, idx = occupied(
            np.concatenate([g[0] for g in got]), np.concatenate([g[1] for g in got])
        )
        ends = np.cumsum([len(g[3]) for g in got])
        parts = [(idx[end - len(g[3]) : end], g[2], g[3]) for g, end in zip(got, ends, strict=True)]
    if len(cx) == 0:
        base = Filters(municipality_code=municipality_code, precisions=STREET_LEVEL_PRECISIONS)
        if not (
            cellcounts.any_street(db, municipality_code)
            if from_counts
            else count(db, "incidents", base)
        ):
            return None  # no street-level incident at all: no release (as the dense path)
    _cap(len(cx))
    return cx, cy, [_per_group(i, grp, n, len(cx)) for i, grp, n in parts]


def _dense_incidents(
    db: Database, municipality_code: str | None, periods: list[Period], from_counts: bool
) -> tuple[np.ndarray, np.ndarray, list[dict[str, np.ndarray]]] | None:
    """The former path: every period counted on a dense grid over the data's extent, then
    the cells occupied in any period taken out (to compare with the sparse path)."""
    from tryggkarta.store import cellcounts
    from tryggkarta.store.grid import grid_counts_by
    from tryggkarta.store.queries import Filters, extent

    base = Filters(municipality_code=municipality_code, precisions=STREET_LEVEL_PRECISIONS)
    bounds = (
        cellcounts.street_extent(db, municipality_code)
        if from_counts
        else extent(db, "incidents", base)
    )
    if bounds is None:
        return None
    grid = release_grid(bounds)
    c0, r0 = round(grid.x0 / grid.cell_size), round(grid.y0 / grid.cell_size)
    dense = []
    for p in periods:
        groups = {g: np.zeros(grid.n_cells, dtype=np.int64) for g in CATEGORY_GROUPS}
        if from_counts and cellcounts.is_boundary(p.start) and cellcounts.is_boundary(p.end):
            cx, cy, grp, n = cellcounts.street_counts(db, municipality_code, p.start, p.end)
            col, row = cx - c0, cy - r0
            ok = (col >= 0) & (col < grid.nx) & (row >= 0) & (row < grid.ny)
            groups = _per_group((row * grid.nx + col)[ok], grp[ok], n[ok], grid.n_cells)
        else:
            by_cat = grid_counts_by(db, "incidents", grid, base.replace(start=p.start, end=p.end))
            for cat, arr in by_cat.items():
                flat = np.asarray(arr, dtype=np.int64).ravel()
                groups["alla"] += flat
                groups[GROUP_OF.get(cat, "ovrigt")] += flat
        dense.append(groups)
    flat = np.flatnonzero(np.logical_or.reduce([d["alla"] > 0 for d in dense]))
    row, col = np.divmod(flat, grid.nx)
    return (
        col + c0,
        row + r0,
        [{g: arr[flat] for g, arr in d.items()} for d in dense],
    )


def incident_release(
    db: Database,
    municipality_code: str | None,
    period: Period,
    rule: Rule,
    *,
    with_trend: bool = True,
    from_counts: bool = True,
    dense: bool = False,
) -> Release | None:
    """Incidents with a street-level position per occupied release cell, per category group,
    for ``period``; ``None`` when the layer has no street-level incident.

    Sparse: only the occupied cells are counted (``GROUP BY`` cell), so a release of the
    whole country costs what its occupied cells cost. Read from the counts kept on import
    (:mod:`tryggkarta.store.cellcounts`: the period's buckets, no incident row);
    ``from_counts=False`` scans the incidents instead, and ``dense=True`` counts on a dense
    grid over the extent (the former path) — the tests compare all of them.

    Below raw detail, the default path's release is kept in the database per data version
    (:mod:`tryggkarta.store.releases`): computed once, read by every process afterwards."""
    version = _versions(db, ("incidents",))
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
        dense,
        version,
    )

    def compute() -> Release | None:
        keep = from_counts and not dense
        spec = ("incidents", municipality_code, period, rule, with_trend, version)
        return _kept_or_built(db, spec, build, keep)

    def build() -> Release | None:
        periods = [period, previous(period)] if with_trend else [period]
        try:
            got = (_dense_incidents if dense else _sparse_incidents)(
                db, municipality_code, periods, from_counts
            )
        except ReleaseTooLarge as exc:
            log.warning("no incident release: %s", exc.message)
            return None
        if got is None:
            return None
        cx, cy, counts = got
        now = counts[0]
        values: dict[str, Any] = {"count": rule.values(now["alla"])}
        for g, arr in now.items():
            if g != "alla":
                values[f"g:{g}"] = rule.values(arr)
        if with_trend:
            values["before"] = rule.values(counts[1]["alla"])
            values["trend"] = _trend(values["count"], values["before"])
        return Release("incidents", period, "alla", rule, RELEASE_CELL, cx, cy, values)

    return _cached(key, compute)  # type: ignore[arg-type]


def _kept_or_built(
    db: Database, spec: tuple, build: Callable[[], Release | None], keep: bool
) -> Release | None:
    """The release kept in the database for ``spec`` (layer, municipality, period, rule, with
    trend, data version), else ``build()`` it and keep it — below raw detail only, and only
    when the data version did not change while it was built (:mod:`tryggkarta.store.releases`).
    ``keep=False`` (the scan and dense checks) always builds and keeps nothing."""
    layer, municipality_code, period, rule, with_trend, version = spec
    kept = None
    if keep and releases.keepable(rule):
        kept = releases.key_for(layer, municipality_code, period, rule, with_trend, version)
        got = releases.load(db, kept, period, rule)
        if got is not None:
            return got
    started = perf_counter()
    release = build()
    if kept is not None and release is not None:
        releases.keep(
            db,
            kept,
            release,
            1000 * (perf_counter() - started),
            lambda: _versions(db, (layer,)) == version,
        )
    return release


def survey_release(
    db: Database, municipality_code: str | None, rule: Rule, *, dense: bool = False
) -> Release | None:
    """Survey answers per occupied release cell (all campaigns): answers, unsafe answers, the
    unsafe share as a band, and the most named reasons among unsafe answers — all published
    values. Sparse (``GROUP BY`` cell and rating); ``dense=True`` is the former dense grid.
    Kept in the database per data version below raw detail, as :func:`incident_release`."""
    from tryggkarta.store.grid import grid_counts_by, occupied_cells_by
    from tryggkarta.store.queries import Filters, extent, layer_frame

    version = _versions(db, ("survey",))
    key = ("survey", str(db.engine.url), id(db), municipality_code, rule, dense, version)

    def compute() -> Release | None:
        spec = ("survey", municipality_code, None, rule, False, version)
        return _kept_or_built(db, spec, build, not dense)

    def build() -> Release | None:
        base = Filters(municipality_code=municipality_code)
        if dense:
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
            flat = np.flatnonzero(answers > 0)
            row, col = np.divmod(flat, grid.nx)
            cx = col + round(grid.x0 / grid.cell_size)
            cy = row + round(grid.y0 / grid.cell_size)
            answers, unsafe = answers[flat], unsafe[flat]
        else:
            ix, iy, rating, n = occupied_cells_by(db, "survey", RELEASE_CELL, base, by="rating")
            if len(n) == 0:
                return None
            cx, cy, idx = occupied(ix, iy)
            try:
                _cap(len(cx))
            except ReleaseTooLarge as exc:
                log.warning("no survey release: %s", exc.message)
                return None
            bad = rating.astype(float) <= UNSAFE_MAX_RATING
            answers = np.bincount(idx, n, len(cx)).astype(np.int64)
            unsafe = np.bincount(idx[bad], n[bad], len(cx)).astype(np.int64)
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
            reasons = _reasons_per_cell(cx, cy, frame, rule, answers)
        values = {
            "count": rule.values(answers),
            "unsafe": rule.values(unsafe),
            "band_lo": lo,
            "band_hi": hi,
            "reasons": reasons,
        }
        return Release("survey", None, "alla", rule, RELEASE_CELL, cx, cy, values)

    return _cached(key, compute)  # type: ignore[arg-type]


def _reasons_per_cell(
    cx: np.ndarray, cy: np.ndarray, frame: Any, rule: Rule, answers: np.ndarray
) -> dict:
    """Published reason counts per cell (top 3): one bincount per reason, no loop over rows."""
    from tryggkarta.domain import SURVEY_REASONS

    if frame.empty:
        return {}
    x, y = frame["x"].to_numpy(float), frame["y"].to_numpy(float)
    at = _index_of(
        cx,
        cy,
        np.floor(x / RELEASE_CELL).astype(np.int64),
        np.floor(y / RELEASE_CELL).astype(np.int64),
    )
    ok = at >= 0
    text = frame["reasons"].fillna("").astype(str)
    per_reason = {}
    for reason in SURVEY_REASONS:
        has = text.str.contains(rf"(?:^|,){reason}(?:,|$)", regex=True).to_numpy() & ok
        per_reason[reason] = rule.values(np.bincount(at[has], minlength=len(cx)))
    out: dict[int, list[list[Any]]] = {}
    shown = np.flatnonzero(answers >= rule.k)
    for idx in shown.tolist():
        pairs = [(r, int(a[idx])) for r, a in per_reason.items() if a[idx] > 0]
        if pairs:
            pairs.sort(key=lambda kv: -kv[1])
            out[idx] = [[r, n] for r, n in pairs[:3]]
    return out


# --------------------------------------------------------------------------- coarser cells

#: Cell sizes (as multiples of the 250 m release cell) a page's embedded release steps
#: through: 250 m, 1 km, 5 km, 10 km, 25 km, 50 km.
PAGE_FACTORS = (1, 4, 20, 40, 100, 200)
#: At most this many release cells embedded in a page (an HTML page of at most ~1 MB): a
#: region or the country shows coarser cells; the OGC collection and the API keep 250 m.
PAGE_MAX_CELLS = 2000


def coarser(release: Release, factor: int) -> Release:
    """The same release on cells ``factor`` times as wide (a 1 km cell is 4 × 4 release
    cells): each value the **sum of the published values** of the release cells inside it
    (suppressed cells add nothing), trends and share bands derived from those sums.

    Not a new count with ``k`` applied at the coarse cell: the coarse count minus the
    published fine cells inside it would tell that the suppressed cells are not empty
    (13 incidents published as 15, one cell published as 10: the other cells hold 1…9). A
    sum of published values is a multiple of the rounding base and at least ``k``, so it
    needs no rule of its own and tells nothing a visitor could not add up.
    """
    if factor == 1:
        return release
    if factor < 1 or factor != int(factor):
        raise ValueError("a coarser cell is a whole multiple of the release cell")
    cx, cy, idx = occupied(np.floor_divide(release.cx, factor), np.floor_divide(release.cy, factor))
    m = len(cx)
    raw = release.rule.raw
    v = release.values

    def summed(key: str) -> np.ndarray:
        arr = np.asarray(v[key], dtype=np.int64)
        total = np.bincount(idx, np.where(arr > 0, arr, 0), m).astype(np.int64)
        published = np.bincount(idx, arr >= 0, m) > 0  # raw rules publish zeros too
        return np.where((total > 0) | (raw & published), total, -1)

    keys = [k for k in v if k in ("count", "before", "unsafe") or k.startswith("g:")]
    values: dict[str, Any] = {k: summed(k) for k in keys}
    if "trend" in v and "before" in values:
        values["trend"] = _trend(values["count"], values["before"])
    if release.layer == "survey":
        # a band of the sums only where every published cell's unsafe count is published
        unknown = np.bincount(idx, (v["count"] > 0) & (v["unsafe"] < 0), m) > 0
        lo, hi = release.rule.bands(np.maximum(values["unsafe"], 0), np.maximum(values["count"], 0))
        lo[unknown | (values["count"] <= 0)] = np.nan
        hi[np.isnan(lo)] = np.nan
        values.update(band_lo=lo, band_hi=hi, reasons={})
    return Release(
        release.layer,
        release.period,
        release.group,
        release.rule,
        release.cell_size * int(factor),
        cx,
        cy,
        values,
    )


def for_page(
    release: Release | None,
    bbox: tuple[float, float, float, float] | None = None,
    *,
    group: str = "alla",
    max_cells: int | None = None,
) -> Release | None:
    """The release as a page embeds it: the finest of :data:`PAGE_FACTORS` whose published
    cells in ``bbox`` number at most ``max_cells`` (a municipality keeps 250 m; a county
    shows 1 km, the country 5–10 km)."""
    if release is None:
        return None
    max_cells = PAGE_MAX_CELLS if max_cells is None else max_cells
    counts = release.values["count"] if group == "alla" else release.values[f"g:{group}"]
    idx = _in_bbox(release, np.flatnonzero(counts > 0), bbox)
    for factor in PAGE_FACTORS:
        cx, _cy, _inv = occupied(release.cx[idx] // factor, release.cy[idx] // factor)
        if len(cx) <= max_cells:
            return coarser(release, factor)
    return coarser(release, PAGE_FACTORS[-1])


# --------------------------------------------------------------------------- output


_TREND_KEYS = {1: Trend.UP, 0: Trend.FLAT, -1: Trend.DOWN}


def _in_bbox(
    release: Release, idx: np.ndarray, bbox: tuple[float, float, float, float] | None
) -> np.ndarray:
    if bbox is None or len(idx) == 0:
        return idx
    x0, y0 = release.corners(idx)
    size = release.cell_size
    keep = (x0 < bbox[2]) & (x0 + size > bbox[0]) & (y0 < bbox[3]) & (y0 + size > bbox[1])
    return idx[keep]


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
    from tryggkarta.gridspec import square_rings

    empty: dict[str, Any] = {"type": "FeatureCollection", "features": []}
    if release is None:
        return empty
    counts = release.values["count"] if group == "alla" else release.values[f"g:{group}"]
    flat = _in_bbox(release, np.flatnonzero(counts > 0), bbox)
    if page is not None:
        empty["numberMatched"] = len(flat)
        flat = flat[max(0, page[0]) : max(0, page[0]) + max(0, page[1])]
    if len(flat) == 0:
        return {**empty, **_meta(release, group, lang)}
    x0, y0 = release.corners(flat)
    rings = square_rings(x0, y0, release.cell_size, srid)
    names = cell_ids(release, flat)
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
            "cell_size": release.cell_size,
            "min_count": release.rule.k,
            "rounded_to": release.rule.base,
        }
    }


def area_sum(release: Release | None, cells: np.ndarray | None, key: str = "count") -> int | None:
    """Sum of published values over the cells at ``cells`` (suppressed cells count as 0),
    published again (a sum of published values is itself published: no new information)."""
    if release is None or cells is None or len(cells) == 0:
        return None
    values = np.asarray(release.values[key])[np.asarray(cells, dtype=np.int64)]
    total = int(values[values > 0].sum())
    return total if total > 0 else None


def cells_touching(release: Release | None, geom: Any) -> np.ndarray:
    """Indices of the release's (occupied) cells whose square intersects ``geom`` (working
    CRS); a cell not in the release holds nothing to sum."""
    import shapely

    if release is None or geom is None or release.n_cells == 0:
        return np.array([], dtype=np.int64)
    idx = _in_bbox(release, np.arange(release.n_cells, dtype=np.int64), tuple(geom.bounds))
    if len(idx) == 0:
        return idx
    x0, y0 = release.corners(idx)
    size = release.cell_size
    hit = shapely.intersects(shapely.box(x0, y0, x0 + size, y0 + size), geom)
    return idx[hit]


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
