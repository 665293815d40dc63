"""Self-exciting point process (ETAS on the grid, EM): hand-checked small cases and recovery
of known parameters from a simulated process."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tryggkarta.analysis.etas import OFFSETS, EtasFit, expected_counts, fit, pairs
from tryggkarta.analysis.grid import Grid

DAY0 = np.datetime64("2024-01-01T00:00:00", "ns")
ONE = np.timedelta64(1, "D")


def _grid(n: int = 3) -> Grid:
    return Grid(x0=0.0, y0=0.0, cell_size=100.0, nx=n, ny=n)


def test_pairs_are_later_neighbours_within_the_lag():
    rows = np.array([1, 1, 1, 0, 2])
    cols = np.array([1, 2, 1, 0, 2])
    days = np.array([0.0, 1.0, 1.0, 2.0, 70.0])
    src, dst, off = pairs(rows, cols, days, (3, 3), max_lag=60.0)
    got = sorted(
        zip(src.tolist(), dst.tolist(), [tuple(OFFSETS[k].tolist()) for k in off], strict=True)
    )
    # 0 -> 1 (right), 0 -> 2 (same cell), 0 -> 3 (down-left), 2 -> 3 (down-left); 1 is two
    # columns from 3 (not a neighbour); 1 and 2 (same day) are no pair; 4 is 70 days after 0
    # (beyond the lag) and before nothing
    assert got == [(0, 1, (0, 1)), (0, 2, (0, 0)), (0, 3, (-1, -1)), (2, 3, (-1, -1))]


def test_one_em_step_by_hand():
    """Two incidents: A in the centre cell on day 0, B in the cell to its right on day 1;
    origin day 2. Start θ=0.2, ω=0.1, g uniform, μ = counts / 2 days."""
    g = _grid()
    x, y = np.array([150.0, 250.0]), np.array([150.0, 150.0])
    t = np.array([DAY0, DAY0 + ONE])
    m = fit(g, x, y, t, DAY0 + 2 * ONE, iterations=1)
    trig = 0.2 * 0.1 * math.exp(-0.1) / 9
    p_pair = trig / (0.5 + trig)
    # A (centre) has all 9 neighbours on the grid; B (right edge) 6 of 9 under uniform g
    exposure = (1 - math.exp(-0.2)) * 1.0 + (1 - math.exp(-0.1)) * 6 / 9
    assert m.n_pairs == 1 and m.iterations == 1
    assert m.theta == pytest.approx(p_pair / exposure, rel=1e-9)  # 0.01709
    assert m.omega == pytest.approx(1.0)  # the one pair's delay is one day
    assert m.g.reshape(3, 3)[1, 2] == pytest.approx(1.0)  # all mass to the right
    assert m.mu[1, 1] == pytest.approx(0.5) and m.mu[1, 2] == pytest.approx((1 - p_pair) / 2)
    # the forecast for day 2..3 by hand
    model = EtasFit(m.mu, 0.3, 1.0, m.g, 1, 1, 0.9)
    exp = expected_counts(model, g, x, y, t, DAY0 + 2 * ONE, ONE)
    w_a = 0.3 * (math.exp(-2) - math.exp(-3))
    w_b = 0.3 * (math.exp(-1) - math.exp(-2))
    assert exp[1, 1] == pytest.approx(0.5)
    assert exp[1, 2] == pytest.approx((1 - p_pair) / 2 + w_a)  # B's background + A's offspring
    assert exp[1, 0] == pytest.approx(0.0) and exp[0, 1] == pytest.approx(0.0)
    # B's offspring go right of B: off the 3 x 3 grid (lost at the edge), nothing wraps
    assert exp.sum() == pytest.approx(0.5 + (1 - p_pair) / 2 + w_a)
    assert w_b > 0


def _simulate(seed: int, theta: float, omega: float, days: float, mu: float, n: int):
    """A branching simulation of the process on an n × n grid of 100 m cells: background
    uniform in space and time; each incident has Poisson(θ) children, delays Exp(ω), half
    in its own cell and half in a random neighbour."""
    rng = np.random.default_rng(seed)
    k = rng.poisson(mu * n * n * days)
    r, c = rng.integers(0, n, k), rng.integers(0, n, k)
    t = rng.uniform(0, days, k)
    all_r, all_c, all_t = [r], [c], [t]
    while r.size:  # generations
        kids = rng.poisson(theta, r.size)
        r, c, t = np.repeat(r, kids), np.repeat(c, kids), np.repeat(t, kids)
        t = t + rng.exponential(1 / omega, t.size)
        move = rng.random(r.size) < 0.5
        off = OFFSETS[rng.choice([0, 1, 2, 3, 5, 6, 7, 8], r.size)]
        r = np.where(move, r + off[:, 0], r)
        c = np.where(move, c + off[:, 1], c)
        ok = (t < days) & (r >= 0) & (r < n) & (c >= 0) & (c < n)
        r, c, t = r[ok], c[ok], t[ok]
        all_r.append(r)
        all_c.append(c)
        all_t.append(t)
    r, c, t = np.concatenate(all_r), np.concatenate(all_c), np.concatenate(all_t)
    x = (c + rng.uniform(0.1, 0.9, c.size)) * 100.0
    y = (r + rng.uniform(0.1, 0.9, r.size)) * 100.0
    when = DAY0 + (t * 86400e9).astype("timedelta64[ns]")
    return x, y, when


def test_em_recovers_the_parameters_of_a_simulated_process():
    n, days = 12, 2000.0
    x, y, t = _simulate(1, theta=0.5, omega=0.5, days=days, mu=0.01, n=n)
    g = _grid(n)
    m = fit(g, x, y, t, DAY0 + np.timedelta64(2000, "D"), iterations=100)
    assert m.theta == pytest.approx(0.5, abs=0.1)
    assert m.omega == pytest.approx(0.5, abs=0.15)
    assert m.g.reshape(3, 3)[1, 1] == pytest.approx(0.5, abs=0.1)  # half stay in the cell
    assert m.mu.mean() == pytest.approx(0.01, rel=0.25)
    # a process without triggering: θ near zero
    x0, y0, t0 = _simulate(2, theta=0.0, omega=0.5, days=days, mu=0.02, n=n)
    m0 = fit(g, x0, y0, t0, DAY0 + np.timedelta64(2000, "D"), iterations=100)
    assert m0.theta < 0.1


def test_no_history_gives_zero_and_bad_rows_are_ignored():
    g = _grid()
    m = fit(g, [np.nan, 5000.0], [50.0, 50.0], [DAY0, DAY0], DAY0 + ONE)
    assert m.n_pairs == 0 and m.mu.sum() == 0
    assert expected_counts(m, g, [50.0], [50.0], [DAY0 + 5 * ONE], DAY0 + ONE, ONE).sum() == 0
