"""A streamed import keeps street-level positions gathered per metre (piles), not every row's
x and y, and its content hashes in bounded runs: the same notes and keys as the whole file."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from tests.test_ingest_stream import HEADER, _summary
from tryggkarta.ingest import import_file, service, undo_import


def _pile_lines(rng: np.random.Generator) -> list[str]:
    lines = []
    for i in range(400):
        if i % 6 == 0:  # 67 records on one point (a geocoder's default), each its own report
            lat, lon = "58,391234", "13,441234"
        else:
            lat = f"58,{3800 + int(rng.integers(0, 900)):04d}{i % 10}"
            lon = f"13,{4300 + int(rng.integers(0, 900)):04d}{i % 7}"
        lines.append(f"2024-04-{1 + i % 28:02d} {i % 24:02d}:10;Klotter;Rapport {i};{lat};{lon}\n")
    return lines


def test_the_stacked_note_of_a_streamed_import_equals_the_whole_files(
    db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "piles.csv"
    path.write_text(HEADER + "".join(_pile_lines(np.random.default_rng(2))), encoding="utf-8")
    whole = import_file(db, "incidents", path)
    assert any("67" in w for w in whole.warnings), whole.warnings  # the stacked note
    undo_import(db, whole.dataset_id)

    monkeypatch.setattr(service, "STREAM_BYTES", 0)
    monkeypatch.setattr(service, "STREAM_CHUNK", 23)  # the pile spread over many chunks
    gathered = []
    real = service.street_piles
    monkeypatch.setattr(
        service, "street_piles", lambda gdf: (gathered.append(len(gdf)), real(gdf))[1]
    )
    streamed = import_file(db, "incidents", path)
    assert len(gathered) > 10
    assert _summary(streamed) == _summary(whole)


def test_piles_pack_and_unpack_whole_metres_of_any_sign() -> None:
    x = np.array([674_032.4, 674_032.6, -12.5, 0.49, 1_234_567.0, 674_032.4, np.nan])
    y = np.array([6_580_821.2, 6_580_821.4, -7_000_000.7, -0.4, 8_000_000.0, 6_580_821.2, 1.0])
    gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=3006)
    gdf["precision"] = ["exact"] * 6 + ["municipality"]  # the last is not street-level
    one = service.street_piles(gdf.iloc[:3])
    two = service.street_piles(gdf.iloc[3:])
    keys, counts = service.merge_piles([one, two])
    px, py = service.unpack_piles(keys)
    got = list(zip(px.tolist(), py.tolist(), counts.tolist(), strict=True))
    assert got == [  # in (x, y) order, as stacked_piles wants them
        (-12, -7_000_001, 1),
        (0, 0, 1),
        (674_032, 6_580_821, 2),
        (674_033, 6_580_821, 1),
        (1_234_567, 8_000_000, 1),
    ]


def test_identical_rows_across_many_hash_runs_get_the_whole_files_keys(
    db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seen content hashes kept in runs of 5 (not one growing array): identical rows
    spread over chunks and runs still get the occurrence numbers of the whole file."""
    from tests.test_ingest_stream import test_streamed_import_equals_whole_file
    from tryggkarta.ingest import dedup

    monkeypatch.setattr(dedup, "SEEN_RUN", 5)
    test_streamed_import_equals_whole_file(db, tmp_path, monkeypatch)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_pile_rule_equals_the_record_rule(seed: int) -> None:
    from tryggkarta.analysis.forecasting import stacked_coordinates, stacked_piles

    rng = np.random.default_rng(seed)
    n = 20_000
    x = np.round(rng.normal(500_000, 3_000, n))
    y = np.round(rng.normal(6_500_000, 3_000, n))
    # a spike, a smaller pile near a known point, busy places that are not spikes, ties
    x[:900], y[:900] = 501_000, 6_501_000
    x[900:905], y[900:905] = 499_990, 6_499_995
    for i, size in enumerate([60, 60, 55, 40, 40]):
        lo = 1000 + i * 100
        x[lo : lo + size], y[lo : lo + size] = 498_000 + i, 6_498_000
    known = [[500_000.0, 6_500_000.0], [499_980.0, 6_499_990.0]]
    for spike in (True, False):
        xs, ys = (x, y) if spike else (x[900:], y[900:])
        expected = stacked_coordinates(xs, ys, known=known)
        gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs, ys), crs=3006)
        gdf["precision"] = "exact"
        keys, counts = service.merge_piles(
            [service.street_piles(gdf.iloc[:7000]), service.street_piles(gdf.iloc[7000:])]
        )
        px, py = service.unpack_piles(keys)
        got = stacked_piles(px, py, counts, known=known)
        assert got.places == expected.places and got.threshold == expected.threshold
        assert sum(p["records"] for p in got.places) == expected.n_flagged
        assert {p["reason"] for p in got.places} == ({"spike", "known"} if spike else {"known"})


@pytest.mark.parametrize(("seed", "buckets"), [(0, 1), (1, 3), (2, 64), (3, 7)])
def test_spilled_piles_give_the_rule_what_the_piles_in_memory_give(
    seed: int, buckets: int, tmp_path: Path
) -> None:
    """Piles spilled to temporary files by key bucket and reduced to the largest and the
    ones near known points (with the median of all counts) give the same places as every
    pile in memory; the files hold one record per pile and chunk, nothing is kept in RAM."""
    from tryggkarta.analysis.forecasting import stacked_piles
    from tryggkarta.ingest.piles import SpilledPiles

    rng = np.random.default_rng(seed)
    n = 30_000
    x = np.round(rng.normal(500_000, 400, n))  # dense: many positions hold several records
    y = np.round(rng.normal(6_500_000, 400, n))
    x[:700], y[:700] = 501_000, 6_501_000  # a spike
    x[700:706], y[700:706] = 499_990, 6_499_995  # a small pile near a known point
    for i, size in enumerate([60, 60, 55, 40, 40, 40]):  # ties among the largest
        lo = 1000 + i * 100
        x[lo : lo + size], y[lo : lo + size] = 498_000 + i, 6_498_000
    order = rng.permutation(n)
    x, y = x[order], y[order]
    known = [[500_000.0, 6_500_000.0], [499_980.0, 6_499_990.0]]
    gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=3006)
    gdf["precision"] = "exact"
    parts = [service.street_piles(gdf.iloc[lo : lo + 4000]) for lo in range(0, n, 4000)]
    keys, counts = service.merge_piles(parts)
    px, py = service.unpack_piles(keys)
    expected = stacked_piles(px, py, counts, known=known)
    assert {p["reason"] for p in expected.places} == {"spike", "known"}

    with SpilledPiles(buckets=buckets, folder=str(tmp_path)) as spilled:
        for part in parts:
            spilled.add(*part)
        assert spilled.added == sum(len(k) for k, _ in parts)
        assert list(tmp_path.iterdir()) == []  # anonymous files: a killed import leaves none
        small_keys, small_counts, median = spilled.reduce(
            top=6, known=known, radius=25.0, min_count=3
        )
    assert median == float(np.median(counts))
    assert len(small_keys) < len(keys) / 10
    sx, sy = service.unpack_piles(small_keys)
    got = stacked_piles(sx, sy, small_counts, known=known, median=median)
    assert got.places == expected.places and got.threshold == expected.threshold


def test_the_median_of_a_histogram_is_numpys() -> None:
    from tryggkarta.ingest.piles import _median_of

    rng = np.random.default_rng(5)
    for size in (1, 2, 3, 10, 1001):
        values = rng.integers(1, 9, size)
        assert _median_of(np.bincount(values)) == float(np.median(values))
