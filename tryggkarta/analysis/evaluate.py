"""How far to trust a hot spot map: backtest on a time split (hit rate, PAI) and tuning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from .gistar import gistar
from .grid import Grid
from .kde import kde, top_cells
from .temporal import as_utc

DEFAULT_METHODS = ("naive", "kde", "gistar", "blend")
_DAY = np.timedelta64(86400, "s")


@dataclass(frozen=True)
class BacktestResult:
    """Backtest table.

    Attributes
    ----------
    table : list of dict
        Rows ``{method, area_share, hit_rate, pai, n_test, cells}``.
    best : str
        Method with the highest mean PAI over the area shares on the **test** period
        (a report, not a tuning choice; ties → earlier method).
    n_train, area_cells : int
        Training incidents in the study area; cells in the study area (A).
    n_test_outside : int
        Test incidents outside the grid or the study area (not in N).
    params : dict
        Parameters used (bandwidths, blend weight, half-life).
    """

    table: list[dict]
    best: str
    n_train: int = 0
    area_cells: int = 0
    params: dict = field(default_factory=dict)
    n_test_outside: int = 0

    def to_markdown(self) -> str:
        """Markdown table: one row per method, ``hit rate / PAI`` per area share."""
        shares = sorted({r["area_share"] for r in self.table})
        methods = list(dict.fromkeys(r["method"] for r in self.table))
        head = "| method | " + " | ".join(f"{s:.0%} area: hit rate / PAI" for s in shares) + " |"
        lines = [head, "|---|" + "---|" * len(shares)]
        for m in methods:
            cells = []
            for s in shares:
                r = next(r for r in self.table if r["method"] == m and r["area_share"] == s)
                cells.append(f"{r['hit_rate']:.1%} / {r['pai']:.2f}")
            name = f"**{m}**" if m == self.best else m
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        n_test = self.table[0]["n_test"] if self.table else 0
        lines.append("")
        lines.append(
            f"N test = {n_test} (+{self.n_test_outside} outside the study area), "
            f"N train = {self.n_train}, A = {self.area_cells} cells; "
            f"best (mean PAI) = {self.best}."
        )
        return "\n".join(lines)


def footprint_mask(grid: Grid, x: ArrayLike, y: ArrayLike, dilation: int = 1) -> NDArray[np.bool_]:
    """Study area from incidents: cells with at least one incident, dilated by ``dilation``
    cells (queen steps). A proxy for the built-up area when no boundary polygon is at hand;
    build it from the **training** incidents only so the test period is not peeked at."""
    occ = grid.counts(x, y) > 0
    if dilation > 0:
        occ = ndimage.binary_dilation(occ, structure=np.ones((3, 3)), iterations=dilation)
    return occ


def _weights(train_t: ArrayLike | None, n: int, half_life_days: float | None) -> NDArray | None:
    if train_t is None or half_life_days is None:
        return None
    t = as_utc(train_t)
    if t.size != n:
        raise ValueError("train_t must have one timestamp per training incident.")
    age = (t.max() - t) / _DAY
    return np.where(np.isnat(t), 0.0, 0.5 ** (age.astype(np.float64) / half_life_days))


def blend_score(
    counts: NDArray, weighted: NDArray, cell_size: float, bandwidth: float, weight: float
) -> NDArray[np.float64]:
    """``weight`` × recency-weighted counts + (1 − weight) × quartic KDE, each scaled to sum 1."""
    w_sum = weighted.sum()
    a = weighted / w_sum if w_sum > 0 else weighted
    d = kde(counts, cell_size, bandwidth).density
    b = d / d.sum() if d.sum() > 0 else d
    return weight * a + (1.0 - weight) * b


def method_scores(
    counts: NDArray,
    weighted: NDArray,
    grid: Grid,
    methods: Sequence[str],
    bandwidths: Sequence[float],
    blend_bandwidth: float,
    blend_weight: float,
    mask: NDArray,
) -> dict[str, NDArray]:
    """Hot spot score per cell for each method (higher = hotter), keyed by the row name used
    in :class:`BacktestResult` (``naive``, ``kde h=500 m``, ``gistar``, ``blend``)."""
    out: dict[str, NDArray] = {}
    for m in methods:  # loop over a handful of methods
        if m == "naive":
            out["naive"] = counts
        elif m == "kde":
            for h in bandwidths:
                out[f"kde h={h:g} m"] = kde(counts, grid.cell_size, h).density
        elif m == "gistar":
            out["gistar"] = gistar(counts, "queen", mask=mask).z
        elif m == "blend":
            out["blend"] = blend_score(
                counts, weighted, grid.cell_size, blend_bandwidth, blend_weight
            )
        else:
            raise ValueError(f"Unknown method {m!r}; use naive, kde, gistar or blend.")
    return out


def backtest(
    train_x: ArrayLike,
    train_y: ArrayLike,
    test_x: ArrayLike,
    test_y: ArrayLike,
    grid: Grid,
    *,
    methods: Sequence[str] = DEFAULT_METHODS,
    area_shares: Sequence[float] = (0.01, 0.05, 0.10),
    train_t: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    bandwidths: Sequence[float] | None = None,
    blend_bandwidth: float | None = None,
    blend_weight: float = 0.5,
    half_life_days: float | None = None,
) -> BacktestResult:
    """Hit rate and Predictive Accuracy Index of hot spot methods on a time split.

    Each method scores the cells from the training incidents; the top ``share`` of the
    study-area cells (``k = max(1, round(share·A))``) are the hot spots. With N test
    incidents in the study area and n of them in the hot spots,

    .. math:: \\text{hit rate} = n/N, \\qquad \\mathrm{PAI} = \\frac{n/N}{a/A}

    with a the hot spot cells and A the cells in the study area (Chainey et al. 2008).

    Methods: ``naive`` (training counts per cell — the baseline), ``kde`` (quartic KDE, one
    row per bandwidth), ``gistar`` (queen Gi* z), ``blend`` (``blend_weight`` × counts
    weighted by an exponential recency decay with ``half_life_days`` when ``train_t`` is
    given + the rest × KDE with ``blend_bandwidth``; see :func:`blend_score`). Ties in a
    score are broken in favour of the lower flat cell index (row-major from the south-west
    corner) — deterministic, but arbitrary for the many zero-count cells of ``naive``.

    Parameters
    ----------
    train_x, train_y, test_x, test_y : array_like
        Incident coordinates (working-CRS metres); points outside the grid/mask are ignored.
    grid : Grid
    methods : sequence of str
    area_shares : sequence of float
        Shares of the study area flagged as hot spots.
    train_t : array_like, optional
        Training timestamps (for the recency weights of ``blend``).
    mask : array_like of bool, optional
        Study area (default: every grid cell).
    bandwidths : sequence of float, optional
        KDE bandwidths in metres (default 2, 3 and 5 cells).
    blend_bandwidth, blend_weight, half_life_days
        Blend parameters (default bandwidth 2 cells, weight 0.5, no decay); pick them
        with :func:`tune`.

    Returns
    -------
    BacktestResult

    References
    ----------
    Chainey, S., Tompson, L. & Uhlig, S. (2008). The utility of hotspot mapping for
    predicting spatial patterns of crime. Security Journal 21, 4–28.
    """
    m = np.ones(grid.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if m.shape != grid.shape:
        raise ValueError(f"mask shape {m.shape} does not match the grid {grid.shape}.")
    tx = np.asarray(train_x, dtype=np.float64).ravel()
    ty = np.asarray(train_y, dtype=np.float64).ravel()
    w = _weights(train_t, tx.size, half_life_days)
    counts = np.where(m, grid.counts(tx, ty), 0.0)
    weighted = counts if w is None else np.where(m, grid.counts(tx, ty, weights=w), 0.0)
    test_counts = np.where(m, grid.counts(test_x, test_y), 0.0)
    n_test = int(test_counts.sum())
    if counts.sum() == 0:
        raise ValueError("No training incidents inside the study area: nothing to backtest.")
    if n_test == 0:
        raise ValueError("No test incidents inside the study area: the test period has no data.")
    c = grid.cell_size
    bws = tuple(bandwidths) if bandwidths is not None else (2 * c, 3 * c, 5 * c)
    bb = blend_bandwidth if blend_bandwidth is not None else 2 * c
    scores = method_scores(counts, weighted, grid, methods, bws, bb, blend_weight, m)
    area = int(m.sum())
    table = []
    for name, sc in scores.items():
        for share in area_shares:
            sel = top_cells(sc, share, m)
            k = int(sel.sum())
            hits = float(test_counts[sel].sum())
            hit_rate = hits / n_test
            table.append(
                dict(
                    method=name,
                    area_share=float(share),
                    hit_rate=hit_rate,
                    pai=hit_rate / (k / area),
                    n_test=n_test,
                    cells=k,
                )
            )
    mean_pai = {n: np.mean([r["pai"] for r in table if r["method"] == n]) for n in scores}
    best = max(scores, key=lambda n: (mean_pai[n], -list(scores).index(n)))
    params = dict(
        bandwidths=bws,
        blend_bandwidth=bb,
        blend_weight=blend_weight,
        half_life_days=half_life_days,
        cell_size=c,
    )
    n_out = int(np.asarray(test_x).size) - n_test
    return BacktestResult(
        table=table,
        best=best,
        n_train=int(counts.sum()),
        area_cells=area,
        params=params,
        n_test_outside=n_out,
    )


@dataclass(frozen=True)
class TuneResult:
    """Parameters chosen on the validation split of the training period."""

    cell_size: float
    blend_bandwidth: float
    blend_weight: float
    half_life_days: float | None
    pai: float
    table: list[dict]


def tune(
    x: ArrayLike,
    y: ArrayLike,
    t: ArrayLike,
    *,
    cell_sizes: Sequence[float] = (250.0,),
    bandwidth_cells: Sequence[float] = (1.5, 2.0, 3.0),
    blend_weights: Sequence[float] = (0.3, 0.5, 0.7, 0.9),
    half_lives_days: Sequence[float | None] = (None, 90.0, 180.0),
    validation_share: float = 0.25,
    area_share: float = 0.05,
    bounds: tuple[float, float, float, float] | None = None,
    footprint: int | None = 1,
) -> TuneResult:
    """Choose cell size, blend bandwidth, weight and half-life on a validation split.

    The **training** incidents are split in time: the last ``validation_share`` of their
    time span is the validation period, the rest fits the scores. Every combination is run
    through :func:`backtest` (method ``blend``) at ``area_share``; the highest validation
    PAI wins (ties → the earlier combination in the given order). The test period is never
    seen. The study area is the fit-period :func:`footprint_mask` dilated by ``footprint``
    cells (``None`` = the whole grid).

    Returns
    -------
    TuneResult
    """
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    ta = as_utc(t)
    if not (xa.size == ya.size == ta.size) or xa.size == 0:
        raise ValueError("x, y and t must be non-empty and of the same length.")
    t0, t1 = ta.min(), ta.max()
    cut = t0 + (t1 - t0) * (1.0 - validation_share)
    fit, val = ta < cut, ta >= cut
    if fit.sum() == 0 or val.sum() == 0:
        raise ValueError("The training period is too short to carve out a validation split.")
    table = []
    for cs in cell_sizes:  # loops over a handful of parameters
        g = Grid.for_points(xa, ya, cell_size=cs, bounds=bounds)
        m = None if footprint is None else footprint_mask(g, xa[fit], ya[fit], footprint)
        for bc in bandwidth_cells:
            for bw in blend_weights:
                for hl in half_lives_days:
                    r = backtest(
                        xa[fit],
                        ya[fit],
                        xa[val],
                        ya[val],
                        g,
                        methods=("blend",),
                        area_shares=(area_share,),
                        train_t=ta[fit],
                        mask=m,
                        blend_bandwidth=bc * cs,
                        blend_weight=bw,
                        half_life_days=hl,
                    )
                    table.append(
                        dict(
                            cell_size=cs,
                            blend_bandwidth=bc * cs,
                            blend_weight=bw,
                            half_life_days=hl,
                            pai=r.table[0]["pai"],
                        )
                    )
    best = max(range(len(table)), key=lambda i: (table[i]["pai"], -i))
    b = table[best]
    return TuneResult(
        cell_size=b["cell_size"],
        blend_bandwidth=b["blend_bandwidth"],
        blend_weight=b["blend_weight"],
        half_life_days=b["half_life_days"],
        pai=b["pai"],
        table=table,
    )
