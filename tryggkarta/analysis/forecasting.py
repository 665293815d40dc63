"""Honest hotspot forecasts: a fixed study area, rolling origins and a fair choice of method.

The protocol (issue #12), shared by the default hotspot layer, ``tryggkarta evaluate`` and
``bench/backtest_real.py``:

* **Fixed study area.** Every score is computed on one evaluation grid of ``EVAL_CELL`` = 50 m
  cells per data set: the cells whose centre lies in the configured region polygon, or — when
  none is given (foreign data sets, the bench) — in the convex hull of the incidents inside
  their 0.1–99.9 % coordinate range. A method's own cells (100 m, 250 m, …) are projected onto
  this grid (each 50 m cell takes the score of the method cell holding its centre), and the
  hot spots are the top ``share`` of the **50 m** cells. So "5 % of the area" is the same
  number of km² for every method and cell size, and PAI no longer climbs as the cells shrink.
* **Metrics.** hit rate = n/N, PAI = (n/N)/(a/A), PEI = n/n* where n* is the most test
  incidents any a cells could have held (PEI = PAI / best possible PAI; the oracle scores 1).
* **Rolling origins.** Forecast origins step back from the newest record in windows of
  ``horizon`` days; the first ``n_tune`` windows choose the method, the last ``n_report``
  (which the choice never sees) give the figure that is shown. Training for an origin is
  *all incidents before it* — that is what the baseline "naive" is: all earlier incidents.
* **Fair choice.** A candidate other than the baseline is chosen only if its PAI at the
  chosen share beats the baseline's on the tuning windows with the lower end of a bootstrap
  interval of the mean difference above zero; otherwise the default is the baseline.
* **Data-quality guard.** :func:`stacked_coordinates` flags records piled on one coordinate
  (police station, town hall, geocoder defaults); callers leave them out by default.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import ConvexHull, QhullError, cKDTree

from .gistar import gistar
from .grid import Grid
from .kde import kde
from .temporal import as_utc

EVAL_CELL = 50.0
AREA_SHARES = (0.01, 0.05, 0.10)
METRIC_SHARE = 0.05
_DAY = np.timedelta64(86400, "s")


# --------------------------------------------------------------------------- study area


@dataclass(frozen=True)
class StudyArea:
    """The fixed evaluation area of one data set: 50 m cells of ``grid`` inside it.

    ``cells`` are the flat indices (into ``grid``) of the study-area cells in increasing
    order; ``cx``/``cy`` their centres. Vectors over the study area have length ``size``."""

    grid: Grid
    cells: NDArray[np.int64]
    cx: NDArray[np.float64]
    cy: NDArray[np.float64]
    source: str

    @property
    def size(self) -> int:
        return int(self.cells.size)

    @property
    def area_km2(self) -> float:
        return self.size * self.grid.cell_size**2 / 1e6

    def counts(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
        """Incidents per study-area cell (points outside the area are dropped)."""
        return self.grid.counts(x, y).ravel()[self.cells].astype(np.float64)

    def lookup(self, grid: Grid) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """Flat index in ``grid`` of the cell holding each study-area cell's centre."""
        return grid.cell_index(self.cx, self.cy)

    def method_grid(self, cell_size: float) -> Grid:
        """A method grid of ``cell_size`` covering the study area (same for every origin)."""
        minx, miny = float(self.cx.min()), float(self.cy.min())
        maxx, maxy = float(self.cx.max()), float(self.cy.max())
        return Grid.for_points([], [], cell_size=cell_size, bounds=(minx, miny, maxx, maxy))


def study_area(
    x: ArrayLike,
    y: ArrayLike,
    *,
    polygon: object | None = None,
    cell: float = EVAL_CELL,
) -> StudyArea:
    """The fixed study area: ``polygon`` (a shapely geometry in working-CRS metres), or the
    convex hull of the points inside their 0.1–99.9 % coordinate range; rasterised to
    ``cell`` metre cells by cell centre."""
    import shapely

    if polygon is not None:
        geom = polygon
        source = "region polygon"
    else:
        geom = data_hull(x, y, cell)
        source = f"convex hull of the incidents (0.1–99.9 % range), {cell:g} m cells"
    minx, miny, maxx, maxy = geom.bounds
    grid = Grid.for_points([], [], cell_size=cell, bounds=(minx, miny, maxx, maxy))
    jj, ii = np.meshgrid(np.arange(grid.nx), np.arange(grid.ny))
    cx = grid.x0 + (jj.ravel() + 0.5) * cell
    cy = grid.y0 + (ii.ravel() + 0.5) * cell
    shapely.prepare(geom)
    inside = shapely.contains_xy(geom, cx, cy)
    if not inside.any():
        raise ValueError("The study area holds no whole evaluation cell.")
    cells = np.flatnonzero(inside)
    return StudyArea(grid, cells, cx[cells], cy[cells], source)


def data_hull(x: ArrayLike, y: ArrayLike, buffer: float = EVAL_CELL) -> object:
    """Convex hull (a shapely polygon) of the points inside their 0.1–99.9 % coordinate
    range — far-off geocoding errors do not stretch it; degenerate hulls are buffered."""
    import shapely

    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    ok = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[ok], ya[ok]
    if xa.size < 3:
        raise ValueError("A study area needs at least three located incidents.")
    qx, qy = np.quantile(xa, [0.001, 0.999]), np.quantile(ya, [0.001, 0.999])
    keep = (xa >= qx[0]) & (xa <= qx[1]) & (ya >= qy[0]) & (ya <= qy[1])
    pts = np.unique(np.c_[xa[keep], ya[keep]], axis=0)
    try:
        hull = ConvexHull(pts)
        return shapely.Polygon(pts[hull.vertices])
    except (QhullError, ValueError):  # collinear or too few distinct points
        return shapely.MultiPoint(pts).convex_hull.buffer(buffer)


def on_area(
    score: NDArray, lookup: tuple[NDArray[np.int64], NDArray[np.bool_]]
) -> NDArray[np.float64]:
    """A method-grid score projected onto the study-area cells (``-inf`` off its grid)."""
    idx, inside = lookup
    out = np.full(idx.shape, -np.inf)
    out[inside] = np.asarray(score, dtype=np.float64).ravel()[idx[inside]]
    return out


def top_k(score: NDArray, k: int) -> NDArray[np.bool_]:
    """The ``k`` highest entries of a vector; ties go to the lower index. O(n) (partition)."""
    s = np.where(np.isfinite(score), score, -np.inf)
    n = s.size
    k = min(max(int(k), 0), n)
    out = np.zeros(n, dtype=bool)
    if k == 0:
        return out
    thr = np.partition(s, n - k)[n - k]
    above = s > thr
    out |= above
    need = k - int(above.sum())
    tied = np.flatnonzero(s == thr)[:need]
    out[tied] = True
    return out


def n_cells(share: float, size: int) -> int:
    """Hot spot cells for an area share: ``max(1, round(share·A))``."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1]; got {share}.")
    return min(size, max(1, round(share * size)))


def score_metrics(
    area_score: NDArray, test_counts: NDArray, shares: Sequence[float] = AREA_SHARES
) -> list[dict[str, float]]:
    """Hit rate, PAI and PEI of one score (over the study-area cells) per area share."""
    n_test = float(test_counts.sum())
    if n_test <= 0:
        raise ValueError("No test incidents inside the study area.")
    rows = []
    # the oracle's k best cells: only cells with test incidents add to its sum, and they are
    # few (a few thousand of millions of study-area cells), so sort just those once
    occupied = np.sort(test_counts[test_counts > 0])[::-1]
    for share in shares:
        k = n_cells(share, area_score.size)
        hits = float(test_counts[top_k(area_score, k)].sum())
        best = float(occupied[:k].sum())
        hit_rate = hits / n_test
        rows.append(
            dict(
                area_share=float(share),
                hit_rate=hit_rate,
                pai=hit_rate / (k / area_score.size),
                pei=hits / best if best > 0 else 0.0,
                cells=k,
                n_test=int(n_test),
            )
        )
    return rows


# --------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class Candidate:
    """One forecasting method with its parameters.

    ``method``: ``naive`` (all earlier incidents per cell), ``recency`` (counts weighted by
    ``0.5 ** (age / half_life_days)`` at the origin), ``kde`` (quartic KDE of the counts with
    bandwidth ``bandwidth_cells`` × cell size), ``gistar`` (queen Gi* z of the counts) or
    ``gbm`` (gradient-boosted Poisson regression on lagged counts, see :func:`gbm_score`) or
    ``etas`` (a self-exciting point process fitted by EM, :mod:`tryggkarta.analysis.etas`)."""

    method: str
    cell_size: float
    half_life_days: float | None = None
    bandwidth_cells: float | None = None

    @property
    def name(self) -> str:
        base = f"{self.method} {self.cell_size:g} m"
        if self.method == "recency":
            return f"{base} half-life {self.half_life_days:g} d"
        if self.method == "kde":
            return f"{base} h={self.bandwidth_cells * self.cell_size:g} m"
        return base


def gbm_available() -> bool:
    """Whether scikit-learn (the ``forecast`` extra) is installed for the ``gbm`` method."""
    import importlib.util

    return importlib.util.find_spec("sklearn") is not None


def default_candidates(
    cell_sizes: Sequence[float] = (100.0, 250.0),
    half_lives: Sequence[float] = (30.0, 90.0, 365.0),
    *,
    gbm: bool = False,
    etas: bool = True,
) -> list[Candidate]:
    """naive, recency (each half-life), KDE (h = 2 cells) and Gi* at each cell size, and
    with ``gbm`` (needs the ``forecast`` extra) gbm and with ``etas`` the self-exciting
    process at the first (finest) cell size; the first entry (naive at the first cell size)
    is the baseline.

    gbm is off by default (the product turns it on with ``TRYGGKARTA_FORECAST_GBM``; the
    bench always runs it): in docs/backtest.md its fitting takes about as long as etas and
    several times all the other methods together, and it was the chosen default on one of
    four real data sets (Houston, +4.8 % PAI over naive; KDE, the choice without it, +2.3 %)."""
    if gbm and not gbm_available():
        raise ValueError("The gbm method needs scikit-learn (pip install tryggkarta[forecast]).")
    with_gbm = gbm
    out: list[Candidate] = []
    for c in cell_sizes:
        out.append(Candidate("naive", c))
    for c in cell_sizes:
        out.extend(Candidate("recency", c, half_life_days=h) for h in half_lives)
        out.append(Candidate("kde", c, bandwidth_cells=2.0))
        out.append(Candidate("gistar", c))
        if with_gbm and c == cell_sizes[0]:
            out.append(Candidate("gbm", c))
        if etas and c == cell_sizes[0]:
            out.append(Candidate("etas", c))
    return out


def recency_weights(t: ArrayLike, origin: np.datetime64, half_life_days: float) -> NDArray:
    """``0.5 ** (age / half_life)`` with the age in days at ``origin`` (NaT → 0)."""
    ta = as_utc(t)
    age = (np.datetime64(origin, "ns") - ta) / _DAY
    w = 0.5 ** (age.astype(np.float64) / float(half_life_days))
    return np.where(np.isnat(ta), 0.0, w)


def candidate_score(
    cand: Candidate,
    grid: Grid,
    x: NDArray,
    y: NDArray,
    t: NDArray | None = None,
    origin: np.datetime64 | None = None,
    horizon: np.timedelta64 | None = None,
) -> NDArray[np.float64]:
    """Score per method-grid cell from the training incidents (higher = hotter)."""
    if cand.method == "gbm":
        if t is None or origin is None or horizon is None:
            raise ValueError("gbm needs timestamps, an origin and the window length.")
        return gbm_score(grid, x, y, t, origin, horizon)
    if cand.method == "etas":
        if t is None or origin is None or horizon is None:
            raise ValueError("etas needs timestamps, an origin and the window length.")
        from .etas import etas_score

        return etas_score(grid, x, y, t, origin, horizon)
    if cand.method == "recency":
        if t is None or origin is None:
            raise ValueError("recency needs timestamps and an origin.")
        w = recency_weights(t, origin, float(cand.half_life_days or 90.0))
        return grid.counts(x, y, weights=w).astype(np.float64)
    counts = grid.counts(x, y).astype(np.float64)
    if cand.method == "naive":
        return counts
    if cand.method == "kde":
        return kde(
            counts, grid.cell_size, float(cand.bandwidth_cells or 2.0) * grid.cell_size
        ).density
    if cand.method == "gistar":
        return np.nan_to_num(gistar(counts, "queen").z, nan=-np.inf)
    raise ValueError(
        f"Unknown method {cand.method!r}; use naive, recency, kde, gistar, gbm or etas."
    )


N_LAGS = 3


def lag_features(
    grid: Grid,
    x: NDArray,
    y: NDArray,
    t: NDArray,
    origin: np.datetime64,
    horizon: np.timedelta64,
) -> NDArray[np.float64]:
    """Features per cell (rows in flat cell order) for a forecast at ``origin``.

    Columns: counts in the ``N_LAGS`` windows of ``horizon`` before the origin (most recent
    first); the mean count per window over all earlier history; the 3 × 3 neighbourhood sums
    of the last window and of the history mean; and the season of the origin (sine and cosine
    of the day of year). Only incidents before ``origin`` are used."""
    from scipy import ndimage

    ta = as_utc(t)
    o = np.datetime64(origin, "ns")
    before = ta < o
    xa, ya, ta = np.asarray(x)[before], np.asarray(y)[before], ta[before]
    cols = []
    for k in range(N_LAGS):  # three windows
        w = (ta >= o - horizon * (k + 1)) & (ta < o - horizon * k)
        cols.append(grid.counts(xa[w], ya[w]).astype(np.float64))
    n_windows = max(float((o - ta.min()) / horizon), 1.0) if ta.size else 1.0
    rate = grid.counts(xa, ya).astype(np.float64) / n_windows
    box = np.ones((3, 3))
    nb_last = ndimage.convolve(cols[0], box, mode="constant")
    nb_rate = ndimage.convolve(rate, box, mode="constant")
    doy = (o - o.astype("datetime64[Y]")) / _DAY
    angle = 2 * np.pi * float(doy) / 365.25
    n = grid.n_cells
    feats = [c.ravel() for c in cols] + [rate.ravel(), nb_last.ravel(), nb_rate.ravel()]
    feats += [np.full(n, np.sin(angle)), np.full(n, np.cos(angle))]
    return np.column_stack(feats)


def gbm_score(
    grid: Grid,
    x: NDArray,
    y: NDArray,
    t: NDArray,
    origin: np.datetime64,
    horizon: np.timedelta64,
    *,
    n_train_windows: int = 6,
    max_rows: int = 30_000,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Gradient-boosted forecast of the next window's count per cell.

    Trained on the ``n_train_windows`` windows before ``origin``: features at each earlier
    pseudo-origin (:func:`lag_features`) → the count in the window that followed it, on the
    cells with any incident in their 3 × 3 neighbourhood so far (a seeded random sample of
    ``max_rows`` rows when there are more). scikit-learn's
    ``HistGradientBoostingRegressor`` with a Poisson loss (install the ``forecast`` extra).
    Cells never near an incident score 0; the model's predictions are positive."""
    try:
        from sklearn.ensemble import HistGradientBoostingRegressor
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ValueError(
            "The gbm method needs scikit-learn (pip install tryggkarta[forecast])."
        ) from exc

    ta = as_utc(t)
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    o = np.datetime64(origin, "ns")
    rows, targets = [], []
    for k in range(1, n_train_windows + 1):  # a handful of pseudo-origins
        ok = o - horizon * k
        if not (ta < ok).any():
            break
        f = lag_features(grid, xa, ya, ta, ok, horizon)
        active = (f[:, 5] > 0) | (f[:, 4] > 0)
        w = (ta >= ok) & (ta < ok + horizon)
        target = grid.counts(xa[w], ya[w]).ravel().astype(np.float64)
        rows.append(f[active])
        targets.append(target[active])
    now = lag_features(grid, xa, ya, ta, o, horizon)
    active = (now[:, 5] > 0) | (now[:, 4] > 0)
    score = np.zeros(grid.n_cells)
    if not rows or sum(r.shape[0] for r in rows) < 20 or not active.any():
        score[:] = now[:, 3]  # too little history to learn from: the history rate
        return score.reshape(grid.shape)
    xt, yt = np.vstack(rows), np.concatenate(targets)
    if yt.size > max_rows:
        pick = np.random.default_rng(seed).choice(yt.size, max_rows, replace=False)
        xt, yt = xt[pick], yt[pick]
    if yt.sum() == 0:
        score[:] = now[:, 3]
        return score.reshape(grid.shape)
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    model = HistGradientBoostingRegressor(
        loss="poisson", max_iter=40, learning_rate=0.15, max_leaf_nodes=15, random_state=seed
    )
    # one OpenMP thread: on a shared or busy machine (web workers, other jobs) the threads
    # wait for each other; measured 4 × faster single-threaded on the loaded bench machine
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(xt, yt)
        score[active] = model.predict(now[active])
    return score.reshape(grid.shape)


# --------------------------------------------------------------------------- data quality


#: Why a coordinate was flagged: a pile far above the heavy tail of the data, a configured
#: default position (police station, town hall) or the municipality centre, or records whose
#: own precision says they are not street-level (Polisen's ``precision = municipality``).
STACK_REASONS = ("spike", "known", "precision")


@dataclass(frozen=True)
class StackReport:
    """Records piled on one coordinate far beyond what the rest of the data makes plausible.

    ``places``: one dict per flagged coordinate (``x``, ``y``, ``records``, ``reason`` — one
    of :data:`STACK_REASONS`), largest first."""

    flagged: NDArray[np.bool_]
    threshold: float
    places: list[dict] = field(default_factory=list)

    @property
    def n_flagged(self) -> int:
        return int(self.flagged.sum())

    def coordinates(self) -> NDArray[np.float64]:
        """The flagged coordinates, shape (k, 2)."""
        return np.array([[p["x"], p["y"]] for p in self.places], dtype=np.float64).reshape(-1, 2)

    def note(self, lang: str = "sv", reasons: Sequence[str] = STACK_REASONS) -> str:
        """One sentence for the import report and the map legend ('' when nothing found),
        about the places flagged for one of ``reasons``."""
        places = [p for p in self.places if p["reason"] in reasons]
        if not places:
            return ""
        n, k = sum(p["records"] for p in places), len(places)
        if lang == "en":
            return (
                f"Data quality: {n} records sit on {k} single coordinate(s) (e.g. a police "
                f"station or a geocoder default) and are left out of the hot spots."
            )
        return (
            f"Datakvalitet: {n} händelser ligger på {k} enskild(a) koordinat(er) (t.ex. en "
            f"polisstation eller en standardposition) och räknas inte med i brännpunkterna."
        )


def stacked_coordinates(
    x: ArrayLike,
    y: ArrayLike,
    *,
    factor: float = 50.0,
    floor: int = 20,
    gap: float = 3.0,
    max_piles: int = 5,
    known: ArrayLike | None = None,
    known_radius: float = 25.0,
    known_min: int = 3,
    coarse: ArrayLike | None = None,
    precision: float = 1.0,
) -> StackReport:
    """Flag records on default locations; keep real busy places (stores, malls, stations).

    Coordinates are compared rounded to ``precision`` metres. A coordinate is flagged when

    * **spike**: it is one of the ``max_piles`` largest piles, holds more than
      ``max(floor, factor × median records per occupied coordinate)`` records, and it (or a
      larger pile) holds at least ``gap`` times the records of the next largest coordinate.
      Real crime concentrates on places in a smooth heavy tail (Houston's department stores:
      515, 496, 406, 400 … records); a police station or a geocoder's default point stands
      apart from that tail (3.6 % of the records where the next place holds 0.5 %). A test on
      the records within 250 m cannot tell them apart: a mall's own parking lot holds
      88–100 % of the records around it, just like a default point does;
    * **known**: it lies within ``known_radius`` m of a ``known`` point — configured default
      positions (police station, town hall) and the municipality centre, shape (k, 2) — and
      holds at least ``known_min`` records;
    * **precision**: ``coarse`` (a boolean per record) marks records whose own precision is
      not street-level (Polisen's municipality centres); their coordinates are reported.

    Returns which records are flagged and the flagged places, largest first."""
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    ok = np.isfinite(xa) & np.isfinite(ya)
    flagged = np.zeros(xa.size, dtype=bool)
    coarse_a = (
        np.zeros(xa.size, dtype=bool) if coarse is None else np.asarray(coarse, dtype=bool).ravel()
    )
    if coarse_a.size != xa.size:
        raise ValueError("coarse must hold one flag per record.")
    if not ok.any():
        return StackReport(flagged, float(floor))
    idx = np.flatnonzero(ok)
    key = np.c_[np.round(xa[ok] / precision), np.round(ya[ok] / precision)]
    uniq, inv, cnt = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    is_coarse = np.bincount(inv, weights=coarse_a[idx], minlength=uniq.shape[0]) > 0
    street = ~is_coarse
    scnt = np.where(street, cnt, 0)
    occupied = scnt[scnt > 0]
    threshold = max(float(floor), factor * float(np.median(occupied))) if occupied.size else 0.0
    reason = np.full(uniq.shape[0], "", dtype=object)
    # spike: the largest piles, ranked; cut after the last big step down the tail
    top = np.argsort(-scnt, kind="stable")[: max_piles + 1]
    c = scnt[top].astype(np.float64)
    nxt = np.r_[c[1:], 0.0] if c.size else c
    step = (c > threshold) & (c >= gap * np.maximum(nxt, 1.0))
    step[max_piles:] = False
    if step.any():
        last = int(np.flatnonzero(step).max())
        reason[top[: last + 1]] = "spike"
    # known defaults: within known_radius of a configured point or the municipality centre
    if known is not None:
        kp = np.asarray(known, dtype=np.float64).reshape(-1, 2)
        if kp.size:
            dist, _ = cKDTree(kp).query(uniq * precision, distance_upper_bound=known_radius)
            near = np.isfinite(dist) & (scnt >= known_min)
            reason[near & (reason == "")] = "known"
    reason[is_coarse] = "precision"
    pile = reason != ""
    # a street-level record sharing a coarse record's point is not flagged for that alone
    flagged[idx] = pile[inv] & ((reason[inv] != "precision") | coarse_a[idx])
    # a coarse place counts only its coarse records (street-level ones there are not flagged)
    ncoarse = np.bincount(inv, weights=coarse_a[idx], minlength=uniq.shape[0]).astype(np.int64)
    cnt = np.where(reason == "precision", ncoarse, cnt)
    order = np.argsort(-cnt[pile], kind="stable")
    places = [
        {"x": float(px * precision), "y": float(py * precision), "records": int(n), "reason": r}
        for (px, py), n, r in zip(
            uniq[pile][order], cnt[pile][order], reason[pile][order], strict=True
        )
    ]
    return StackReport(flagged, threshold, places)


def stacked_piles(
    x: ArrayLike,
    y: ArrayLike,
    counts: ArrayLike,
    *,
    factor: float = 50.0,
    floor: int = 20,
    gap: float = 3.0,
    max_piles: int = 5,
    known: ArrayLike | None = None,
    known_radius: float = 25.0,
    known_min: int = 3,
    median: float | None = None,
) -> StackReport:
    """:func:`stacked_coordinates` for street-level records already gathered per whole metre:
    ``x``, ``y`` the distinct coordinates in ascending (x, y) order, ``counts`` the records on
    each. Same threshold and places; ``flagged`` is per coordinate.

    A streamed import of 15M rows gathers millions of coordinates: this works on the counts
    (a median, a partial sort for the largest piles) and looks at coordinates only near the
    ``known`` points, so it copies no coordinate array and sorts nothing whole.

    ``median``: the median pile count when the piles given are only those the rule can pick
    (the largest and those near the known points, :meth:`tryggkarta.ingest.piles.
    SpilledPiles.reduce`); by default the median of ``counts``.
    """
    cnt = np.asarray(counts).ravel()  # as given (int32 from a streamed import): no copy
    xa, ya = np.asarray(x).ravel(), np.asarray(y).ravel()
    flagged = np.zeros(cnt.size, dtype=bool)
    if cnt.size == 0:
        return StackReport(flagged, float(floor))
    mid = float(np.median(cnt)) if median is None else float(median)
    threshold = max(float(floor), factor * mid)
    k = min(max_piles + 1, cnt.size)
    kth = np.partition(cnt, cnt.size - k)[cnt.size - k]  # the k-th largest pile
    candidates = np.flatnonzero(cnt >= kth)  # ascending: ties in the order argsort keeps
    top = candidates[np.argsort(-cnt[candidates], kind="stable")][:k]
    c = cnt[top].astype(np.float64)
    nxt = np.r_[c[1:], 0.0]
    step = (c > threshold) & (c >= gap * np.maximum(nxt, 1.0))
    step[max_piles:] = False
    reasons: dict[int, str] = {}
    if step.any():
        reasons.update((int(i), "spike") for i in top[: int(np.flatnonzero(step).max()) + 1])
    if known is not None:
        kp = np.asarray(known, dtype=np.float64).reshape(-1, 2)
        if kp.size:
            box = np.zeros(cnt.size, dtype=bool)
            for kx, ky in kp:  # a square around each point first, the exact test on what is in
                r = known_radius  # compared as given (whole metres: no float copy of them)
                inx = np.flatnonzero((xa >= math.floor(kx - r)) & (xa <= math.ceil(kx + r)))
                iny = (ya[inx] >= math.floor(ky - r)) & (ya[inx] <= math.ceil(ky + r))
                box[inx[iny]] = True
            idx = np.flatnonzero(box & (cnt >= known_min))
            if idx.size:
                pts = np.c_[xa[idx], ya[idx]].astype(np.float64)
                dist, _ = cKDTree(kp).query(pts, distance_upper_bound=known_radius)
                for i in idx[np.isfinite(dist)]:
                    reasons.setdefault(int(i), "known")
    piles = np.array(sorted(reasons), dtype=np.int64)
    flagged[piles] = True
    order = np.argsort(-cnt[piles], kind="stable")
    places = [
        {"x": float(xa[i]), "y": float(ya[i]), "records": int(cnt[i]), "reason": reasons[int(i)]}
        for i in piles[order]
    ]
    return StackReport(flagged, threshold, places)


# --------------------------------------------------------------------------- protocol


def rolling_origins(
    t: ArrayLike,
    *,
    n_tune: int = 8,
    n_report: int = 3,
    horizon_days: float = 28.0,
    min_per_window: int = 30,
    report_start: np.datetime64 | pd.Timestamp | None = None,
) -> tuple[NDArray, np.timedelta64]:
    """Forecast origins (oldest first) and the window length.

    Windows of ``horizon`` days step back from just after the newest record; the horizon is
    lengthened until a window holds ``min_per_window`` incidents on average (sparse data),
    but kept short enough that two windows of history precede the first origin. With
    ``report_start`` the last windows start there (as many as fit before the newest record,
    at least one) and the ``n_tune`` windows before it are the tuning windows."""
    ta = as_utc(t)
    ta = ta[~np.isnat(ta)]
    if ta.size == 0:
        raise ValueError("No timestamps to place forecast origins on.")
    t0 = ta.min()
    end = ta.max() + np.timedelta64(1, "s")
    rs = None if report_start is None else as_utc([report_start])[0]
    if rs is not None and not t0 < rs < end:
        raise ValueError("The report period must start inside the data's time span.")
    head = n_tune + (n_report if rs is None else 0)
    before = float(((end if rs is None else rs) - t0) / _DAY)
    rate = ta.size / max(float((end - t0) / _DAY), 1.0)
    horizon = max(float(horizon_days), math.ceil(min_per_window / rate))
    horizon = min(horizon, math.floor(before / (head + 2)))
    if horizon < 7:
        raise ValueError(
            f"{before:.0f} days of data are too short for {head} forecast windows of at least "
            "a week."
        )
    h = np.timedelta64(int(horizon * 86400), "s")
    if rs is None:
        w = n_tune + n_report
        origins = np.array([end - h * (w - i) for i in range(w)], dtype="datetime64[ns]")
    else:
        n_rep = max(1, int((end - rs) // h))
        steps = np.r_[np.arange(-n_tune, 0), np.arange(n_rep)] * float(horizon)
        origins = local_days(rs, steps)
        origins = origins[origins < end]
    return origins, h


def local_days(start: np.datetime64, days: ArrayLike) -> NDArray:
    """``start`` (UTC) moved by whole local calendar days (``config.local_timezone()``):
    the same wall-clock time on each day, so a split at local midnight keeps every origin
    at local midnight across daylight-saving changes (those windows are 23 or 25 h longer
    or shorter by an hour). Returns UTC ``datetime64[ns]``."""
    from tryggkarta.config import local_timezone

    local = pd.Timestamp(start).tz_localize("UTC").tz_convert(local_timezone())
    wall = local.tz_localize(None) + pd.to_timedelta(np.asarray(days), unit="D")
    moved = pd.DatetimeIndex(wall).tz_localize(
        local_timezone(), ambiguous=True, nonexistent="shift_forward"
    )
    return np.asarray(moved.tz_convert("UTC").tz_localize(None).values, dtype="datetime64[ns]")


def bootstrap_mean(
    values: ArrayLike, *, n_boot: int = 2000, level: float = 0.9, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap interval of the mean."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return (math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, (n_boot, v.size))].mean(axis=1)
    a = (1.0 - level) / 2
    return float(v.mean()), float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def choose(
    pai: dict[str, ArrayLike], baseline: str, *, level: float = 0.9, seed: int = 0
) -> tuple[str, list[dict]]:
    """The fair choice: the candidate with the highest mean PAI among those whose mean
    difference to ``baseline`` over the tuning windows has a bootstrap interval (``level``)
    with its lower end above zero; otherwise ``baseline``. Returns (choice, rows)."""
    base = np.asarray(pai[baseline], dtype=np.float64)
    rows = []
    for name, vals in pai.items():  # a handful of candidates
        v = np.asarray(vals, dtype=np.float64)
        mean = float(v.mean())
        d, lo, hi = bootstrap_mean(v - base, level=level, seed=seed)
        eligible = name != baseline and lo > 0
        rows.append(
            dict(candidate=name, mean_pai=mean, diff=d, diff_low=lo, diff_high=hi, beats=eligible)
        )
    ok = [r for r in rows if r["beats"]]
    choice = max(ok, key=lambda r: r["mean_pai"])["candidate"] if ok else baseline
    return choice, rows


@dataclass(frozen=True)
class ProtocolResult:
    """Outcome of :func:`rolling_backtest`.

    ``windows``: one row per (candidate, origin, share) with ``phase`` ``tune``/``report``.
    ``selection``: :func:`choose` rows on the tuning windows. ``report``: per candidate the
    mean PAI at ``metric_share`` over the report windows with a bootstrap interval, plus mean
    hit rate and PEI per share and ``seconds``, its fitting time summed over all windows.
    ``choice`` is the default method, ``baseline`` the naive one."""

    choice: str
    baseline: str
    candidates: list[Candidate]
    windows: list[dict]
    selection: list[dict]
    report: list[dict]
    origins: list[str]
    horizon_days: float
    n_tune: int
    n_report: int
    metric_share: float
    area_cells: int
    area_km2: float
    area_source: str
    n_excluded: int = 0

    def candidate(self, name: str) -> Candidate:
        return next(c for c in self.candidates if c.name == name)

    def reported(self, name: str) -> dict:
        return next(r for r in self.report if r["candidate"] == name)

    def to_markdown(self) -> str:
        """The rolling-origin table: PAI at the metric share on the report windows."""
        s = f"{self.metric_share:.0%}"
        lines = [
            f"| method | PAI@{s} (report windows, 90 % CI) | hit rate@1/5/10 % | PEI@{s} "
            f"| tuning: mean PAI − naive (90 % CI) |",
            "|---|---|---|---|---|",
        ]
        sel = {r["candidate"]: r for r in self.selection}
        for r in self.report:
            name = r["candidate"]
            tag = " **(default)**" if name == self.choice else ""
            tag += " (baseline)" if name == self.baseline else ""
            hr = " / ".join(f"{r['hit_rate'][k]:.1%}" for k in sorted(r["hit_rate"]))
            d = sel[name]
            lines.append(
                f"| {name}{tag} | {r['pai']:.2f} [{r['pai_low']:.2f}, {r['pai_high']:.2f}] "
                f"| {hr} | {r['pei']:.2f} | {d['diff']:+.2f} [{d['diff_low']:+.2f}, "
                f"{d['diff_high']:+.2f}] |"
            )
        lines.append("")
        lines.append(
            f"Study area {self.area_km2:.1f} km² ({self.area_cells} cells of {EVAL_CELL:g} m, "
            f"{self.area_source}); {self.n_tune} tuning + {self.n_report} report windows of "
            f"{self.horizon_days:g} days (training = all earlier incidents); "
            f"{self.n_excluded} records on stacked coordinates left out. Default: {self.choice}"
            + (" (no method beat naive beyond noise)." if self.choice == self.baseline else ".")
        )
        return "\n".join(lines)


def rolling_backtest(
    x: ArrayLike,
    y: ArrayLike,
    t: ArrayLike,
    *,
    area: StudyArea | None = None,
    candidates: Sequence[Candidate] | None = None,
    n_tune: int = 8,
    n_report: int = 3,
    horizon_days: float = 28.0,
    min_per_window: int = 30,
    shares: Sequence[float] = AREA_SHARES,
    metric_share: float = METRIC_SHARE,
    exclude_stacked: bool = True,
    level: float = 0.9,
    report_start: np.datetime64 | pd.Timestamp | None = None,
) -> ProtocolResult:
    """Run every candidate on every rolling origin, choose on the tuning windows and report
    on the later windows (see the module docstring). The first candidate is the baseline."""
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    ta = as_utc(t)
    if not (xa.size == ya.size == ta.size):
        raise ValueError("x, y and t must have the same length.")
    n_excluded = 0
    if exclude_stacked:
        stack = stacked_coordinates(xa, ya)
        n_excluded = stack.n_flagged
        keep = ~stack.flagged
        xa, ya, ta = xa[keep], ya[keep], ta[keep]
    if area is None:
        area = study_area(xa, ya)
    cands = list(candidates) if candidates is not None else default_candidates()
    baseline = cands[0].name
    if metric_share not in shares:
        shares = (*shares, metric_share)
    origins, h = rolling_origins(
        ta,
        n_tune=n_tune,
        n_report=n_report,
        horizon_days=horizon_days,
        min_per_window=min_per_window,
        report_start=report_start,
    )
    n_report = len(origins) - n_tune
    grids = {c.cell_size: area.method_grid(c.cell_size) for c in cands}
    lookups = {cs: area.lookup(g) for cs, g in grids.items()}
    order = np.argsort(ta, kind="stable")
    xs, ys, ts = xa[order], ya[order], ta[order]
    windows: list[dict] = []
    seconds: dict[str, float] = {}  # fitting time per candidate over all windows
    # a window ends where the next begins (local calendar days: 23 or 25 h at a DST change)
    ends = origins + h
    nxt = origins[1:]
    close = np.abs(nxt - ends[:-1]) <= np.timedelta64(2, "h")
    ends[:-1] = np.where(close, nxt, ends[:-1])
    for i, o in enumerate(origins):  # ≈ 11 origins
        lo = np.searchsorted(ts, o, side="left")
        hi = np.searchsorted(ts, ends[i], side="left")
        test_counts = area.counts(xs[lo:hi], ys[lo:hi])
        if lo == 0 or test_counts.sum() == 0:
            continue  # nothing to score in this window (every candidate skips it)
        phase = "tune" if i < n_tune else "report"
        for c in cands:  # a dozen candidates
            started = time.perf_counter()
            sc = candidate_score(c, grids[c.cell_size], xs[:lo], ys[:lo], ts[:lo], o, h)
            seconds[c.name] = seconds.get(c.name, 0.0) + time.perf_counter() - started
            for row in score_metrics(on_area(sc, lookups[c.cell_size]), test_counts, shares):
                windows.append(
                    dict(row, candidate=c.name, origin=str(o)[:10], phase=phase, n_train=int(lo))
                )

    def series(name: str, phase: str, key: str = "pai", share: float = metric_share) -> NDArray:
        return np.array(
            [
                w[key]
                for w in windows
                if w["candidate"] == name and w["phase"] == phase and w["area_share"] == share
            ]
        )

    used = {(w["origin"], w["phase"]) for w in windows}
    if sum(p == "tune" for _, p in used) < 2 or not any(p == "report" for _, p in used):
        raise ValueError(
            "Too few forecast windows hold incidents: need two tuning and one report window."
        )
    choice, selection = choose(
        {c.name: series(c.name, "tune") for c in cands}, baseline, level=level
    )
    report = []
    for c in cands:
        mean, low, high = bootstrap_mean(series(c.name, "report"), level=level)
        report.append(
            dict(
                candidate=c.name,
                method=c.method,
                pai=mean,
                pai_low=low,
                pai_high=high,
                pei=float(series(c.name, "report", "pei").mean()),
                hit_rate={
                    f"{s:g}": float(series(c.name, "report", "hit_rate", s).mean()) for s in shares
                },
                seconds=seconds.get(c.name, 0.0),
            )
        )
    return ProtocolResult(
        choice=choice,
        baseline=baseline,
        candidates=cands,
        windows=windows,
        selection=selection,
        report=report,
        origins=sorted({o for o, _ in used}),
        horizon_days=float(h / _DAY),
        n_tune=sum(p == "tune" for _, p in used),
        n_report=sum(p == "report" for _, p in used),
        metric_share=metric_share,
        area_cells=area.size,
        area_km2=area.area_km2,
        area_source=area.source,
        n_excluded=n_excluded,
    )


def hot_cells(
    area: StudyArea, grid: Grid, score: NDArray, share: float
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """The method-grid cells holding the top ``share`` of the study area, hottest first,
    and the selected study-area cells."""
    lookup = area.lookup(grid)
    s = on_area(score, lookup)
    sel = top_k(s, n_cells(share, area.size))
    idx = np.unique(lookup[0][sel & lookup[1]])
    idx = idx[np.argsort(-np.asarray(score).ravel()[idx], kind="stable")]
    return idx, sel
