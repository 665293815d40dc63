"""Real-data backtest of the hot spot methods (hit rate and PAI), written to docs/backtest.md.

Reads the public test data in place from ``../shared/data`` (or ``$TRYGGKARTA_SHARED_DATA``);
nothing is copied into the repository. Run from the repository root::

    python bench/backtest_real.py --out docs/backtest.md

For each city: project lon/lat to a metric CRS with pyproj, 250 m cells over the bounding
box of all incidents, tune the blend on a validation split carved from the training period
(no peeking at the test period), then backtest naive / KDE / Gi* / blend on the test period.
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
from tryggkarta.analysis import Grid, backtest, tune
from tryggkarta.analysis.evaluate import footprint_mask

CELL = 250.0


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
        train=("2017-01-01", "2018-01-01"),
        test=("2018-01-01", "2018-07-01"),
    ),
    "Houston": dict(
        file="us_crime/houston_crime_2010_jan_aug.csv.gz",
        time="time",
        fmt=None,
        lon="lon",
        lat="lat",
        epsg=32615,
        train=("2010-01-01", "2010-07-01"),
        test=("2010-07-01", "2010-09-01"),
    ),
    "Memphis": dict(
        file="memphis/memphis_robberies.csv",
        time="date",
        fmt=None,
        lon="longitude",
        lat="latitude",
        epsg=32616,
        train=("2019-01-01", "2019-10-01"),
        test=("2019-10-01", "2020-01-01"),
    ),
}


def load(city: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projected x, y (metres) and local wall-clock timestamps of one city."""
    spec = CITIES[city]
    df = pd.read_csv(data_dir() / spec["file"])
    df = df.dropna(subset=[spec["lon"], spec["lat"], spec["time"]])
    t = pd.to_datetime(df[spec["time"]], format=spec["fmt"])
    tr = Transformer.from_crs(4326, spec["epsg"], always_xy=True)
    x, y = tr.transform(df[spec["lon"]].to_numpy(), df[spec["lat"]].to_numpy())
    return np.asarray(x), np.asarray(y), t.to_numpy(dtype="datetime64[ns]")


def run(city: str) -> tuple[str, dict]:
    spec = CITIES[city]
    x, y, t = load(city)
    tr0, tr1 = (np.datetime64(s) for s in spec["train"])
    te0, te1 = (np.datetime64(s) for s in spec["test"])
    train = (t >= tr0) & (t < tr1)
    test = (t >= te0) & (t < te1)
    use = train | test
    qx, qy = np.quantile(x[use], [0.001, 0.999]), np.quantile(y[use], [0.001, 0.999])
    grid = Grid.for_points(x[use], y[use], cell_size=CELL, bounds=(qx[0], qy[0], qx[1], qy[1]))
    mask = footprint_mask(grid, x[train], y[train], dilation=1)
    start = time.perf_counter()
    tuned = tune(x[train], y[train], t[train], cell_sizes=(CELL,), bounds=grid.bounds)
    res = backtest(
        x[train],
        y[train],
        x[test],
        y[test],
        grid,
        train_t=t[train],
        mask=mask,
        blend_bandwidth=tuned.blend_bandwidth,
        blend_weight=tuned.blend_weight,
        half_life_days=tuned.half_life_days,
    )
    secs = time.perf_counter() - start
    hl = "none" if tuned.half_life_days is None else f"{tuned.half_life_days:g} days"
    text = (
        f"### {city}\n\n"
        f"`{spec['file']}` projected to EPSG:{spec['epsg']}; train {spec['train'][0]} – "
        f"{spec['train'][1]} (exclusive), test {spec['test'][0]} – {spec['test'][1]}; "
        f"{CELL:g} m cells ({grid.ny} × {grid.nx}) over the 0.1–99.9 % coordinate range; "
        f"study area = cells with a training incident, dilated by one cell. Blend tuned on the last quarter of the training "
        f"period: bandwidth {tuned.blend_bandwidth:g} m, weight {tuned.blend_weight:g}, "
        f"half-life {hl} (validation PAI@5 % {tuned.pai:.2f}). Runtime {secs:.2f} s.\n\n"
        + res.to_markdown()
        + "\n"
    )
    pai5 = {r["method"]: r["pai"] for r in res.table if r["area_share"] == 0.05}
    return text, pai5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the markdown here (default: stdout)")
    args = ap.parse_args()
    if not data_dir().is_dir():
        sys.exit(f"Test data not found at {data_dir()} (set TRYGGKARTA_SHARED_DATA).")
    parts = [
        "# Backtest of hot spot methods on real data\n",
        "Hit rate = share of test-period incidents inside the hot spots chosen from the "
        "training period; PAI = hit rate / area share (Chainey, Tompson & Uhlig 2008). "
        "A = cells in the study area (training-period footprint: cells with a training "
        "incident plus their neighbours — no city boundary is used, and test incidents are "
        "never used to define it); PAI depends on A, so compare methods within a city. Naive = training counts per cell. "
        "Ties in a score go to the lower cell index.\n",
        "Reproduce: `python bench/backtest_real.py --out docs/backtest.md` "
        "(reads `../shared/data`, ~1 min on 2 cores).\n",
    ]
    for city in CITIES:
        text, _ = run(city)
        parts.append(text)
    out = "\n".join(parts)
    if args.out:
        args.out.write_text(out, encoding="utf-8")
    print(out)


if __name__ == "__main__":
    main()
