"""incident_month_counts (migration 0017): the 1 km, per-month roll-up is kept current by every
write path (import, delete, retention, recount) and a cell tile read from it equals the tile
counted over the incidents, on both engines: tiles cutting through the data, a cell on a
tile's edge, a month that starts on the other side of a DST change, and the fallbacks to the
250 m counts and the scan when the filters are not whole months."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from tests.test_cellcounts import _frame, expected_counts, kept_counts
from tests.test_partitions import add, frame
from tests.test_tiles import tile_of
from tests.test_tiles_counts import CX, CY, TILES, _cells, _load
from tryggkarta.config import local_timezone
from tryggkarta.domain import PRECISIONS, STREET_LEVEL_PRECISIONS
from tryggkarta.store import Dataset, Filters, cellcounts, delete_dataset, insert_layer, writes
from tryggkarta.store.models import IncidentMonthCount
from tryggkarta.store.queries import layer_frame
from tryggkarta.store.tiles import incident_tile, mercator_bounds

TZ = local_timezone()


def _kept(db) -> dict[tuple, int]:
    return kept_counts(db, cellcounts.MONTHS)


def _expected(db) -> dict[tuple, int]:
    """The roll-up computed here from the stored rows with pandas' calendar."""
    return expected_counts(db, cellcounts.MONTHS)


def _three(db, z: int, x: int, y: int, filters: Filters) -> tuple:
    months = incident_tile(db, z, x, y, filters, from_years=False)
    counts = incident_tile(db, z, x, y, filters, from_months=False)
    scanned = incident_tile(db, z, x, y, filters, from_counts=False)
    return months, counts, scanned


def test_months_nest_and_start_at_local_midnight():
    epochs, numbers = cellcounts.month_buckets(
        datetime(2024, 12, 31, 23, 30, tzinfo=TZ).timestamp(),
        datetime(2025, 4, 2, tzinfo=TZ).timestamp(),
        TZ,
    )
    assert numbers == list(range(659, 664))  # Dec 2024 .. Apr 2025
    assert [datetime.fromtimestamp(e, TZ) for e in epochs] == [
        datetime(2024, 12, 1, tzinfo=TZ),
        datetime(2025, 1, 1, tzinfo=TZ),
        datetime(2025, 2, 1, tzinfo=TZ),
        datetime(2025, 3, 1, tzinfo=TZ),
        datetime(2025, 4, 1, tzinfo=TZ),  # after the DST change of 30 March: UTC+2
    ]
    assert cellcounts.month_first(663).isoformat() == "2025-04-01"
    assert cellcounts.is_month_start(datetime(2025, 4, 1, tzinfo=TZ))
    assert not cellcounts.is_month_start(datetime(2025, 4, 1, 1, tzinfo=TZ))
    assert not cellcounts.is_month_start(datetime(2025, 3, 31, 22, tzinfo=TZ))  # a UTC midnight


@pytest.mark.parametrize("seed", [3, 4])
def test_the_roll_up_follows_imports_and_deletes(db, seed, monkeypatch):
    monkeypatch.setattr(writes, "BULK_MIN", 400)  # big pieces take the bulk paths
    rng = np.random.default_rng(seed)
    datasets: list[int] = []
    next_key = 0
    for step in range(5):
        if datasets and rng.random() < 0.35:
            with db.session() as s:
                delete_dataset(s, datasets.pop(int(rng.integers(len(datasets)))))
        else:
            n = int(rng.choice([40, 500]))
            keys = np.arange(next_key, next_key + n)
            next_key += n
            with db.session() as s:
                ds = Dataset(layer="incidents", name=f"m{seed}-{step}", checksum=f"{seed}{step}")
                s.add(ds)
                s.flush()
                insert_layer(s, "incidents", _frame(rng, n, keys), ds.id)
                datasets.append(ds.id)
        assert _kept(db) == _expected(db), step
    assert sum(_kept(db).values()) > 0
    with db.engine.begin() as conn:  # lost (rows written outside the store's paths)
        conn.execute(IncidentMonthCount.__table__.delete())
    with db.session() as s:
        cellcounts.rebuild(s)
    assert _kept(db) == _expected(db)


MONTHS_2025 = Filters(start=datetime(2024, 11, 1, tzinfo=TZ), end=datetime(2025, 4, 1, tzinfo=TZ))


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(start=datetime(2025, 1, 1, tzinfo=TZ), end=datetime(2026, 1, 1, tzinfo=TZ)),
        MONTHS_2025,
        Filters(start=datetime(2025, 6, 1, tzinfo=TZ)),
        Filters(end=datetime(2025, 2, 1, tzinfo=TZ), municipality_codes=("1495", "1471")),
        MONTHS_2025.replace(
            categories=("skadegorelse", "klotter", "nedskrapning", "brand", "belysning_fel"),
            precisions=STREET_LEVEL_PRECISIONS,
        ),
        MONTHS_2025.replace(
            municipality_code="1471",
            precisions=tuple(p for p in PRECISIONS if p not in STREET_LEVEL_PRECISIONS),
        ),
    ],
    ids=["all", "year", "months", "from", "to-scope", "group-street", "muni-not-street"],
)
def test_tiles_from_the_roll_up_equal_the_counts_and_the_scan(db, filters):
    _load(db)
    total = 0
    for z, px, py in TILES:
        months, counts, scanned = _three(db, z, *tile_of(px, py, z), filters)
        assert months.source == ("months" if z <= 9 else "counts"), z
        assert counts.source == "counts" and scanned.source == "scan"
        assert _cells(months) == _cells(counts) == _cells(scanned), (z, px, py)
        assert months.features == scanned.features
        total += sum(_cells(months).values())
    assert total > 0


def test_a_cell_on_a_tile_edge_is_counted_whole_in_both_tiles(db):
    """Incidents in the 1 km cell that a z9 tile's western edge cuts: the neighbouring tiles
    both draw it (in their buffer) with the whole count, from the roll-up as by scan."""
    from tryggkarta.geo import transformer

    z = 9
    tx, ty = tile_of(CX, CY, z)
    minx, miny, _maxx, maxy = mercator_bounds(z, tx, ty)
    ex, ey = transformer(3857, 3006).transform(minx, (miny + maxy) / 2)  # on the western edge
    cx, cy = np.floor(ex / 1000) * 1000, np.floor(ey / 1000) * 1000
    assert cx < ex < cx + 1000  # the edge runs through the cell
    rng = np.random.default_rng(8)
    times = [f"2025-05-{d:02d} 12:00" for d in rng.integers(1, 28, 30)]
    gdf = frame(times)
    gdf = gdf.set_geometry(gpd_points(cx + rng.uniform(1, 999, 30), cy + rng.uniform(1, 999, 30)))
    add(db, gdf)
    for x in (tx - 1, tx):
        months, _counts, scanned = _three(db, z, x, ty, Filters())
        assert months.source == "months"
        assert _cells(months) == _cells(scanned)
        assert list(_cells(months).values()) == [30], x


def gpd_points(x: np.ndarray, y: np.ndarray):  # noqa: ANN201 - a GeoSeries
    import geopandas as gpd

    return gpd.GeoSeries(gpd.points_from_xy(x, y), crs=3006)


def test_a_month_after_a_dst_change_starts_at_local_midnight(db):
    """1 April 2025 starts at 22:00 UTC on 31 March (summer time): an incident at 23:30 local
    on 31 March is March's, one at 00:30 local on 1 April is April's — in the roll-up, in a
    tile of April and in the scan alike."""
    add(db, frame(["2025-03-31 23:30", "2025-04-01 00:30", "2025-04-30 23:59", "2025-05-01 00:00"]))
    kept = _kept(db)
    assert kept == _expected(db)
    assert sorted({key[2] for key in kept}) == [662, 663, 664]  # March, April, May 2025
    april = Filters(start=datetime(2025, 4, 1, tzinfo=TZ), end=datetime(2025, 5, 1, tzinfo=TZ))
    z = 8
    for filters, want in ((april, 2), (Filters(end=april.start), 1), (Filters(), 4)):
        months, _counts, scanned = _three(db, z, *tile_of(CX, CY, z), filters)
        assert months.source == "months"
        assert sum(_cells(months).values()) == sum(_cells(scanned).values()) == want


@pytest.mark.parametrize(
    ("filters", "source"),
    [
        (Filters(start=datetime(2025, 3, 3, tzinfo=TZ)), "counts"),  # a Monday: 250 m buckets
        (Filters(end=datetime(2025, 3, 1, 12, tzinfo=TZ)), "scan"),
        (Filters(hours=(20, 21)), "scan"),
        (Filters(categories=("klotter",)), "scan"),  # part of a group
    ],
)
def test_filters_the_roll_up_cannot_answer_fall_back(db, filters, source):
    _load(db, n=800)
    z = 8
    months, _counts, scanned = _three(db, z, *tile_of(CX, CY, z), filters)
    assert months.source == source
    assert _cells(months) == _cells(scanned) and months.features > 0


@pytest.mark.parametrize("cut", ["2025-03-05", "2025-03-01", "2024-12-31 18:00"])
def test_retention_takes_the_removed_time_out_of_the_roll_up(db, cut):
    rng = np.random.default_rng(12)
    times = [
        f"{np.datetime64('2024-11-20') + int(d)} {int(h):02d}:15"
        for d, h in zip(rng.integers(0, 160, 120), rng.integers(0, 24, 120), strict=True)
    ]
    add(db, frame(times))
    moment = datetime.fromisoformat(cut).replace(tzinfo=TZ)
    with db.session() as s:
        writes.remove_incidents_before(s, moment)
    kept = _kept(db)
    assert kept == _expected(db)
    assert 0 < sum(kept.values()) < 120
    z = 7
    months, _counts, scanned = _three(db, z, *tile_of(CX, CY, z), Filters())
    assert months.source == "months" and _cells(months) == _cells(scanned)


def test_recount_command_rebuilds_the_roll_up(db, runner, monkeypatch):
    from tryggkarta.cli import main

    _load(db, n=300)
    with db.engine.begin() as conn:
        conn.execute(IncidentMonthCount.__table__.delete())
    monkeypatch.setattr("tryggkarta.cli.get_database", lambda: db)
    result = runner.invoke(main, ["db", "recount"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "incident_month_counts" in result.output
    assert _kept(db) == _expected(db) and sum(_kept(db).values()) == 300


def test_month_extent_reads_the_outer_cells(db):
    _load(db, n=500)
    frame_ = layer_frame(db, "incidents", Filters(), columns=["x", "y"], geometry=False)
    box = cellcounts.month_extent(db)
    assert box is not None
    assert box[0] <= frame_["x"].min() < box[0] + 1000
    assert box[2] - 1000 <= frame_["x"].max() < box[2]
    assert box[1] <= frame_["y"].min() < box[1] + 1000
    assert box[3] - 1000 <= frame_["y"].max() < box[3]
    one = cellcounts.month_extent(db, ("1471",))
    assert one is not None and box[0] <= one[0] and one[2] <= box[2]
    assert cellcounts.month_extent(db, ("0180",)) is None
