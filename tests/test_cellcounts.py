"""incident_cell_counts: kept current on import and delete, equal to a scan of the incidents.

Property-style: seeded random sequences of imports (overlapping keys, several municipalities,
street and coarse precision, times across DST changes and month ends) and dataset deletes,
on both engines; after every step the kept counts equal counts computed here from the stored
rows, and every release read from them equals the release made by scanning.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from tryggkarta import disclosure
from tryggkarta.config import local_timezone
from tryggkarta.domain import INCIDENT_CATEGORIES, STREET_LEVEL_PRECISIONS, Detail
from tryggkarta.store import Dataset, cellcounts, delete_dataset, insert_layer
from tryggkarta.store.models import Incident, IncidentCellCount
from tryggkarta.store.queries import Filters, layer_frame

X0, Y0 = 421_000.0, 6_470_000.0
CATS = np.array(list(INCIDENT_CATEGORIES))
PRECISIONS = np.array(["exact", "address", "street", "district", "municipality"])
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)  # a Wednesday: the release cut is Monday 23 Nov


def _frame(rng: np.random.Generator, n: int, keys: np.ndarray) -> gpd.GeoDataFrame:
    start = pd.Timestamp("2024-09-01", tz="UTC").timestamp()
    t = start + rng.uniform(0, NOW.timestamp() - start, n)
    # a share of the rows exactly on local midnights (bucket edges) and on DST change nights
    edge = rng.random(n) < 0.2
    local_days = pd.to_datetime(t[edge], unit="s", utc=True).tz_convert(local_timezone())
    t[edge] = local_days.normalize().tz_convert("UTC").map(lambda d: d.timestamp()).to_numpy()
    return gpd.GeoDataFrame(
        {
            "occurred_at": pd.to_datetime(t, unit="s", utc=True),
            "category": rng.choice(CATS, n),
            "precision": rng.choice(PRECISIONS, n, p=[0.5, 0.2, 0.1, 0.1, 0.1]),
            "municipality_code": rng.choice(np.array(["1495", "1471", None], dtype=object), n),
            "description": "x",
            "dedup_key": np.char.add("k", keys.astype(str)).astype(object),
        },
        geometry=gpd.points_from_xy(X0 + rng.gamma(2.0, 900.0, n), Y0 + rng.gamma(2.0, 900.0, n)),
        crs=3006,
    )


def expected_counts(db, rollup: cellcounts.Rollup = cellcounts.DAYS) -> dict[tuple, int]:
    """A kept count table (``rollup``) computed here from the stored rows with Python's
    calendar: each row's local day to its bucket, its point to the table's cell."""
    frame = layer_frame(
        db,
        "incidents",
        Filters(),
        columns=["x", "y", "occurred_at", "category", "precision", "municipality_code"],
        geometry=False,
    )
    if frame.empty:
        return {}
    local = pd.to_datetime(frame["occurred_at"], utc=True).dt.tz_convert(local_timezone())
    keys = pd.DataFrame(
        {
            "mc": frame["municipality_code"].fillna(""),
            "st": frame["precision"].isin(STREET_LEVEL_PRECISIONS).astype(int),
            "bucket": [rollup.number(rollup.start_of(d.date())) for d in local],
            "grp": frame["category"].map(disclosure.GROUP_OF),
            "cx": np.floor(frame["x"].to_numpy() / rollup.cell).astype(int),
            "cy": np.floor(frame["y"].to_numpy() / rollup.cell).astype(int),
        }
    )
    return {tuple(k): int(n) for k, n in keys.value_counts().items()}


def kept_counts(db, rollup: cellcounts.Rollup = cellcounts.DAYS) -> dict[tuple, int]:
    """The rows of a kept count table as {(municipality, street, bucket, group, cx, cy): n}."""
    t = rollup.table.c
    columns = (t.municipality_code, t.street, t[rollup.column], t.grp, t.cx, t.cy, t.n)
    with db.engine.connect() as conn:
        return {tuple(r[:6]): int(r[6]) for r in conn.execute(select(*columns))}


_expected = expected_counts
_kept = kept_counts


def assert_same_release(a, b, what) -> None:
    """Two releases publish the same cells with the same values."""
    assert (a is None) == (b is None), what
    if a is None:
        return
    assert a.cell_size == b.cell_size, what
    np.testing.assert_array_equal(a.cx, b.cx, err_msg=str(what))
    np.testing.assert_array_equal(a.cy, b.cy, err_msg=str(what))
    assert a.values.keys() == b.values.keys(), what
    for name, arr in a.values.items():
        if isinstance(arr, dict):
            assert arr == b.values[name], (what, name)
        else:
            np.testing.assert_array_equal(arr, b.values[name], err_msg=f"{what} {name}")


def _releases_equal(db) -> int:
    """The sparse release from the kept counts equals the sparse scan, the dense grid from
    the counts and the dense scan (the former path), for each municipality and all."""
    periods = [disclosure.parse_period(k, NOW) for k in ("52v", "2025", "2025-K4", "2026-K3")]
    compared = 0
    for code in (None, "1495", "1471", "0180"):
        for period in periods:
            for level, k in ((Detail.RAW, 1), (Detail.AGGREGATED, 3)):
                rule = disclosure.rule_for(level, k)
                disclosure._CACHE.clear()
                kept = disclosure.incident_release(db, code, period, rule, from_counts=True)
                for from_counts, dense in ((False, False), (True, True), (False, True)):
                    other = disclosure.incident_release(
                        db, code, period, rule, from_counts=from_counts, dense=dense
                    )
                    assert_same_release(kept, other, (code, period.key, from_counts, dense))
                if kept is not None:
                    compared += int(kept.values["count"].max(initial=0) > 0)
    return compared


@pytest.mark.parametrize("seed", [1, 2])
def test_kept_counts_equal_the_scan_through_imports_and_deletes(db, seed, monkeypatch):
    from tryggkarta.store import writes

    monkeypatch.setattr(writes, "BULK_MIN", 400)  # big pieces take the bulk paths
    rng = np.random.default_rng(seed)
    datasets: list[int] = []
    next_key = 0
    for step in range(6):
        if datasets and rng.random() < 0.35:
            victim = datasets.pop(int(rng.integers(len(datasets))))
            with db.session() as s:
                delete_dataset(s, victim)
        else:
            n = int(rng.choice([30, 300, 600]))
            fresh = np.arange(next_key, next_key + n)
            next_key += n
            # a third of the keys already stored: skipped, not counted twice
            keys = np.where(rng.random(n) < 0.33, rng.integers(0, max(next_key - n, 1), n), fresh)
            with db.session() as s:
                ds = Dataset(layer="incidents", name=f"s{seed}-{step}", checksum=f"{seed}-{step}")
                s.add(ds)
                s.flush()
                keys = np.unique(keys)
                insert_layer(s, "incidents", _frame(rng, len(keys), keys), ds.id)
                datasets.append(ds.id)
        assert _kept(db) == _expected(db), step
    assert _releases_equal(db) >= 10
    with db.session() as s:  # rebuild gives the same rows
        cellcounts.rebuild(s)
    assert _kept(db) == _expected(db)


def test_a_failed_import_leaves_the_counts_unchanged(db):
    rng = np.random.default_rng(5)
    with db.session() as s:
        ds = Dataset(layer="incidents", name="a", checksum="a")
        s.add(ds)
        s.flush()
        insert_layer(s, "incidents", _frame(rng, 50, np.arange(50)), ds.id)
    before = _kept(db)
    with pytest.raises(RuntimeError), db.session() as s:
        ds = Dataset(layer="incidents", name="b", checksum="b")
        s.add(ds)
        s.flush()
        insert_layer(s, "incidents", _frame(rng, 50, np.arange(100, 150)), ds.id)
        raise RuntimeError("the import fails after the insert")
    assert _kept(db) == before == _expected(db)


def test_buckets_nest_every_release_period():
    zone = local_timezone()
    start = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    epochs, days = cellcounts.buckets(start, start + 3 * 365 * 86400, zone)
    assert epochs == sorted(epochs) and len(set(days)) == len(days)
    starts = {date(1970, 1, 1) + timedelta(days=d) for d in days}
    assert all(d.weekday() == 0 or d.day == 1 for d in list(starts)[1:])
    for key in ("52v", "2025", "2025-K1", "2025-K2", "2025-K3", "2025-K4", "2026-K1"):
        period = disclosure.parse_period(key, NOW)
        assert cellcounts.is_boundary(period.start) and cellcounts.is_boundary(period.end)
        prev = disclosure.previous(period)
        assert cellcounts.is_boundary(prev.start)
    # not a boundary: a Tuesday, and a Monday at noon
    assert not cellcounts.is_boundary(datetime(2025, 3, 4, tzinfo=zone))
    assert not cellcounts.is_boundary(datetime(2025, 3, 3, 12, tzinfo=zone))
    with pytest.raises(ValueError):
        cellcounts.street_counts(None, None, datetime(2025, 3, 4, tzinfo=zone), NOW)  # type: ignore[arg-type]


def test_rebuild_counts_everything_again(db):
    rng = np.random.default_rng(9)
    with db.session() as s:
        ds = Dataset(layer="incidents", name="a", checksum="a")
        s.add(ds)
        s.flush()
        insert_layer(s, "incidents", _frame(rng, 80, np.arange(80)), ds.id)
    with db.engine.begin() as conn:  # counts lost (rows written outside the store's paths)
        conn.execute(IncidentCellCount.__table__.delete())
    with db.session() as s:
        assert cellcounts.rebuild(s) == len(_expected(db))
    assert _kept(db) == _expected(db)
    assert sum(_kept(db).values()) == 80
    with db.engine.connect() as conn:
        assert conn.execute(select(Incident.id)).first() is not None


def test_recount_command(runner, tmp_path):
    from tryggkarta.cli import main

    env = {
        "TRYGGKARTA_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "TRYGGKARTA_INSTANCE_PATH": str(tmp_path),
    }
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    assert runner.invoke(main, ["demo"], env=env).exit_code == 0
    result = runner.invoke(main, ["db", "recount"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = int(result.output.split(":")[1].split()[0].replace(",", ""))
    assert rows > 0
    # the demo's import had counted the same rows already
    import sqlite3

    with sqlite3.connect(tmp_path / "cli.db") as conn:
        total = conn.execute("SELECT sum(n) FROM incident_cell_counts").fetchone()[0]
        stored = conn.execute("SELECT count(*) FROM incidents").fetchone()[0]
    assert total == stored > 0


def test_recount_on_a_database_without_schema_is_one_sentence(runner, tmp_path):
    from tryggkarta.cli import main

    env = {
        "TRYGGKARTA_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}",
        "TRYGGKARTA_INSTANCE_PATH": str(tmp_path),
    }
    result = runner.invoke(main, ["db", "recount"], env=env)
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_an_ogc_page_of_release_cells_equals_the_slice_of_the_whole_collection(demo_db, client):
    from tryggkarta.services import public

    whole = public.collection(demo_db, "incident_cells")["features"]
    assert len(whole) > 12
    got = []
    for offset in range(0, len(whole) + 10, 10):
        body = client.get(f"/ogc/collections/incident_cells/items?limit=10&offset={offset}")
        assert body.status_code == 200
        doc = body.get_json()
        assert doc["numberMatched"] == len(whole)
        assert doc["numberReturned"] == len(doc["features"]) <= 10
        got += doc["features"]
    assert [f["properties"] for f in got] == [f["properties"] for f in whole]
    assert [f["id"] for f in got] == list(range(len(whole)))
    for bad in ("limit=0", "offset=-1", "limit=x", "bbox=1,2,3"):
        assert client.get(f"/ogc/collections/incident_cells/items?{bad}").status_code == 400
