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
