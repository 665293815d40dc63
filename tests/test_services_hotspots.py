"""Hotspot layers from the store on the demo data, on both engines; runs are cached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tryggkarta.analysis import gistar
from tryggkarta.services.hotspots import (
    analysis_grid,
    design_layer,
    emerging_layer,
    gistar_layer,
    kde_layer,
    patrol_layer,
    street_level,
)
from tryggkarta.store import AnalysisRun, Filters, grid_counts


def test_gistar_layer_matches_the_statistic_on_sql_counts(demo_db):
    layer = gistar_layer(demo_db, cell_size=200)
    filters = street_level(Filters())
    grid = analysis_grid(demo_db, filters, 200)
    counts = grid_counts(demo_db, "incidents", grid, filters)  # a Grid is a GridSpec
    ref = gistar(counts)
    assert len(layer.features) == int((ref.classes != 0).sum())
    hot = [f for f in layer.features if f["properties"]["class"] == 3]
    assert hot, "the demo data has 99 % hot spots"
    cell = hot[0]["properties"]["cell"]
    assert hot[0]["properties"]["z"] == pytest.approx(ref.z.ravel()[cell], abs=1e-3)
    ring = hot[0]["geometry"]["coordinates"][0]
    lon, lat = ring[0]
    assert 13.0 < lon < 14.0 and 58.0 < lat < 58.7  # WGS84 around Skara


def test_runs_are_stored_and_reused(demo_db):
    first = gistar_layer(demo_db, cell_size=250)
    again = gistar_layer(demo_db, cell_size=250)
    assert first.summary["cached"] is False
    assert again.summary["cached"] is True
    assert again.run_id == first.run_id
    assert again.geojson == first.geojson
    other = gistar_layer(demo_db, cell_size=250, neighbourhood="rook")
    assert other.run_id != first.run_id
    with demo_db.session() as s:
        run = s.get(AnalysisRun, first.run_id)
        assert run.params["cell_size"] == 250
        assert run.dataset_versions["incidents"]
        assert s.scalar(select(func.count()).select_from(AnalysisRun)) == 2


def test_kde_layer_hotspot_share(demo_db):
    layer = kde_layer(demo_db, cell_size=100, top_share=0.05)
    assert layer.summary["bandwidth"] > 0
    assert "bandwidth_rule" in layer.summary
    assert any(f["properties"]["hotspot"] for f in layer.features)


def test_patrol_layer_finds_the_weekend_evening_hotspot(demo_db):
    layer = patrol_layer(demo_db, now=datetime.now(UTC))
    assert layer.features, "the demo data has recent clusters"
    top = layer.features[0]["properties"]
    assert top["rank"] == 1
    assert top["count"] >= 20
    assert np.array(top["profile"]).shape == (7, 24)
    assert top["peak_sv"] and top["peak_en"]
    assert top["trend"] in ("up", "down", "flat")  # domain.Trend, one vocabulary
    keys = [f["properties"]["key"] for f in layer.features]
    assert len(keys) == len(set(keys))


def test_patrol_layer_empty_period(demo_db):
    layer = patrol_layer(demo_db, now=datetime(2000, 1, 1, tzinfo=UTC))
    assert layer.features == []
    assert layer.summary["n_incidents"] == 0


def test_design_layer_recommends_lighting_with_evidence(demo_db):
    layer = design_layer(demo_db)
    assert layer.features
    measures = {m["key"]: m for f in layer.features for m in f["properties"]["measures"]}
    assert "belysning" in measures
    assert "%" in measures["belysning"]["evidence_sv"]
    for feat in layer.features:
        assert 0 <= feat["properties"]["unsafe_share"] <= 1


def test_emerging_layer_categories(demo_db):
    layer = emerging_layer(demo_db, cell_size=250)
    cats = layer.summary["categories"]
    assert sum(cats.values()) == len(layer.features)
    assert set(cats) <= {
        "new",
        "consecutive",
        "intensifying",
        "persistent",
        "diminishing",
        "sporadic",
        "oscillating",
        "historical",
        "no_pattern",
        "new_cold",
        "consecutive_cold",
        "intensifying_cold",
        "persistent_cold",
        "diminishing_cold",
        "sporadic_cold",
        "oscillating_cold",
        "historical_cold",
    }


def test_no_incidents_is_a_clear_error(db):
    from tryggkarta.errors import BadInput

    with pytest.raises(BadInput, match="no incidents"):
        gistar_layer(db)


def test_cli_hotspots_and_evaluate(demo_db, tmp_path, monkeypatch):
    from tryggkarta import cli

    monkeypatch.setattr(cli, "get_database", lambda **_: demo_db)
    runner = CliRunner()
    out = tmp_path / "patrol.geojson"
    result = runner.invoke(cli.main, ["hotspots", "patrol", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Patrol hot spots" in result.output and out.exists()
    result = runner.invoke(cli.main, ["hotspots", "gistar", "--category", "nope"])
    assert result.exit_code == 2
    assert "Unknown category 'nope'" in result.output
    split = (datetime.now(UTC) - timedelta(weeks=26)).date().isoformat()
    result = runner.invoke(cli.main, ["evaluate", "--split", split, "--cell-size", "250"])
    assert result.exit_code == 0, result.output
    assert "naive" in result.output and "PAI" in result.output


def test_forecast_layer_follows_the_rolling_origin_protocol(demo_db):
    from tryggkarta.services.evaluation import latest_evaluation
    from tryggkarta.services.forecast import trust_note
    from tryggkarta.services.hotspots import forecast_layer

    layer = forecast_layer(demo_db)
    s = layer.summary
    run = latest_evaluation(demo_db)
    assert run["run_id"] == s["evaluation_run"] and run["best"] == s["method"]
    # the choice is made on the tuning windows only: a non-naive default must beat naive
    # there with the lower end of the bootstrap interval above zero
    sel = {r["candidate"]: r for r in run["selection"]}
    assert s["baseline"] == "naive 100 m" and run["params"]["n_tune"] >= 8
    if s["method"] != s["baseline"]:
        assert sel[s["method"]]["diff_low"] > 0 and s["beats_naive"]
    else:
        assert not any(r["beats"] for r in run["selection"]) and not s["beats_naive"]
    # the figure shown comes from the report windows, naive on the same windows
    at = {r["method"]: r for r in s["table"] if r["area_share"] == s["area_share"]}
    assert s["pai"] == pytest.approx(at[s["method"]]["pai"], abs=0.01)
    assert s["naive_pai"] == pytest.approx(at["naive 100 m"]["pai"], abs=0.01)
    assert s["pai_low"] <= s["pai"] <= s["pai_high"] and s["area_km2"] > 0
    assert 0 < s["pei"] <= 1
    note_sv, note_en = trust_note(s, "sv"), trust_note(s, "en")
    assert "alla tidigare händelser" in note_sv.lower() and "intervall" in note_sv
    assert "all earlier incidents" in note_en.lower() and "did not see" in note_en
    # the hotspot is the top 5 % of the study area, ranked by score
    ranks = [f["properties"]["rank"] for f in layer.features]
    assert ranks == sorted(ranks) and len(ranks) > 0
    scores = [f["properties"]["score"] for f in layer.features]
    assert scores == sorted(scores, reverse=True)
    assert forecast_layer(demo_db).summary["cached"] is True


@pytest.mark.parametrize("now", ["2026-04-15T12:00:00+00:00", "2026-11-11T12:00:00+00:00"])
def test_emerging_weeks_run_from_local_monday_to_local_monday(demo_db, now):
    """The weeks start and end at Monday 00:00 on the local clock when a daylight-saving change
    lies between them (ten weeks back from April or November cross one; fixed seconds put
    the start at Sunday 23:00 or Monday 01:00)."""
    from datetime import datetime

    from tryggkarta.config import local_timezone

    tz = local_timezone()
    moment = datetime.fromisoformat(now)
    summary = emerging_layer(demo_db, cell_size=250, periods=10, now=moment).summary
    start = datetime.fromisoformat(summary["start"]).astimezone(tz)
    end = datetime.fromisoformat(summary["end"]).astimezone(tz)
    for edge in (start, end):
        assert (edge.weekday(), edge.hour, edge.minute) == (0, 0, 0), edge
    assert (end.date() - start.date()).days == 10 * 7
    assert start < moment < end
