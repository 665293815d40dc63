"""The default-location guard on the real data sets: flagged coordinates and records, old
rule against new, and the smallest planted pile each data set lets the rule catch.

Reads ``../shared/data`` in place (or ``$TRYGGKARTA_SHARED_DATA``)::

    python bench/guard_real.py        # markdown on stdout (bench/backtest_real.py writes it
                                      # into docs/backtest.md)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from backtest_real import CITIES, data_dir, load  # noqa: E402

from tryggkarta.analysis.forecasting import stacked_coordinates  # noqa: E402


def old_rule(x: np.ndarray, y: np.ndarray) -> tuple[int, int]:
    """The rule before issue #12's review: every coordinate above max(20, 50 × median)."""
    rep = stacked_coordinates(x, y, gap=1.0, max_piles=10**9)
    return len(rep.places), rep.n_flagged


def smallest_caught(x: np.ndarray, y: np.ndarray) -> int:
    """Records a planted pile (at the median point) needs before the spike rule flags it."""
    i = int(np.argmin(np.abs(x - np.median(x)) + np.abs(y - np.median(y))))
    lo, hi = 1, x.size
    while lo < hi:  # bisection over the pile size (a dozen runs)
        mid = (lo + hi) // 2
        rep = stacked_coordinates(np.r_[x, np.full(mid, x[i])], np.r_[y, np.full(mid, y[i])])
        lo, hi = (lo, mid) if rep.n_flagged >= mid else (mid + 1, hi)
    return lo


def polisen() -> str:
    from tryggkarta.geo import from_wgs84, municipality

    df = pd.read_csv(data_dir() / "polisen/polisen_events_skara_ystad_umea_enkoping.csv")
    x, y = from_wgs84(df["lon"].to_numpy(float), df["lat"].to_numpy(float), 3006)
    coarse = np.ones(len(df), dtype=bool)  # the importer gives every event precision=municipality
    rep = stacked_coordinates(x, y, coarse=coarse)
    codes = {"Skara": "1495", "Ystad": "1286", "Umeå": "2480", "Enköping": "0381"}
    dists = []
    for name, code in codes.items():  # four municipalities
        c = municipality(code, 3006).centroid
        sub = df["location_name"] == name
        px, py = x[sub.to_numpy()][0], y[sub.to_numpy()][0]
        dists.append(f"{name} {np.hypot(px - c.x, py - c.y) / 1000:.1f} km")
    street = stacked_coordinates(x, y)
    return (
        f"| Polisen events (4 municipalities) | {len(df)} | — | {len(rep.places)} / "
        f"{rep.n_flagged} (precision = municipality) | street-level rule alone: "
        f"{len(street.places)} / {street.n_flagged} |\n\n"
        f"Polisen's point for a municipality is not our boundary's centroid ({', '.join(dists)}"
        "), so the centre test (25 m) would miss them: the precision flag is what catches them."
    )


def table() -> str:
    """The guard's markdown table on the four cities and the Polisen events."""
    rows = [
        "| data set | records | old rule: coordinates / records flagged | new rule: "
        "coordinates / records flagged | smallest planted pile caught (share of records) |",
        "|---|---|---|---|---|",
    ]
    for city in CITIES:  # four cities
        x, y, _ = load(city)
        oc, on = old_rule(x, y)
        new = stacked_coordinates(x, y)
        k = smallest_caught(x, y)
        rows.append(
            f"| {city} | {x.size} | {oc} / {on} | {len(new.places)} / {new.n_flagged} "
            f"| {k} ({k / (x.size + k):.2%}) |"
        )
    return "\n".join(rows) + "\n" + polisen()


def main() -> None:
    print(table())


if __name__ == "__main__":
    main()
