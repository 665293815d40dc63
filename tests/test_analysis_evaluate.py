"""Backtest: PAI on a hand-computed toy, tie rule, tuning split, Memphis smoke test."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tryggkarta.analysis import BacktestResult, Grid, backtest, tune


def shared_data() -> Path:
    env = os.environ.get("TRYGGKARTA_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def test_pai_hand_computed_toy():
    # 10 x 10 grid of 100 m cells; training: 5 incidents in cell (0,0), 3 in (0,1), 1 in (5,5)
    grid = Grid(x0=0.0, y0=0.0, cell_size=100.0, nx=10, ny=10)
    tx = [50] * 5 + [150] * 3 + [550]
    ty = [50] * 5 + [50] * 3 + [550]
    # test: 4 incidents in (0,0), 1 in (0,1), 5 elsewhere -> N = 10
    sx = [50] * 4 + [150] + [950, 850, 750, 650, 350]
    sy = [50] * 4 + [50] + [950, 850, 750, 650, 350]
    res = backtest(tx, ty, sx, sy, grid, methods=("naive",), area_shares=(0.01, 0.02))
    r1, r2 = res.table
    # 1 % of A = 100 cells -> 1 cell (0,0): hit rate 4/10, PAI = 0.4 / 0.01 = 40
    assert (
        r1["cells"] == 1 and r1["hit_rate"] == pytest.approx(0.4) and r1["pai"] == pytest.approx(40)
    )
    # 2 cells: (0,0), (0,1): 5/10 -> PAI 0.5 / 0.02 = 25
    assert r2["cells"] == 2 and r2["pai"] == pytest.approx(25) and r2["n_test"] == 10
    assert isinstance(res, BacktestResult) and res.best == "naive"
    md = res.to_markdown()
    assert "| method |" in md and "40.00" in md


def test_mask_defines_area_and_ties_go_to_lower_index():
    grid = Grid(x0=0.0, y0=0.0, cell_size=100.0, nx=4, ny=1)
    mask = np.array([[True, True, False, False]])
    # equal training counts in cells 0 and 1 -> cell 0 chosen; test point in cell 1
    res = backtest(
        [50, 150],
        [50, 50],
        [150, 350],
        [50, 50],
        grid,
        methods=("naive",),
        area_shares=(0.5,),
        mask=mask,
    )
    row = res.table[0]
    assert row["cells"] == 1 and row["n_test"] == 1 and row["hit_rate"] == 0
    assert res.area_cells == 2 and res.n_test_outside == 1


def test_no_test_data_is_an_error():
    grid = Grid(x0=0.0, y0=0.0, cell_size=100.0, nx=3, ny=3)
    with pytest.raises(ValueError, match="No test incidents"):
        backtest([50], [50], [], [], grid)
    with pytest.raises(ValueError, match="No training incidents"):
        backtest([], [], [50], [50], grid)


def test_tune_uses_only_training_period():
    rng = np.random.default_rng(0)
    n = 800
    x = np.r_[rng.normal(1000, 150, n // 2), rng.uniform(0, 3000, n // 2)]
    y = np.r_[rng.normal(1000, 150, n // 2), rng.uniform(0, 3000, n // 2)]
    t = np.datetime64("2024-01-01") + rng.integers(0, 365, n).astype("timedelta64[D]")
    res = tune(
        x,
        y,
        t,
        cell_sizes=(100.0,),
        bandwidth_cells=(2.0,),
        blend_weights=(0.5,),
        half_lives_days=(None,),
    )
    assert res.cell_size == 100 and len(res.table) == 1 and res.pai > 1


@pytest.mark.realdata
def test_memphis_smoke():
    base = shared_data()
    if not base.is_dir():
        pytest.skip(f"real test data not found at {base} (set TRYGGKARTA_SHARED_DATA)")
    pyproj = pytest.importorskip("pyproj")
    df = pd.read_csv(base / "memphis/memphis_robberies.csv", parse_dates=["date"])
    x, y = pyproj.Transformer.from_crs(4326, 32616, always_xy=True).transform(
        df.longitude.to_numpy(), df.latitude.to_numpy()
    )
    train = (df.date < "2019-10-01").to_numpy()
    grid = Grid.for_points(x, y, cell_size=250)
    res = backtest(
        x[train],
        y[train],
        x[~train],
        y[~train],
        grid,
        train_t=df.date.to_numpy()[train],
        half_life_days=180,
    )
    pai5 = {r["method"]: r["pai"] for r in res.table if r["area_share"] == 0.05}
    assert pai5["naive"] > 2 and pai5["gistar"] > 2 and pai5["blend"] > 2
    assert {"naive", "gistar", "blend"} <= set(pai5)
