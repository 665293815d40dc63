"""Rolling-origin backtest of the hotspot methods on real data, written to docs/backtest.md.

Reads the public test data in place from ``../shared/data`` (or ``$TRYGGKARTA_SHARED_DATA``);
nothing is copied into the repository. Run from the repository root::

    python bench/backtest_real.py --out docs/backtest.md

The protocol is the product's (:mod:`tryggkarta.analysis.forecasting`), so the table, the map
legend, ``tryggkarta evaluate`` and ``tryggkarta hotspots forecast`` measure the same thing:
one fixed study area per city (convex hull of the incidents inside their 0.1–99.9 %
coordinate range, 50 m cells), rolling forecast origins (training = all earlier incidents),
the default chosen on the first ``n_tune`` windows by PAI at 5 % with the bootstrap rule,
and every figure reported on the later windows the choice did not see.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tryggkarta.analysis.forecasting import (  # noqa: E402
    bootstrap_mean,
    default_candidates,
    rolling_backtest,
    stacked_coordinates,
)


def data_dir() -> Path:
    env = os.environ.get("TRYGGKARTA_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


CITIES = {
    "Chicago": dict(
        file="us_crime/chicago_crimes_2017_2019_sample25k.csv.gz",
        time="date",
        fmt="%m/%d/%Y %H:%M",
        lon="longitude",
        lat="latitude",
        epsg=32616,
        horizon=28.0,
        n_report=8,
    ),
    "Houston": dict(
        file="us_crime/houston_crime_2010_jan_aug.csv.gz",
        time="time",
        fmt=None,
        lon="lon",
        lat="lat",
        epsg=32615,
        horizon=14.0,
        n_report=4,
    ),
    "Memphis": dict(
        file="memphis/memphis_robberies.csv",
        time="date",
        fmt=None,
        lon="longitude",
        lat="latitude",
        epsg=32616,
        horizon=28.0,
        n_report=3,
    ),
    "Bradford": dict(
        file="uk_crime/bradford_policeuk_street_2011_2020_sample50k.csv.gz",
        time=None,  # year + month columns: month resolution only
        fmt=None,
        lon="longitude",
        lat="latitude",
        epsg=32630,
        horizon=182.0,
        n_report=4,
    ),
}


def load(city: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projected x, y (metres) and local wall-clock timestamps of one city."""
    spec = CITIES[city]
    df = pd.read_csv(data_dir() / spec["file"])
    if spec["time"] is None:
        df = df.dropna(subset=[spec["lon"], spec["lat"], "year", "month"])
        t = pd.to_datetime(dict(year=df["year"], month=df["month"], day=1))
    else:
        df = df.dropna(subset=[spec["lon"], spec["lat"], spec["time"]])
        t = pd.to_datetime(df[spec["time"]], format=spec["fmt"])
    tr = Transformer.from_crs(4326, spec["epsg"], always_xy=True)
    x, y = tr.transform(df[spec["lon"]].to_numpy(), df[spec["lat"]].to_numpy())
    return np.asarray(x), np.asarray(y), t.to_numpy(dtype="datetime64[ns]")


def run(city: str, gbm: bool = True) -> tuple[str, dict]:
    spec = CITIES[city]
    x, y, t = load(city)
    stack = stacked_coordinates(x, y)
    start = time.perf_counter()
    res = rolling_backtest(
        x,
        y,
        t,
        candidates=default_candidates(gbm=gbm, etas=True),
        n_tune=8,
        n_report=spec["n_report"],
        horizon_days=spec["horizon"],
    )
    secs = time.perf_counter() - start
    report_pai = {
        name: np.array(
            [
                w["pai"]
                for w in res.windows
                if w["candidate"] == name and w["phase"] == "report" and w["area_share"] == 0.05
            ]
        )
        for name in (res.choice, res.baseline)
    }
    d, lo, hi = bootstrap_mean(report_pai[res.choice] - report_pai[res.baseline])
    best_other = max(
        (r for r in res.report if r["candidate"] != res.baseline), key=lambda r: r["pai"]
    )
    top = stack.places[0]["records"] if stack.places else 0
    kept_note = ""
    if stack.places:  # the same protocol with the stacked records kept, for comparison
        both = [res.candidate(res.baseline)]
        if res.choice != res.baseline:
            both.append(res.candidate(res.choice))
        kept = rolling_backtest(
            x,
            y,
            t,
            candidates=both,
            n_tune=8,
            n_report=spec["n_report"],
            horizon_days=spec["horizon"],
            exclude_stacked=False,
        )
        kept_note = (
            "With the stacked records kept (same protocol): "
            + ", ".join(f"{r['candidate']} PAI@5 % {fmt(r)}" for r in kept.report)
            + f"; default then: {kept.choice}.\n\n"
        )
    text = (
        f"### {city}\n\n"
        f"`{spec['file']}` ({x.size} records) projected to EPSG:{spec['epsg']}; "
        f"{res.n_tune} tuning + {res.n_report} report windows of {res.horizon_days:g} days, "
        f"origins {res.origins[0]} … {res.origins[-1]}; "
        f"{stack.n_flagged} records on {len(stack.places)} stacked coordinate(s) left out "
        f"(threshold {stack.threshold:g} records per coordinate, largest pile {top}). "
        f"Runtime {secs:.1f} s.\n\n" + kept_note + res.to_markdown() + "\n"
    )
    summary = dict(
        city=city,
        default=res.choice,
        naive=res.reported(res.baseline),
        chosen=res.reported(res.choice),
        diff=(d, lo, hi),
        best_other=best_other,
        secs=secs,
    )
    return text, summary


def fmt(r: dict) -> str:
    return f"{r['pai']:.2f} [{r['pai_low']:.2f}, {r['pai_high']:.2f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the markdown here (default: stdout)")
    ap.add_argument("--city", action="append", choices=list(CITIES), help="only these cities")
    ap.add_argument(
        "--no-gbm", action="store_true", help="leave out gbm (the slowest method; opt-in)"
    )
    args = ap.parse_args()
    if not data_dir().is_dir():
        sys.exit(f"Test data not found at {data_dir()} (set TRYGGKARTA_SHARED_DATA).")
    cities = args.city or list(CITIES)
    texts, rows = [], []
    for city in cities:
        text, summary = run(city, gbm=not args.no_gbm)
        texts.append(text)
        rows.append(summary)
        print(f"{city}: {summary['secs']:.1f} s", file=sys.stderr)
    table = [
        "| data set | naive PAI@5 % | default | default PAI@5 % | default − naive (90 % CI) "
        "| best other method on the report windows |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        d, lo, hi = r["diff"]
        b = r["best_other"]
        table.append(
            f"| {r['city']} | {fmt(r['naive'])} | {r['default']} | {fmt(r['chosen'])} "
            f"| {d:+.2f} [{lo:+.2f}, {hi:+.2f}] | {b['candidate']}: {fmt(b)} |"
        )
    parts = [
        "# Rolling-origin backtest of the hotspot methods on real data\n",
        PROTOCOL,
        "## Summary\n",
        "\n".join(table) + "\n",
        *texts,
    ]
    out = "\n".join(parts)
    if args.out:
        args.out.write_text(out, encoding="utf-8")
    print(out)


PROTOCOL = """\
**Protocol** (the same as the map legend, `tryggkarta evaluate` and `tryggkarta hotspots
forecast`; code in `tryggkarta/analysis/forecasting.py`):

- **Fixed study area.** One per data set: the convex hull of the incidents inside their
  0.1–99.9 % coordinate range, rasterised to 50 m cells (A). A method's cells (100 m or
  250 m) are projected onto these 50 m cells, and the hot spots are the top 5 % of the
  **50 m** cells, so every method and cell size is scored on the same km².
- **Metrics.** hit rate = n/N; PAI = (n/N)/(a/A) (Chainey, Tompson & Uhlig 2008);
  PEI = n/n\\*, n\\* the most test incidents any a cells held (Hunt 2016) — 1 is perfect.
- **Rolling origins.** Windows of the stated length step back from the newest record; the
  training data for a window is *all incidents before it*. The first 8 windows are tuning
  windows, the later ones are report windows; every figure in the tables is the mean over
  the report windows with a 90 % percentile-bootstrap interval over windows.
- **Methods.** naive = all earlier incidents per cell (the baseline is naive at 100 m);
  recency = counts weighted by 0.5^(age / half-life), half-life 30, 90 or 365 days;
  KDE = quartic kernel, bandwidth 2 cells; Gi\\* = queen-contiguity z-score; gbm =
  scikit-learn HistGradientBoostingRegressor (Poisson loss, ≤ 40 trees, ≤ 30 000 training
  rows) trained on the 6 windows before each origin, features: the cell's counts in the
  last 3 windows, its history rate, 3 × 3 neighbourhood sums of the last window and of the history rate, and
  the season (day of year); etas = a self-exciting point process on the grid (Mohler et al.
  2011, ETAS-style): background rate per cell + θ·ω e^(−ω Δt) triggering spread over the
  3 × 3 neighbourhood by an estimated kernel, fitted by EM on the pairs within 60 days
  (`tryggkarta/analysis/etas.py`), forecast = expected count in the window. Each at 100 m
  and 250 m, except gbm and etas (100 m only: they are slow).
- **Choice of the default.** A method other than the baseline becomes the default only if
  its PAI at 5 % beats the baseline's on the 8 tuning windows with the lower end of a 90 %
  bootstrap interval of the mean difference above zero; otherwise the default *is* naive.
  The choice never sees the report windows.
- **Data quality.** The product's guard (`stacked_coordinates`): a coordinate is left out
  when it is one of the 5 largest piles, holds more than max(20, 50 × the median records per
  occupied coordinate), and it (or a larger pile) holds ≥ 3 × the records of the next
  largest coordinate — a default point stands apart from the smooth tail of real busy
  places; configured default positions and the municipality centre (none for these foreign
  cities) and records whose precision is not street-level are left out too.
- Timestamps are local wall clock as published; Bradford has month resolution only (every
  record on the 1st of its month), so its windows are half-years.

Reproduce: `python bench/backtest_real.py --out docs/backtest.md` (reads `../shared/data`;
`--no-gbm` leaves out the slowest method, `--city X` runs one data set).
"""


if __name__ == "__main__":
    main()
