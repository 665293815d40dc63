"""Benchmark of tryggkarta.analysis against its reference peers (esda, scikit-learn).

Run from the repository root::

    python bench/bench_analysis.py [--out FILE] [--quick]

Writes a markdown section to stdout (and ``FILE``). Targets: Gi* statistic ≤ 20 ms on
250,000 cells, KDE ≤ 0.1 s from counts, emerging ≤ 10 s for 250,000 cells × 104 weeks.
Times are wall-clock, best of several repeats for the fast steps, one run for the slow
reference steps, on whatever machine runs it (shared 2-core box when recorded).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tryggkarta.analysis import Grid, emerging, gistar, kde  # noqa: E402
from tryggkarta.analysis.gistar import gistar_z, neighbourhood_kernel  # noqa: E402


def best_of(fn, repeats: int = 7) -> tuple[float, object]:
    """Minimum wall time of ``repeats`` runs (seconds) and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def once(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


_COLD_OURS = """
import sys, time
import numpy as np
sys.path.insert(0, {root!r})
from tryggkarta.analysis import gistar
counts = np.random.default_rng(0).poisson(2.0, ({n}, {n})).astype(np.float64)
t0 = time.perf_counter()
gistar(counts, "queen")  # builds its queen kernel
print(time.perf_counter() - t0)
"""

_COLD_ESDA = """
import time, warnings
import numpy as np
from esda.getisord import G_Local
from libpysal.weights import lat2W
counts = np.random.default_rng(0).poisson(2.0, ({n}, {n})).astype(np.float64)
warnings.simplefilter("ignore")
t0 = time.perf_counter()
w = lat2W({n}, {n}, rook=False)
G_Local(counts.ravel(), w, star=True, transform="B", permutations=0)
print(time.perf_counter() - t0)
"""


def _cold(code: str, n: int) -> float:
    """Seconds for weights build + first call in a fresh process (imports not timed)."""
    import subprocess

    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run(
        [sys.executable, "-c", code.format(root=root, n=n)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def bench_gistar(n: int, rows: list[str]) -> None:
    """Like for like: full Gi* (ours with p, BH-FDR and classes; esda z and normal p) with the
    weights already built, both warm (best of repeats); and cold, weights build + first call
    in a fresh process, on both sides."""
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, (n, n)).astype(np.float64)
    kernel = neighbourhood_kernel("queen")
    mask = np.ones(counts.shape, dtype=bool)
    t_z, z = best_of(lambda: gistar_z(counts, kernel, mask))
    t_full, _ = best_of(lambda: gistar(counts), repeats=7)
    t_cold = min(_cold(_COLD_OURS, n) for _ in range(3))
    rows.append(
        f"| Gi* z-scores only, queen, {n}×{n} = {n * n:,} cells, warm (best of 7) "
        f"| ours `gistar_z` | {t_z * 1e3:.1f} ms |"
    )
    rows.append(
        f"| Gi* full (z, p, BH-FDR, classes), {n * n:,} cells, warm (best of 7) | ours `gistar` | "
        f"{t_full * 1e3:.1f} ms |"
    )
    rows.append(
        f"| Gi* cold: first `gistar` call (kernel built inside) in a fresh process (best of 3) | ours | "
        f"{t_cold * 1e3:.1f} ms |"
    )
    try:
        from esda.getisord import G_Local
        from libpysal.weights import lat2W
    except ImportError:
        rows.append("| Gi* | esda | not installed |")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_w, w = once(lambda: lat2W(n, n, rook=False))
        t_g, g = best_of(
            lambda: G_Local(counts.ravel(), w, star=True, transform="B", permutations=0),
            repeats=3,
        )
    t_cold_esda = _cold(_COLD_ESDA, n)
    diff = float(np.max(np.abs(g.Zs - np.asarray(z).ravel())))
    rows.append(f"| Gi* weights build `lat2W({n}, {n}, rook=False)` | libpysal | {t_w:.2f} s |")
    rows.append(
        "| Gi* `G_Local(star=True, permutations=0)`, weights prebuilt, warm (best of 3) "
        f"| esda | {t_g:.2f} s |"
    )
    rows.append(
        "| Gi* cold: `lat2W` + first `G_Local` call in a fresh process (one run) "
        f"| libpysal + esda | {t_cold_esda:.2f} s |"
    )
    rows.append(
        f"| → warm, weights prebuilt: esda `G_Local` / ours full `gistar` | | "
        f"{t_g / t_full:,.0f}× slower; max abs z difference {diff:.1e} |"
    )
    rows.append(
        f"| → cold, weights build included: esda / ours | | {t_cold_esda / t_cold:,.0f}× slower |"
    )


def bench_kde(n_points: int, n: int, rows: list[str]) -> None:
    rng = np.random.default_rng(1)
    cell = 100.0
    side = n * cell
    centres = rng.uniform(0, side, (50, 2))
    pick = rng.integers(0, 50, n_points)
    x = np.clip(centres[pick, 0] + rng.normal(0, 800, n_points), 0, side - 1)
    y = np.clip(centres[pick, 1] + rng.normal(0, 800, n_points), 0, side - 1)
    grid = Grid(x0=0.0, y0=0.0, cell_size=cell, nx=n, ny=n)
    t_count, counts = best_of(lambda: grid.counts(x, y), repeats=3)
    h = 300.0
    t_kde, res = best_of(lambda: kde(counts, cell, h))
    h_big = 1000.0
    t_kde_big, _ = best_of(lambda: kde(counts, cell, h_big))
    rows.append(
        f"| Counting {n_points:,} points onto {n}×{n} (bincount) | ours | {t_count * 1e3:.0f} ms |"
    )
    rows.append(
        f"| KDE from counts, quartic h = 3 cells (direct correlate) | ours | {t_kde * 1e3:.1f} ms |"
    )
    rows.append(
        f"| KDE from counts, quartic h = 10 cells (FFT overlap-add) | ours | "
        f"{t_kde_big * 1e3:.1f} ms |"
    )
    try:
        from sklearn.neighbors import KernelDensity
    except ImportError:
        rows.append("| KDE | scikit-learn | not installed |")
        return
    # sklearn has no quartic kernel; Epanechnikov is the closest compact one.
    kd = KernelDensity(kernel="epanechnikov", bandwidth=h)
    t_fit, _ = once(lambda: kd.fit(np.column_stack([x, y])))
    cx, cy = grid.centers()
    q = np.column_stack([cx.ravel(), cy.ravel()])
    sub = rng.choice(q.shape[0], 25_000, replace=False)
    t_score, _ = once(lambda: kd.score_samples(q[sub]))
    est = t_fit + t_score * q.shape[0] / sub.size
    rows.append(
        f"| KDE {n_points:,} points at {n * n:,} cell centres, Epanechnikov h = 300 m "
        f"| scikit-learn `KernelDensity` | fit {t_fit:.1f} s + score 25,000 centres "
        f"{t_score:.1f} s → extrapolated {est:,.0f} s for all cells |"
    )
    rows.append(
        f"| → ours (count + KDE) vs scikit-learn | | "
        f"{est / (t_count + t_kde):,.0f}× faster (different but comparable kernel) |"
    )
    del res


def bench_emerging(t_steps: int, n: int, rows: list[str]) -> None:
    rng = np.random.default_rng(2)
    cube = rng.poisson(0.3, (t_steps, n, n)).astype(np.float64)
    t_em, res = once(lambda: emerging(cube))
    cats, cnt = np.unique(res.category, return_counts=True)
    top = ", ".join(f"{c} {k}" for c, k in zip(cats, cnt, strict=True))
    rows.append(
        f"| Emerging hot spots, {n * n:,} cells × {t_steps} weeks | ours `emerging` | "
        f"{t_em:.1f} s ({top}) |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="Benchmark tryggkarta.analysis")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    args = ap.parse_args()
    n = 100 if args.quick else 500
    rows = ["| step | implementation | time |", "|---|---|---|"]
    bench_gistar(n, rows)
    bench_kde(100_000 if args.quick else 1_000_000, n, rows)
    bench_emerging(20 if args.quick else 104, n, rows)
    import numpy
    import scipy

    head = (
        "## Analysis benchmark (`bench/bench_analysis.py`)\n\n"
        f"Python {platform.python_version()}, numpy {numpy.__version__}, scipy "
        f"{scipy.__version__}, {os.cpu_count()} CPU(s) ({platform.machine()}). "
        "Targets: Gi* ≤ 20 ms on 250,000 cells, KDE ≤ 0.1 s from counts, emerging ≤ 10 s.\n"
    )
    text = head + "\n" + "\n".join(rows) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
