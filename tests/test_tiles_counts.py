"""Cell tiles from the kept per-250 m counts (incident_cell_counts) equal the tiles counted
over the incidents, on both engines; filters the counts cannot answer fall back to the scan
(issue #16.5)."""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from test_tiles import decode, tile_of

from tryggkarta.config import local_timezone
from tryggkarta.domain import PRECISIONS, STREET_LEVEL_PRECISIONS
from tryggkarta.store import Dataset, Filters, Incident, insert_layer
from tryggkarta.store.tiles import incident_tile

#: Skara (SWEREF 99 TM); points spread over 60 km so that tiles cut through them.
CX, CY = 425_000.0, 6_475_000.0
TZ = local_timezone()
YEAR_2025 = Filters(start=datetime(2025, 1, 1, tzinfo=TZ), end=datetime(2026, 1, 1, tzinfo=TZ))
CATEGORIES = ["klotter", "skadegorelse", "narkotika", "ungdomar", "vald_hot", "trafik", "brand"]


def _load(db, n: int = 3000, seed: int = 21, name: str = "counted") -> int:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-30_000, 30_000, (12, 2))
    pick = rng.integers(0, 12, n)
    xy = centres[pick] + rng.normal(0, 1500, (n, 2))
    frame = gpd.GeoDataFrame(
        {
            "occurred_at": pd.Timestamp("2024-06-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 500 * 86400, n), unit="s"),
            "category": rng.choice(CATEGORIES, n),
            "precision": rng.choice(list(PRECISIONS), n),
            "municipality_code": rng.choice(np.array(["1495", "1471", None], dtype=object), n),
            "source_id": [f"{name}{i}" for i in range(n)],
        },
        geometry=gpd.points_from_xy(CX + xy[:, 0], CY + xy[:, 1]),
        crs=3006,
    )
    with db.session() as s:
        ds = Dataset(layer="incidents", name=name, checksum=name)
        s.add(ds)
        s.flush()
        insert_layer(s, "incidents", frame, ds.id)
        return ds.id


def _cells(tile) -> dict[tuple[int, int], int]:
    """{(pixel x, pixel y): n} of a cells tile."""
    out: dict[tuple[int, int], int] = {}
    for f in decode(tile.data).get("cells", {}).get("features", []):
        key = tuple(f["geometry"]["coordinates"])
        assert key not in out
        out[key] = f["properties"]["n"]
    return out


def _both(db, z: int, x: int, y: int, filters: Filters) -> tuple:
    """(the tile from the 250 m counts, the tile from the scan); the month roll-up is
    compared in test_monthcounts."""
    counted = incident_tile(db, z, x, y, filters, from_months=False)
    scanned = incident_tile(db, z, x, y, filters, from_counts=False)
    assert scanned.source == "scan"
    return counted, scanned


# tiles at 5 km (z6, z7), 1 km (z8, z9) and 250 m (z10, z11), some cutting through the data
TILES = [(6, CX, CY), (7, CX, CY), (8, CX, CY), (9, CX + 20_000, CY), (10, CX, CY - 5000)]
TILES += [(11, CX + 3000, CY + 3000), (9, CX - 28_000, CY + 28_000)]


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        YEAR_2025,
        YEAR_2025.replace(
            categories=("skadegorelse", "klotter", "nedskrapning", "brand", "belysning_fel")
        ),
        YEAR_2025.replace(precisions=STREET_LEVEL_PRECISIONS),
        Filters(municipality_codes=("1495",)),
        Filters(
            start=datetime(2024, 9, 30, tzinfo=TZ),  # a Monday
            end=datetime(2025, 4, 1, tzinfo=TZ),  # a first of the month
            municipality_code="1471",
            precisions=tuple(p for p in PRECISIONS if p not in STREET_LEVEL_PRECISIONS),
        ),
    ],
    ids=["all", "year", "group", "street", "scope", "buckets-muni-not-street"],
)
def test_cells_from_counts_equal_the_scan(db, filters):
    _load(db)
    total = 0
    for z, px, py in TILES:
        counted, scanned = _both(db, z, *tile_of(px, py, z), filters)
        assert counted.source == "counts", (z, counted)
        assert counted.kind == scanned.kind == "cells" and counted.cell == scanned.cell
        assert _cells(counted) == _cells(scanned), (z, px, py)
        assert counted.features == scanned.features
        total += sum(_cells(counted).values())
    assert total > 0


def test_every_incident_is_in_exactly_one_whole_cell_of_a_tile(db):
    """A cell on the edge of a tile is counted whole (the box widens to whole cells): the
    z7 tile holding all points counts each once, by counts and by scan alike."""
    _load(db, n=1000)
    z = 6
    counted, scanned = _both(db, z, *tile_of(CX, CY, z), Filters())
    assert sum(_cells(counted).values()) == sum(_cells(scanned).values()) == 1000


@pytest.mark.parametrize(
    "filters",
    [
        YEAR_2025.replace(categories=("klotter",)),  # part of a group
        Filters(start=datetime(2025, 1, 2, tzinfo=TZ)),  # not a bucket start
        Filters(end=datetime(2025, 5, 15, 12, tzinfo=TZ)),
        Filters(hours=(20, 21, 22)),
        Filters(weekdays=(5, 6)),
        Filters(precisions=("exact",)),
        Filters(bbox=(CX - 10_000, CY - 10_000, CX + 10_000, CY + 10_000)),
    ],
    ids=["category", "start", "end", "hours", "weekdays", "precision", "bbox"],
)
def test_filters_the_counts_cannot_answer_are_scanned(db, filters):
    _load(db, n=800)
    z = 8
    tile = incident_tile(db, z, *tile_of(CX, CY, z), filters)
    assert tile.source == "scan" and tile.kind == "cells"
    assert incident_tile(db, z, *tile_of(CX, CY, z), filters, from_months=False) == tile
    forced = incident_tile(db, z, *tile_of(CX, CY, z), filters, from_counts=False)
    assert _cells(tile) == _cells(forced) and tile.features > 0


def test_counts_follow_a_deleted_import(db):
    from tryggkarta.store.writes import delete_dataset

    _load(db, n=1200, name="first")
    second = _load(db, n=700, seed=5, name="second")
    with db.session() as s:
        delete_dataset(s, second)
        s.commit()
    for z in (7, 9):
        counted, scanned = _both(db, z, *tile_of(CX, CY, z), YEAR_2025)
        assert counted.source == "counts" and _cells(counted) == _cells(scanned)


def test_retention_takes_removed_years_out_of_the_counts(db, runner, monkeypatch):
    """``db retention`` drops old incidents; the kept counts (and so tiles and releases made
    from them) must lose them too."""
    from sqlalchemy import func, select

    from tryggkarta.cli import main
    from tryggkarta.store import cellcounts

    _load(db, n=900)
    monkeypatch.setattr("tryggkarta.cli.get_database", lambda: db)
    result = runner.invoke(main, ["db", "retention", "--before", "2025-01-01"])
    assert result.exit_code == 0, result.output
    with db.session() as s:
        left = s.scalar(select(func.count()).select_from(Incident))
        counted = s.scalar(select(func.sum(cellcounts.TABLE.c.n)))
    assert 0 < left < 900 and counted == left
    z = 7
    counted_tile, scanned = _both(db, z, *tile_of(CX, CY, z), Filters())
    assert counted_tile.source == "counts" and _cells(counted_tile) == _cells(scanned)


def test_the_route_says_where_a_cells_tile_came_from(client, auth, db):
    _load(db, n=500)
    auth.login("police")
    z = 8
    tx, ty = tile_of(CX, CY, z)
    response = client.get(f"/tiles/incidents/{z}/{tx}/{ty}.mvt")
    assert response.status_code == 200 and response.headers["X-Tile-Cell"] == "1000"
    assert response.headers["X-Tile-Source"] == "months"  # no period: whole months
