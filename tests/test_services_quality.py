"""The one data-quality guard: every hot-spot method leaves records on default locations out.

One CSV of scattered incidents around Skara with a planted pile of 150 records on one
coordinate (a police station); each method is run from the store and must not count them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import shapely

from tryggkarta.config import Settings
from tryggkarta.ingest import import_file
from tryggkarta.store import Filters

HEADER = "Datum;Kategori;Beskrivning;Latitud;Longitud\n"
STATION = (58.3862, 13.4380)
PILE = 150
N = 700
LAST = datetime(2024, 2, 24, tzinfo=UTC)  # every record is on a day before this


def _csv(tmp_path: Path, pile: int = PILE) -> Path:
    rng = np.random.default_rng(11)
    days = np.datetime64("2023-01-01") + rng.integers(0, 420, N + pile).astype("timedelta64[D]")
    lat = np.r_[rng.uniform(58.37, 58.41, N), np.full(pile, STATION[0])]
    lon = np.r_[rng.uniform(13.40, 13.48, N), np.full(pile, STATION[1])]

    def dec(v: float) -> str:
        return f"{v:.6f}".replace(".", ",")

    rows = [
        f"{d};Skadegörelse;rad {i};{dec(la)};{dec(lo)}"
        for i, (d, la, lo) in enumerate(zip(days.astype(str), lat, lon, strict=True))
    ]
    path = tmp_path / "est.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def piled(db, tmp_path):
    report = import_file(db, "incidents", _csv(tmp_path))
    assert report.rows_imported == N + PILE, report.to_text()
    return db


def _station(db) -> shapely.Point:
    from tryggkarta.geo import from_wgs84

    sx, sy = from_wgs84(np.array([STATION[1]]), np.array([STATION[0]]), db.srid)
    return shapely.Point(float(sx[0]), float(sy[0]))


def _covers_station(db, layer) -> bool:
    station = _station(db)
    return any(
        shapely.geometry.shape(f["geometry"]).buffer(1.0).contains(station) for f in layer.features
    )


def test_the_guard_is_decided_once_on_the_data_set(piled):
    from tryggkarta.services import quality

    rep = quality.guard(piled, Filters(categories=("skadegorelse",)))
    assert rep.n_flagged == PILE and [p["reason"] for p in rep.places] == ["spike"]
    assert quality.guard(piled) is rep  # cached per data version; filters do not change it
    assert "150 händelser" in quality.note(rep, "sv")
    assert quality.legend_note(piled, None, "en", exact=False).startswith("Data quality:")
    assert "150" not in quality.legend_note(piled, None, "sv", exact=False)


def test_gistar_leaves_the_pile_out(piled):
    from tryggkarta.services.hotspots import gistar_layer

    layer = gistar_layer(piled, cell_size=200)
    assert layer.summary["n_points"] == N and layer.summary["excluded_stacked"] == PILE
    assert "Datakvalitet: 150" in layer.summary["data_quality_sv"]
    assert not any(
        f["properties"]["class"] > 0 and f["properties"]["count"] >= PILE for f in layer.features
    )


def test_kde_leaves_the_pile_out(piled):
    from tryggkarta.services.hotspots import kde_layer

    layer = kde_layer(piled, cell_size=100)
    assert layer.summary["n_points"] == N and layer.summary["excluded_stacked"] == PILE
    assert max(f["properties"]["count"] for f in layer.features) < PILE


def test_emerging_leaves_the_pile_out(piled):
    from tryggkarta.services.hotspots import emerging_layer

    layer = emerging_layer(piled, step="month", cell_size=200, periods=14, now=LAST)
    assert 0 < layer.summary["excluded_stacked"] <= PILE
    assert all(f["properties"]["count"] < 40 for f in layer.features)


def test_patrol_leaves_the_pile_out(piled):
    from tryggkarta.services.hotspots import patrol_layer

    layer = patrol_layer(piled, now=LAST, recent_weeks=8, baseline_weeks=26)
    left = layer.summary["excluded_stacked"]
    assert 0 < left <= PILE
    assert not _covers_station(piled, layer)


def test_design_counts_leave_the_pile_out(piled):
    from tests.demodata import demo_into
    from tryggkarta.services.hotspots import design_layer

    demo_into(piled)  # survey answers; the pile is still the data set's only default
    layer = design_layer(piled)
    assert layer.summary["excluded_stacked"] == PILE
    station = _station(piled)
    for f in layer.features:  # a spot holding the station does not count its pile
        if shapely.geometry.shape(f["geometry"]).buffer(1.0).contains(station):
            assert f["properties"]["incidents"].get("skadegorelse", 0) < PILE


def test_forecast_and_backtest_leave_the_pile_out(piled):
    from tryggkarta.services.evaluation import evaluate_store
    from tryggkarta.services.forecast import forecast_layer

    ev = evaluate_store(piled, Filters(), LAST - timedelta(weeks=12))
    assert ev.params["excluded_stacked"] == PILE and ev.points[0].size == N
    layer = forecast_layer(piled, test_weeks=12)
    assert layer.summary["excluded_stacked"] == PILE and not _covers_station(piled, layer)


def test_configured_defaults_and_the_municipality_centre_are_known_points():
    from tryggkarta.services.quality import known_points

    fake = SimpleNamespace(
        settings=Settings(default_locations="58.3862,13.4380", region="1495"), srid=3006
    )
    pts = known_points(fake)
    assert pts.shape == (2, 2)
    sx, sy = _station(fake).x, _station(fake).y
    assert np.allclose(pts[0], [sx, sy])
    assert 6_470_000 < pts[1, 1] < 6_490_000  # Skara's centre, SWEREF 99 TM
    none = SimpleNamespace(settings=Settings(region="SE"), srid=3006)
    assert known_points(none).shape == (0, 2)


def test_a_small_pile_on_a_configured_default_is_left_out(db, tmp_path, monkeypatch):
    from tryggkarta.services import quality
    from tryggkarta.services.hotspots import gistar_layer

    import_file(db, "incidents", _csv(tmp_path, pile=6))  # 6 records: no spike
    assert quality.guard(db).n_flagged == 0
    settings = db.settings.with_overrides(default_locations=f"{STATION[0]},{STATION[1]}")
    monkeypatch.setattr(db, "settings", settings)
    rep = quality.guard(db)
    assert rep.n_flagged == 6 and rep.places[0]["reason"] == "known"
    assert gistar_layer(db, cell_size=200).summary["excluded_stacked"] == 6


def test_a_streamed_import_reports_the_pile_too(db, tmp_path, monkeypatch):
    from tryggkarta.ingest import service

    monkeypatch.setattr(service, "STREAM_BYTES", 0)
    monkeypatch.setattr(service, "STREAM_CHUNK", 100)  # nine chunks; the pile spans two
    report = import_file(db, "incidents", _csv(tmp_path))
    assert report.rows_imported == N + PILE
    assert "150 händelser ligger staplade" in " ".join(report.warnings_in("sv"))
