"""incident_year_counts (migration 0019): the 5 km, per-year roll-up is kept current by every
write path (import, delete, retention cut mid-year, recount) from the same single read of the
written incidents as the 250 m counts and the month roll-up, and a 5 km tile read from it
equals the tiles from the months, the 250 m counts and the scan, on both engines."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from tests.test_cellcounts import _frame, expected_counts, kept_counts
from tests.test_monthcounts import _expected as _expected_months
from tests.test_monthcounts import _kept as _kept_months
from tests.test_monthcounts import gpd_points
from tests.test_partitions import add, frame
from tests.test_tiles import tile_of
from tests.test_tiles_counts import CX, CY, _cells, _load
from tryggkarta.config import local_timezone
from tryggkarta.domain import PRECISIONS, STREET_LEVEL_PRECISIONS
from tryggkarta.store import Dataset, Filters, cellcounts, delete_dataset, insert_layer, writes
from tryggkarta.store.models import IncidentYearCount
from tryggkarta.store.tiles import incident_tile, mercator_bounds

TZ = local_timezone()
#: 5 km tiles (z <= 7) over the test data, and a 1 km one (z8: never the year roll-up)
TILES = [(5, CX, CY), (6, CX, CY), (7, CX, CY), (7, CX - 28_000, CY + 28_000)]


def _kept(db) -> dict[tuple, int]:
    return kept_counts(db, cellcounts.YEARS)


def _expected(db) -> dict[tuple, int]:
    """The roll-up computed here from the stored rows with pandas' calendar."""
    return expected_counts(db, cellcounts.YEARS)


def _four(db, z: int, x: int, y: int, filters: Filters) -> tuple:
    years = incident_tile(db, z, x, y, filters)
    months = incident_tile(db, z, x, y, filters, from_years=False)
    counts = incident_tile(db, z, x, y, filters, from_months=False)
    scanned = incident_tile(db, z, x, y, filters, from_counts=False)
    return years, months, counts, scanned


def test_years_start_at_local_midnight_of_new_year():
    assert cellcounts.is_year_start(datetime(2025, 1, 1, tzinfo=TZ))
    assert not cellcounts.is_year_start(datetime(2024, 12, 31, 23, tzinfo=TZ))  # UTC midnight
    assert not cellcounts.is_year_start(datetime(2025, 2, 1, tzinfo=TZ))
    assert cellcounts.YEARS.number(cellcounts.YEARS.start_of(datetime(2025, 7, 3).date())) == 2025


@pytest.mark.parametrize("seed", [5, 6])
def test_all_three_tables_follow_imports_and_deletes(db, seed, monkeypatch):
    """Imports (small and bulk) and deletes (the subtract path) keep the 250 m counts, the
    months and the years equal to a recount, from one read of the written rows."""
    from tests.test_cellcounts import _expected as _expected_days
    from tests.test_cellcounts import _kept as _kept_days

    monkeypatch.setattr(writes, "BULK_MIN", 400)
    rng = np.random.default_rng(seed)
    datasets: list[int] = []
    next_key = 0
    for step in range(6):
        if datasets and rng.random() < 0.35:
            with db.session() as s:
                delete_dataset(s, datasets.pop(int(rng.integers(len(datasets)))))
        else:
            n = int(rng.choice([40, 500]))
            keys = np.arange(next_key, next_key + n)
            next_key += n
            with db.session() as s:
                ds = Dataset(layer="incidents", name=f"y{seed}-{step}", checksum=f"y{seed}{step}")
                s.add(ds)
                s.flush()
                insert_layer(s, "incidents", _frame(rng, n, keys), ds.id)
                datasets.append(ds.id)
        assert _kept(db) == _expected(db), step
        assert _kept_months(db) == _expected_months(db), step
        assert _kept_days(db) == _expected_days(db), step
    assert sum(_kept(db).values()) > 0
    with db.engine.begin() as conn:  # lost (rows written outside the store's paths)
        conn.execute(IncidentYearCount.__table__.delete())
    with db.session() as s:
        cellcounts.rebuild(s)
    assert _kept(db) == _expected(db)


def test_an_import_across_new_year_counts_each_year(db):
    """New Year 2025 starts at 23:00 UTC on 31 December: an incident at 23:30 local on 31
    December is 2024's, one at 00:30 local on 1 January is 2025's."""
    add(db, frame(["2024-12-31 23:30", "2025-01-01 00:30", "2025-01-01 00:00", "2025-12-31 23:59"]))
    kept = _kept(db)
    assert kept == _expected(db)
    assert {key[2]: 0 for key in kept} == {2024: 0, 2025: 0}
    assert sum(n for key, n in kept.items() if key[2] == 2024) == 1


YEAR_2025 = Filters(start=datetime(2025, 1, 1, tzinfo=TZ), end=datetime(2026, 1, 1, tzinfo=TZ))


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        YEAR_2025,
        Filters(start=datetime(2024, 1, 1, tzinfo=TZ), end=datetime(2026, 1, 1, tzinfo=TZ)),
        Filters(start=datetime(2025, 1, 1, tzinfo=TZ)),
        Filters(end=datetime(2025, 1, 1, tzinfo=TZ), municipality_codes=("1495", "1471")),
        YEAR_2025.replace(
            categories=("skadegorelse", "klotter", "nedskrapning", "brand", "belysning_fel"),
            precisions=STREET_LEVEL_PRECISIONS,
        ),
        YEAR_2025.replace(
            municipality_code="1471",
            precisions=tuple(p for p in PRECISIONS if p not in STREET_LEVEL_PRECISIONS),
        ),
    ],
    ids=["all", "year", "two-years", "from", "to-scope", "group-street", "muni-not-street"],
)
def test_tiles_from_the_years_equal_months_counts_and_scan(db, filters):
    _load(db)
    total = 0
    for z, px, py in TILES:
        years, months, counts, scanned = _four(db, z, *tile_of(px, py, z), filters)
        assert years.source == "years" and months.source == "months", z
        assert counts.source == "counts" and scanned.source == "scan"
        assert _cells(years) == _cells(months) == _cells(counts) == _cells(scanned), (z, px, py)
        assert years.features == scanned.features
        total += sum(_cells(years).values())
    assert total > 0
    z8 = incident_tile(db, 8, *tile_of(CX, CY, 8), filters)
    assert z8.source == "months"  # 1 km cells: never the 5 km roll-up


@pytest.mark.parametrize(
    ("filters", "source"),
    [
        (Filters(start=datetime(2025, 3, 1, tzinfo=TZ)), "months"),  # whole months, not years
        (Filters(end=datetime(2025, 3, 3, tzinfo=TZ)), "counts"),  # a Monday
        (Filters(start=datetime(2025, 1, 1, 12, tzinfo=TZ)), "scan"),
        (Filters(weekdays=(5, 6)), "scan"),
    ],
)
def test_periods_the_years_cannot_answer_fall_back(db, filters, source):
    _load(db, n=800)
    z = 6
    years, _months, _counts, scanned = _four(db, z, *tile_of(CX, CY, z), filters)
    assert years.source == source
    assert _cells(years) == _cells(scanned) and years.features > 0


def test_a_5_km_cell_on_a_tile_edge_is_counted_whole_in_both_tiles(db):
    from tryggkarta.geo import transformer

    z = 7
    tx, ty = tile_of(CX, CY, z)
    minx, miny, _maxx, maxy = mercator_bounds(z, tx, ty)
    ex, ey = transformer(3857, 3006).transform(minx, (miny + maxy) / 2)  # on the western edge
    cx, cy = np.floor(ex / 5000) * 5000, np.floor(ey / 5000) * 5000
    assert cx < ex < cx + 5000  # the edge runs through the cell
    rng = np.random.default_rng(9)
    times = [f"202{y}-0{m}-1{d} 12:00" for y, m, d in rng.integers([3, 1, 0], [6, 9, 9], (40, 3))]
    gdf = frame(times)
    gdf = gdf.set_geometry(gpd_points(cx + rng.uniform(1, 4999, 40), cy + rng.uniform(1, 4999, 40)))
    add(db, gdf)
    for x in (tx - 1, tx):
        years, _months, _counts, scanned = _four(db, z, x, ty, Filters())
        assert years.source == "years"
        assert _cells(years) == _cells(scanned)
        assert list(_cells(years).values()) == [40], x


@pytest.mark.parametrize("cut", ["2025-07-15 13:00", "2025-01-01", "2024-12-31 18:00"])
def test_retention_cut_mid_year_adjusts_the_cut_year(db, cut):
    rng = np.random.default_rng(13)
    times = [
        f"{np.datetime64('2024-06-20') + int(d)} {int(h):02d}:15"
        for d, h in zip(rng.integers(0, 500, 200), rng.integers(0, 24, 200), strict=True)
    ]
    add(db, frame(times))
    moment = datetime.fromisoformat(cut).replace(tzinfo=TZ)
    with db.session() as s:
        writes.remove_incidents_before(s, moment)
    kept = _kept(db)
    assert kept == _expected(db)
    assert _kept_months(db) == _expected_months(db)
    assert 0 < sum(kept.values()) < 200
    z = 6
    years, _months, _counts, scanned = _four(db, z, *tile_of(CX, CY, z), Filters())
    assert years.source == "years" and _cells(years) == _cells(scanned)


def test_recount_command_rebuilds_the_years(db, runner, monkeypatch):
    from tryggkarta.cli import main

    _load(db, n=300)
    with db.engine.begin() as conn:
        conn.execute(IncidentYearCount.__table__.delete())
    monkeypatch.setattr("tryggkarta.cli.get_database", lambda: db)
    result = runner.invoke(main, ["db", "recount"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "incident_year_counts" in result.output
    assert _kept(db) == _expected(db) and sum(_kept(db).values()) == 300
