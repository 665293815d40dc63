"""The default-location guard through import and forecast, and the evaluate protocol's errors."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import shapely

from tryggkarta.errors import BadInput
from tryggkarta.ingest import import_file
from tryggkarta.store import Filters

HEADER = "Datum;Kategori;Beskrivning;Latitud;Longitud\n"
STATION = (58.3862, 13.4380)  # one coordinate holding a planted pile of records


def _csv(tmp_path: Path, n: int = 700, pile: int = 150) -> Path:
    rng = np.random.default_rng(7)
    days = np.datetime64("2023-01-01") + rng.integers(0, 420, n + pile).astype("timedelta64[D]")
    spots = np.c_[rng.uniform(58.375, 58.400, 25), rng.uniform(13.41, 13.47, 25)]
    which = rng.integers(0, 25, n)
    lat = np.where(rng.random(n) < 0.6, spots[which, 0], rng.uniform(58.37, 58.41, n))
    lon = np.where(rng.random(n) < 0.6, spots[which, 1], rng.uniform(13.40, 13.48, n))
    lat = np.r_[lat + rng.normal(0, 0.0002, n), np.full(pile, STATION[0])]
    lon = np.r_[lon + rng.normal(0, 0.0002, n), np.full(pile, STATION[1])]

    def dec(v: float) -> str:
        return f"{v:.6f}".replace(".", ",")

    rows = [
        f"{d};Skadegörelse;rad {i};{dec(la)};{dec(lo)}"
        for i, (d, la, lo) in enumerate(zip(days.astype(str), lat, lon, strict=True))
    ]
    path = tmp_path / "est.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_police_station_pile_is_reported_and_left_out_of_the_forecast(db, tmp_path):
    from tryggkarta.geo import from_wgs84
    from tryggkarta.services.forecast import forecast_layer, trust_note

    report = import_file(db, "incidents", _csv(tmp_path))
    assert report.rows_imported == 850, report.to_text()
    sv, en = " ".join(report.warnings_in("sv")), " ".join(report.warnings_in("en"))
    assert "150 händelser ligger staplade" in sv and "left out of every hotspot analysis" in en
    layer = forecast_layer(db, Filters(), test_weeks=12)
    s = layer.summary
    assert s["excluded_stacked"] == 150
    assert "Datakvalitet: 150 händelser" in trust_note(s, "sv")
    assert "Data quality: 150 records" in trust_note(s, "en")
    sx, sy = from_wgs84(np.array([STATION[1]]), np.array([STATION[0]]), db.srid)
    station = shapely.Point(float(sx[0]), float(sy[0]))
    cells = [shapely.geometry.shape(f["geometry"]) for f in layer.features]
    assert cells and not any(c.buffer(1.0).contains(station) for c in cells)
    # naive is labelled for what it is
    assert s["baseline"] == "naive 100 m" and "alla tidigare händelser" in trust_note(s).lower()


def test_evaluate_refuses_bad_input_with_a_sentence(db, tmp_path):
    from tryggkarta.services.evaluation import evaluate_store

    import_file(db, "incidents", _csv(tmp_path, n=60, pile=0))
    with pytest.raises(BadInput, match="cell size must be between 50 and 5000"):
        evaluate_store(db, Filters(), datetime(2024, 1, 1), cell_size=20)
    with pytest.raises(BadInput, match="cannot run on these incidents"):
        evaluate_store(db, Filters(), datetime(2030, 1, 1))


def test_the_legend_the_cli_and_the_bench_protocol_agree(app, db, tmp_path, monkeypatch):
    """`tryggkarta hotspots forecast`, `tryggkarta evaluate`, the map legend and the bench's
    function (``rolling_backtest`` on the same points, its own guard) choose the same method
    on the same windows and report the same PAI against the same naive figure."""
    import re

    from click.testing import CliRunner

    from tryggkarta import cli
    from tryggkarta.analysis.forecasting import default_candidates, rolling_backtest
    from tryggkarta.services.evaluation import CELL_SIZES, N_TUNE, store_points
    from tryggkarta.services.forecast import forecast_layer, trust_note

    import_file(db, "incidents", _csv(tmp_path))
    monkeypatch.setattr(cli, "get_database", lambda **_: db)
    runner = CliRunner()
    out = runner.invoke(cli.main, ["hotspots", "forecast", "--test-weeks", "12"])
    assert out.exit_code == 0, out.output
    s = forecast_layer(db, Filters(), test_weeks=12).summary
    assert s["cached"] is True  # the layer the CLI computed, not a second computation
    assert trust_note(s, "en") in out.output
    assert f"tryggkarta evaluate --split {s['split_day']}" in out.output

    ev = runner.invoke(cli.main, ["evaluate", "--split", s["split_day"]])
    assert ev.exit_code == 0, ev.output
    assert f"Default method: {s['method']} " in ev.output
    rows = dict(
        re.findall(
            r"^\| (\S+ \S+ m[^|*(]*?)(?: \*\*\(default\)\*\*)?(?: \(baseline\))? \| (\d+\.\d\d) \[",
            ev.output,
            re.M,
        )
    )
    assert rows[s["method"]] == f"{s['pai']:.2f}" and rows[s["baseline"]] == f"{s['naive_pai']:.2f}"
    assert f"{s['n_tune']} tuning + {s['n_report']} report windows" in ev.output

    # the bench's path: the analysis guard inside rolling_backtest, same area and windows
    x, y, t = store_points(db, Filters())  # all 850, the pile included
    res = rolling_backtest(
        x, y, t, candidates=default_candidates(CELL_SIZES), n_tune=N_TUNE, report_start=s["split"]
    )
    assert res.n_excluded == s["excluded_stacked"] == 150
    assert res.choice == s["method"] and res.baseline == s["baseline"]
    assert round(res.reported(res.choice)["pai"], 2) == s["pai"]
    assert round(res.reported(res.baseline)["pai"], 2) == s["naive_pai"]
    assert res.area_km2 == pytest.approx(s["area_km2"], abs=0.01)

    # the map legend is the same sentence (numbers without record counts for the public)
    page = app.test_client().get("/").get_data(as_text=True)
    page = re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), page)
    assert trust_note(s, "sv", exact=False) in page


def test_report_start_is_a_local_midnight_the_evaluate_split_takes(monkeypatch):
    import pandas as pd

    from tryggkarta.services.cli import parse_day
    from tryggkarta.services.forecast import report_start

    monkeypatch.setenv("TRYGGKARTA_TIMEZONE", "Europe/Stockholm")
    monkeypatch.setattr("tryggkarta.config._loaded_timezone", None)
    # newest incident 2026-03-30 00:30 local (22:30 UTC the day before, summer time);
    # 12 weeks back is 2026-01-05 00:30 local (winter time) -> that day's local midnight
    start = report_start(np.datetime64("2026-03-29T22:30", "ns"), 12)
    assert start == pd.Timestamp("2026-01-04T23:00", tz="UTC")
    assert start.to_pydatetime() == parse_day("2026-01-05", "--split")


def test_the_gbm_setting_adds_gbm_to_the_choice(db, tmp_path, monkeypatch):
    from tryggkarta.config import load_settings
    from tryggkarta.errors import ConfigError
    from tryggkarta.services.evaluation import evaluate_store

    pytest.importorskip("sklearn")
    with pytest.raises(ConfigError, match="FORECAST_GBM must be true or false"):
        load_settings({"forecast_gbm": "maybe"}, environ={})
    assert load_settings(environ={"TRYGGKARTA_FORECAST_GBM": "on"}).forecast_gbm is True
    assert load_settings(environ={}).forecast_gbm is False
    import_file(db, "incidents", _csv(tmp_path, pile=0))
    split = datetime(2024, 1, 1)
    plain = evaluate_store(db, Filters(), split)
    assert "gbm 100 m" not in {r["method"] for r in plain.table}
    monkeypatch.setattr(db, "settings", db.settings.with_overrides(forecast_gbm=True))
    with_gbm = evaluate_store(db, Filters(), split)
    assert "gbm 100 m" in {r["method"] for r in with_gbm.table}
    assert with_gbm.params["gbm"] is True and with_gbm.run_id != plain.run_id
