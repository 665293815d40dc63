"""Forecast protocol: fixed study area, PEI, fair choice, stacked-coordinate guard, recency."""

import numpy as np
import pytest
import shapely

from tryggkarta.analysis.forecasting import (
    Candidate,
    candidate_score,
    choose,
    default_candidates,
    gbm_available,
    hot_cells,
    on_area,
    recency_weights,
    rolling_backtest,
    rolling_origins,
    score_metrics,
    stacked_coordinates,
    study_area,
    top_k,
)
from tryggkarta.analysis.grid import Grid

SQUARE = shapely.box(0, 0, 1000, 1000)  # 20 × 20 cells of 50 m = 400 cells


def test_study_area_is_fixed_and_rasterised_at_50_m():
    area = study_area([], [], polygon=SQUARE)
    assert area.size == 400 and area.area_km2 == pytest.approx(1.0)
    hull = study_area([0, 1000, 0, 1000], [0, 0, 1000, 1000])
    assert hull.size == 400


def test_pai_is_unchanged_by_cell_size_for_the_same_selected_area():
    area = study_area([], [], polygon=SQUARE)
    rng = np.random.default_rng(1)
    tx, ty = rng.uniform(0, 1000, 300), rng.uniform(0, 1000, 300)
    test = area.counts(tx, ty)
    # the same 200 m × 200 m block (4 % of the area) selected by a 100 m and a 200 m method
    g100 = Grid(x0=0.0, y0=0.0, cell_size=100.0, nx=10, ny=10)
    g200 = Grid(x0=0.0, y0=0.0, cell_size=200.0, nx=5, ny=5)
    s100 = np.zeros(g100.shape)
    s100[4:6, 4:6] = 1.0
    s200 = np.zeros(g200.shape)
    s200[2, 2] = 1.0
    a = score_metrics(on_area(s100, area.lookup(g100)), test, (0.04,))[0]
    b = score_metrics(on_area(s200, area.lookup(g200)), test, (0.04,))[0]
    assert a["cells"] == b["cells"] == 16
    assert a["pai"] == pytest.approx(b["pai"]) and a["hit_rate"] == pytest.approx(b["hit_rate"])
    inside = ((tx >= 400) & (tx < 600) & (ty >= 400) & (ty < 600)).sum()
    assert a["hit_rate"] == pytest.approx(inside / 300)
    assert a["pai"] == pytest.approx((inside / 300) / 0.04)


def test_pei_of_the_oracle_is_one_and_hand_checked():
    area = study_area([], [], polygon=SQUARE)
    x = np.r_[[25] * 6, [75] * 3, [975]]
    y = np.r_[[25] * 6, [25] * 3, [975]]
    test = area.counts(x, y)
    oracle = score_metrics(test.copy(), test, (0.0025, 0.005))
    assert [r["pei"] for r in oracle] == [1.0, 1.0]
    # 1 cell of 400 (0.25 %): the oracle holds 6 of 10 -> PAI 0.6 / 0.0025 = 240
    assert oracle[0]["pai"] == pytest.approx(240) and oracle[0]["cells"] == 1
    wrong = np.zeros(400)
    wrong[1] = 1.0  # the cell with 3 -> PEI 3/6
    assert score_metrics(wrong, test, (0.0025,))[0]["pei"] == pytest.approx(0.5)


def test_top_k_ties_go_to_the_lower_index():
    assert top_k(np.array([1.0, 2.0, 2.0, 2.0, 0.0]), 2).tolist() == [
        False,
        True,
        True,
        False,
        False,
    ]
    assert top_k(np.array([0.0, 0.0, 0.0]), 1).tolist() == [True, False, False]


def test_recency_weights_and_score_hand_checked():
    origin = np.datetime64("2024-04-01T00:00")
    t = np.array(["2024-04-01T00:00", "2024-03-02T00:00", "2024-01-31T00:00"], "datetime64[ns]")
    # ages 0, 30 and 61 days with a 30-day half-life
    assert recency_weights(t, origin, 30.0) == pytest.approx([1.0, 0.5, 0.5 ** (61 / 30)])
    g = Grid(x0=0.0, y0=0.0, cell_size=100.0, nx=2, ny=1)
    score = candidate_score(
        Candidate("recency", 100.0, half_life_days=30.0),
        g,
        np.r_[50, 150, 150],
        np.r_[50, 50, 50],
        t,
        origin,
    )
    assert score.ravel() == pytest.approx([1.0, 0.5 + 0.5 ** (61 / 30)])
    naive = candidate_score(Candidate("naive", 100.0), g, np.r_[50, 150, 150], np.r_[50, 50, 50])
    assert naive.ravel().tolist() == [1.0, 2.0]


def test_choose_keeps_naive_unless_the_lower_bound_beats_it():
    naive = [5.0, 6.0, 5.5, 6.5, 5.0, 6.0, 5.5, 6.0]
    noisy = [7.0, 4.0, 8.0, 4.5, 6.5, 5.0, 7.0, 4.5]  # higher mean, spread over zero
    worse = [x - 0.5 for x in naive]
    better = [x + 0.8 for x in naive]
    choice, rows = choose({"naive": naive, "noisy": noisy, "worse": worse}, "naive")
    assert np.mean(noisy) > np.mean(naive) and choice == "naive"
    assert not any(r["beats"] for r in rows)
    choice, _ = choose({"naive": naive, "worse": worse, "better": better}, "naive")
    assert choice == "better"


def _planted(seed=0, n=4000, days=400):
    """60 fixed addresses scattered over 4 km × 4 km hold 70 % of the incidents: the counts
    of all earlier incidents find every address, a wide KDE smears them into blobs."""
    rng = np.random.default_rng(seed)
    t = np.datetime64("2023-01-01") + np.sort(rng.integers(0, days * 24, n)).astype(
        "timedelta64[h]"
    )
    spots = rng.uniform(200, 3800, (60, 2))
    which = rng.integers(0, 60, n)
    hot = rng.random(n) < 0.7
    x = np.where(hot, spots[which, 0] + rng.normal(0, 10, n), rng.uniform(0, 4000, n))
    y = np.where(hot, spots[which, 1] + rng.normal(0, 10, n), rng.uniform(0, 4000, n))
    return x, y, t


def test_a_method_that_loses_to_naive_is_never_the_default():
    x, y, t = _planted()
    cands = [
        Candidate("naive", 100.0),
        Candidate("kde", 100.0, bandwidth_cells=8.0),  # far too smooth for single addresses
        Candidate("gistar", 100.0),
    ]
    res = rolling_backtest(x, y, t, candidates=cands, n_tune=8, n_report=3)
    sel = {r["candidate"]: r for r in res.selection}
    assert sel["kde 100 m h=800 m"]["diff"] < 0
    assert res.choice == "naive 100 m" and res.baseline == "naive 100 m"
    assert len({w["origin"] for w in res.windows}) == 11
    # reported figures come only from the report windows, never the tuning ones
    rep = res.reported("naive 100 m")
    last = [
        w["pai"]
        for w in res.windows
        if w["candidate"] == "naive 100 m" and w["phase"] == "report" and w["area_share"] == 0.05
    ]
    assert len(last) == 3 and rep["pai"] == pytest.approx(np.mean(last))
    assert rep["pai_low"] <= rep["pai"] <= rep["pai_high"]
    assert "no method beat naive" in res.to_markdown()


def test_rolling_origins_lengthen_windows_for_sparse_data():
    t = np.datetime64("2024-01-01") + np.arange(0, 730, 5).astype("timedelta64[D]")
    # 146 records in 725 days: 8 per window needs 40 days (not the default 28)
    origins, h = rolling_origins(t, min_per_window=8)
    assert len(origins) == 11 and h == np.timedelta64(40, "D")
    assert origins[-1] + h > t.max() >= origins[-1]
    # 20 per window would need 100 days; capped so two windows of history come first
    _, capped = rolling_origins(t, min_per_window=20)
    assert capped == np.timedelta64(725 // 13, "D")
    with pytest.raises(ValueError, match="too short"):
        rolling_origins(t[:5])


def test_stacked_coordinates_flag_a_police_station_pile():
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 5000, 2000), rng.uniform(0, 5000, 2000)
    x[:5], y[:5] = 100.0, 100.0  # an ordinary repeat address: 5 records
    x = np.r_[x, np.full(120, 2500.2)]
    y = np.r_[y, np.full(120, 2500.4)]
    rep = stacked_coordinates(x, y)
    assert rep.n_flagged == 120 and rep.flagged[-120:].all() and not rep.flagged[:5].any()
    assert rep.places[0]["records"] == 120 and rep.threshold == 50.0
    assert rep.places[0]["reason"] == "spike"
    assert "120" in rep.note("sv") and "left out" in rep.note("en")
    assert stacked_coordinates(x[:2000], y[:2000]).note() == ""


def _busy_city(seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Scattered incidents plus a smooth heavy tail of busy places (stores, malls: the
    Houston pattern — 515, 496, 406, 400 … records on single block addresses)."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 20000, 60000), rng.uniform(0, 20000, 60000)
    sizes = np.array([515, 496, 406, 400, 341, 280, 271, 254, 215, 206, 202, 184])
    px, py = rng.uniform(0, 20000, sizes.size), rng.uniform(0, 20000, sizes.size)
    return np.r_[x, np.repeat(px, sizes)], np.r_[y, np.repeat(py, sizes)]


def test_real_busy_places_are_kept_and_defaults_standing_apart_are_flagged():
    x, y = _busy_city()
    rep = stacked_coordinates(x, y)
    assert rep.n_flagged == 0 and rep.places == []  # the old rule removed all 3 770 of theirs
    n = round(0.036 * x.size / 0.964)  # a police station holding 3.6 % of all records
    xs, ys = np.r_[x, np.full(n, 7000.0)], np.r_[y, np.full(n, 9000.0)]
    rep = stacked_coordinates(xs, ys)
    assert rep.n_flagged == n and rep.flagged[-n:].all()
    assert [p["reason"] for p in rep.places] == ["spike"]
    # a station and a town hall, both far above the tail: both go, the stores stay
    xs2 = np.r_[xs, np.full(2000, 1000.0)]
    ys2 = np.r_[ys, np.full(2000, 1000.0)]
    rep2 = stacked_coordinates(xs2, ys2)
    assert rep2.n_flagged == n + 2000 and len(rep2.places) == 2
    # a pile only twice the largest store is not told apart from a store (gap 3)
    xs3, ys3 = np.r_[x, np.full(1030, 7000.0)], np.r_[y, np.full(1030, 9000.0)]
    assert stacked_coordinates(xs3, ys3).n_flagged == 0


def test_known_default_positions_and_coarse_records():
    x, y = _busy_city(seed=6)
    # 4 records on the town hall (configured), 2 on the municipality centre, 3 records 40 m
    # away from the town hall (a real address next door)
    x = np.r_[x, np.full(4, 5000.3), np.full(2, 8000.0), np.full(3, 5040.0)]
    y = np.r_[y, np.full(4, 5000.0), np.full(2, 8000.0), np.full(3, 5000.0)]
    known = [[5000.0, 5000.0], [8000.0, 8000.0]]
    rep = stacked_coordinates(x, y, known=known)
    assert rep.n_flagged == 4 and rep.flagged[-9:-5].all()
    assert rep.places == [{"x": 5000.0, "y": 5000.0, "records": 4, "reason": "known"}]
    assert stacked_coordinates(x, y, known=known, known_min=2).n_flagged == 6
    # Polisen-style records at a municipality centre: flagged by their own precision;
    # a street-level record on the same point is not flagged for that alone
    coarse = np.zeros(x.size, dtype=bool)
    coarse[-3:-1] = True
    xc, yc = x.copy(), y.copy()
    xc[-3:], yc[-3:] = 12000.0, 12000.0
    rep = stacked_coordinates(xc, yc, coarse=coarse)
    assert rep.flagged[-3:-1].all() and not rep.flagged[-1]
    assert rep.places[-1] == {"x": 12000.0, "y": 12000.0, "records": 2, "reason": "precision"}
    assert rep.note("sv", ("spike", "known")) == ""
    with pytest.raises(ValueError, match="one flag per record"):
        stacked_coordinates(x, y, coarse=coarse[:-1])
    # no finite coordinate, nothing flagged
    empty = stacked_coordinates([np.nan], [np.nan])
    assert empty.n_flagged == 0 and empty.places == []


def test_the_guard_on_real_data(shared_data):
    """Houston 2010: 124 coordinates / 11 721 records (department stores, malls) were removed
    by the old rule (> 50 × median); none are now. A planted 3.6 % pile is caught."""
    import pandas as pd
    from pyproj import Transformer

    df = pd.read_csv(shared_data / "us_crime/houston_crime_2010_jan_aug.csv.gz")
    df = df.dropna(subset=["lon", "lat"])
    x, y = Transformer.from_crs(4326, 32615, always_xy=True).transform(
        df["lon"].to_numpy(), df["lat"].to_numpy()
    )
    x, y = np.asarray(x), np.asarray(y)
    assert stacked_coordinates(x, y).n_flagged == 0
    assert stacked_coordinates(x, y, gap=1.0, max_piles=200).n_flagged == 11721  # old rule
    n = 3223  # 3.6 % of the records once added
    i = int(np.argmin(np.abs(x - np.median(x)) + np.abs(y - np.median(y))))
    rep = stacked_coordinates(np.r_[x, np.full(n, x[i])], np.r_[y, np.full(n, y[i])])
    assert len(rep.places) == 1 and rep.places[0]["records"] >= n


def test_the_pile_is_left_out_of_the_backtest_and_the_hot_cells():
    x, y, t = _planted(seed=2)
    n = 600
    x = np.r_[x, np.full(n, 3900.0)]
    y = np.r_[y, np.full(n, 100.0)]
    t = np.r_[t, t[np.linspace(0, t.size - 1, n).astype(int)]]
    cands = [Candidate("naive", 100.0)]
    res = rolling_backtest(x, y, t, candidates=cands)
    assert res.n_excluded == n
    area = study_area(x, y)
    g = area.method_grid(100.0)
    keep = ~stacked_coordinates(x, y).flagged
    idx, _ = hot_cells(area, g, g.counts(x[keep], y[keep]), 0.05)
    pile = g.cell_index([3900.0], [100.0])[0][0]
    assert pile not in idx


def test_report_windows_start_at_the_split_and_tuning_windows_precede_it():
    t = np.datetime64("2024-01-01") + np.arange(0, 500).astype("timedelta64[D]")
    split = np.datetime64("2025-02-01")
    origins, h = rolling_origins(t, horizon_days=28, min_per_window=1, report_start=split)
    assert h == np.timedelta64(28, "D")
    assert np.datetime64(split, "ns") in origins
    tune = origins[origins < np.datetime64(split, "ns")]
    report = origins[origins >= np.datetime64(split, "ns")]
    assert len(tune) == 8 and tune[-1] + h == np.datetime64(split, "ns")
    # 2025-02-01 … 2025-05-15 (the newest record): three whole windows fit
    assert len(report) == 3
    with pytest.raises(ValueError, match="inside the data"):
        rolling_origins(t, report_start=np.datetime64("2030-01-01"))


def test_lag_features_hand_checked():
    from tryggkarta.analysis.forecasting import lag_features

    g = Grid(x0=0.0, y0=0.0, cell_size=100.0, nx=3, ny=1)
    origin = np.datetime64("2024-03-01")
    h = np.timedelta64(10, "D")
    # cell 0: one incident 5 days before (lag 0) and one 15 days before (lag 1);
    # cell 2: one 25 days before (lag 2) and one 35 days before (history only)
    x = np.r_[50, 50, 250, 250, 250]
    y = np.r_[50, 50, 50, 50, 50]
    t = origin - np.array([5, 15, 25, 35, -1], "timedelta64[D]")  # the last is after origin
    f = lag_features(g, x, y, t.astype("datetime64[ns]"), origin, h)
    assert f.shape == (3, 8)
    assert f[:, 0].tolist() == [1, 0, 0] and f[:, 1].tolist() == [1, 0, 0]
    assert f[:, 2].tolist() == [0, 0, 1]
    # history: 35 days = 3.5 windows -> rate = count / 3.5
    assert f[:, 3] == pytest.approx([2 / 3.5, 0, 2 / 3.5])
    assert f[:, 4].tolist() == [1, 1, 0]  # 3 x 3 neighbour sums of the last window
    assert f[:, 5] == pytest.approx([2 / 3.5, 4 / 3.5, 2 / 3.5])
    day = 31 + 29  # 2024-03-01 is day 60 (0-based) of a leap year
    assert f[0, 6] == pytest.approx(np.sin(2 * np.pi * day / 365.25))


def test_gbm_ranks_the_cell_that_is_hot_every_window_first():
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(5)
    g = Grid(x0=0.0, y0=0.0, cell_size=100.0, nx=20, ny=20)
    days = 200
    # background: 2 incidents a day anywhere; cell (10, 10): 3 a day
    n_bg, n_hot = 2 * days, 3 * days
    x = np.r_[rng.uniform(0, 2000, n_bg), np.full(n_hot, 1050.0)]
    y = np.r_[rng.uniform(0, 2000, n_bg), np.full(n_hot, 1050.0)]
    t = np.datetime64("2024-01-01", "ns") + np.r_[
        rng.integers(0, days * 24, n_bg), rng.integers(0, days * 24, n_hot)
    ].astype("timedelta64[h]")
    origin = np.datetime64("2024-01-01", "ns") + np.timedelta64(days, "D")
    score = candidate_score(Candidate("gbm", 100.0), g, x, y, t, origin, np.timedelta64(14, "D"))
    assert np.unravel_index(np.argmax(score), score.shape) == (10, 10)
    assert Candidate("gbm", 100.0).name == "gbm 100 m" and (score >= 0).all()


def test_gbm_is_opt_in_and_the_baseline_comes_first():
    plain = default_candidates()
    assert plain[0].name == "naive 100 m" and all(c.method != "gbm" for c in plain)
    if gbm_available():
        assert [c.name for c in default_candidates(gbm=True) if c.method == "gbm"] == ["gbm 100 m"]


@pytest.mark.parametrize(
    ("zone", "change"),
    [("Europe/Stockholm", "2024-03-31"), ("America/Chicago", "2024-03-10")],
)
def test_backtest_origins_are_local_midnights_across_a_dst_change(monkeypatch, zone, change):
    """A split at local midnight keeps every origin at local midnight (the setting's zone,
    not UTC and not always Stockholm); the window over the spring change is an hour short."""
    from zoneinfo import ZoneInfo

    import pandas as pd

    from tryggkarta import config

    monkeypatch.setattr(config, "_loaded_timezone", zone)
    tz = ZoneInfo(zone)
    t = np.datetime64("2023-06-01") + np.arange(0, 400).astype("timedelta64[D]")
    split = pd.Timestamp("2024-05-01", tz=tz).tz_convert("UTC").tz_localize(None)
    origins, h = rolling_origins(t, horizon_days=14, min_per_window=1, report_start=split)
    local = pd.DatetimeIndex(origins).tz_localize("UTC").tz_convert(tz)
    assert (local.hour == 0).all() and (local.minute == 0).all()
    assert local[0] < pd.Timestamp(change, tz=tz) < local[7]  # the tuning windows span it
    lengths = set(np.diff(origins).astype("timedelta64[h]").astype(int).tolist())
    assert lengths == {14 * 24, 14 * 24 - 1}
    assert h == np.timedelta64(14, "D")


def test_hour_weekday_profile_and_emerging_weeks_follow_the_zone(monkeypatch):
    from datetime import UTC, datetime

    from tryggkarta import config
    from tryggkarta.analysis.temporal import hour_weekday_profile
    from tryggkarta.services.hotspots import _week_start

    t = np.array(["2024-03-31T00:30", "2024-03-31T01:30"], dtype="datetime64[ns]")  # UTC
    monkeypatch.setattr(config, "_loaded_timezone", "Europe/Stockholm")
    p = hour_weekday_profile(t)
    assert p[6, 1] == 1 and p[6, 3] == 1 and p.sum() == 2  # Sunday 01:30 CET, 03:30 CEST
    moment = datetime(2024, 3, 11, 3, 0, tzinfo=UTC)
    assert _week_start(moment) == datetime(2024, 3, 10, 23, 0, tzinfo=UTC)  # Mon 00:00 CET
    monkeypatch.setattr(config, "_loaded_timezone", "America/Chicago")
    p = hour_weekday_profile(t)
    assert p[5, 19] == 1 and p[5, 20] == 1  # Saturday 19:30 and 20:30 CDT
    # still Sunday 10 March in Chicago: the week began Monday 4 March 00:00 CST
    assert _week_start(moment) == datetime(2024, 3, 4, 6, 0, tzinfo=UTC)


def test_gbm_without_enough_history_is_the_history_rate_hand_checked():
    pytest.importorskip("sklearn")
    g = Grid(x0=0.0, y0=0.0, cell_size=100.0, nx=3, ny=1)
    origin = np.datetime64("2024-03-01", "ns")
    h = np.timedelta64(10, "D")
    # three incidents in cell 0 and one in cell 2, all in the 20 days before the origin:
    # 3 active cells × 1 pseudo-origin < 20 training rows, so the score is the history rate
    x, y = np.r_[50, 50, 50, 250], np.r_[50, 50, 50, 50]
    t = origin - np.array([2, 4, 12, 19], "timedelta64[D]")
    score = candidate_score(Candidate("gbm", 100.0), g, x, y, t, origin, h)
    # history = 19 days = 1.9 windows -> rates 3 / 1.9, 0, 1 / 1.9
    assert score.ravel() == pytest.approx([3 / 1.9, 0.0, 1 / 1.9])
