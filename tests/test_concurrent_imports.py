"""Imports and deletes at the same time (PostGIS): nothing is lost, nothing stored twice, no
deadlock, and the kept cell counts equal a recount. Plus the key check of the weekly path:
partitions whose key range cannot hold a key are skipped, and pieces that repeat a key
store it once."""

from __future__ import annotations

import threading

import geopandas as gpd
import numpy as np
import pytest
from sqlalchemy import select

from tests.test_cellcounts import _expected, _frame, _kept
from tests.test_partitions import add, frame, rows_per_partition
from tryggkarta.store import Dataset, cellcounts, count, delete_dataset, insert_layer
from tryggkarta.store.models import Incident
from tryggkarta.store.writes import LayerWriter

pytestmark = pytest.mark.postgis


@pytest.fixture
def pg(_postgis_db):
    from tests.conftest import empty_tables

    empty_tables(_postgis_db)
    return _postgis_db


def _import(db, name: str, keys: np.ndarray, seed: int) -> tuple[int, int]:
    with db.session() as s:
        ds = Dataset(layer="incidents", name=name, checksum=name)
        s.add(ds)
        s.flush()
        gdf = _frame(np.random.default_rng(seed), len(keys), keys)
        return insert_layer(s, "incidents", gdf, ds.id)


def _run_together(*jobs) -> list:  # noqa: ANN002 - callables
    """Start ``jobs`` in threads at the same moment; their results (exceptions re-raised)."""
    start = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(i: int, job) -> None:  # noqa: ANN001
        start.wait()
        try:
            results[i] = job()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


@pytest.mark.parametrize("bulk", [False, True], ids=["row-by-row", "bulk-years"])
def test_overlapping_imports_and_a_delete_at_once_lose_nothing(pg, bulk, monkeypatch):
    from tryggkarta.store import writes

    monkeypatch.setattr(writes, "BULK_MIN", 200 if bulk else 10**9)
    assert _import(pg, "old", np.arange(5000, 5400), seed=1) == (400, 0)
    with pg.session() as s:
        old = s.scalar(select(Dataset.id).where(Dataset.name == "old"))
    for round_ in range(3):
        base = round_ * 1000
        a = np.arange(base, base + 600)
        b = np.arange(base + 300, base + 900)  # 300 keys in both imports
        jobs = [
            lambda a=a, r=round_: _import(pg, f"a{r}", a, seed=10 + r),
            lambda b=b, r=round_: _import(pg, f"b{r}", b, seed=20 + r),
        ]
        if round_ == 0:
            jobs.append(lambda: delete_dataset_now(pg, old))
        got = _run_together(*jobs)
        (ins_a, skip_a), (ins_b, skip_b) = got[0], got[1]
        assert ins_a + ins_b == 900 and skip_a + skip_b == 300, got  # each key once
        assert {ins_a, ins_b} <= {300, 600}
    with pg.engine.connect() as conn:
        keys = conn.execute(select(Incident.dedup_key)).scalars().all()
    assert len(keys) == len(set(keys)) == 2700 == count(pg, "incidents")
    kept = _kept(pg)
    assert kept == _expected(pg)
    with pg.session() as s:
        cellcounts.rebuild(s)
    assert _kept(pg) == kept


def delete_dataset_now(db, dataset_id: int) -> dict[str, int]:
    with db.session() as s:
        return delete_dataset(s, dataset_id)


def test_a_key_outside_every_partitions_key_range_is_new_and_one_inside_is_found(pg):
    assert add(pg, frame(["2024-03-01 10:00"] * 5, [f"polisen:{i}" for i in range(1, 6)])) == (
        5,
        0,
    )
    assert add(pg, frame(["2023-03-01 10:00"] * 2, ["polisen:7", "polisen:8"]), "b") == (2, 0)
    # "polisen:6" lies between the two partitions' ranges: new; "polisen:8" (time corrected
    # into 2025) and "polisen:3" are stored in other years: skipped
    moved = frame(["2025-04-01 10:00"] * 3, ["polisen:6", "polisen:8", "polisen:3"])
    assert add(pg, moved, "c") == (1, 2)
    assert rows_per_partition(pg) == {
        "incidents_y2023": 2,
        "incidents_y2024": 5,
        "incidents_y2025": 1,
    }


def test_pieces_that_repeat_a_key_store_it_once(pg):
    add(pg, frame(["2025-01-10 10:00"], ["seed"]), "seed")  # not a first load: staged path
    one = frame(["2025-06-01 10:00", "2025-06-02 10:00"], ["k1", "k2"])
    two = frame(["2025-06-02 10:00", "2025-06-03 10:00"], ["k2", "k3"])  # k2 again, same time
    with pg.session() as s:
        ds = Dataset(layer="incidents", name="pieces", checksum="pieces")
        s.add(ds)
        s.flush()
        writer = LayerWriter(s, "incidents", ds.id)
        writer.add(one)
        writer.add(two)
        assert writer.finish() == (3, 1)
    assert count(pg, "incidents") == 4
    assert _kept(pg) == _expected(pg)


def test_an_import_into_a_big_partition_keeps_its_indexes_and_counts(pg, monkeypatch):
    """Row-by-row into a partition that holds more than the import brings: no DETACH, the
    rows are in, the unique index still refuses a stored key."""
    from sqlalchemy import text

    from tryggkarta.store import writes

    monkeypatch.setattr(writes, "BULK_MIN", 50)
    rng = np.random.default_rng(4)
    big = frame([f"2025-05-{1 + i % 28:02d} {i % 24:02d}:00" for i in range(300)])
    big["dedup_key"] = [f"g:{i}" for i in range(300)]
    assert add(pg, big, "big") == (300, 0)
    week = frame([f"2025-06-{2 + i % 7:02d} 12:{i % 60:02d}" for i in range(100)])
    week["dedup_key"] = [f"w:{i}" for i in range(100)]
    week.geometry = gpd.points_from_xy(
        rng.uniform(4e5, 4.1e5, 100), rng.uniform(6.4e6, 6.41e6, 100)
    )
    assert add(pg, week, "week") == (100, 0)
    assert add(pg, week, "again") == (0, 100)
    assert _kept(pg) == _expected(pg)
    with pg.engine.connect() as conn:
        indexes = conn.execute(
            text("SELECT count(*) FROM pg_indexes WHERE tablename = 'incidents_y2025'")
        ).scalar()
        assert indexes >= 4
        stored = conn.execute(text("SELECT count(*) FROM incidents WHERE dedup_key = 'w:0'"))
        assert stored.scalar() == 1


def test_the_weekly_path_counts_its_rows_from_the_staging_table(pg, monkeypatch):
    """The partitioned path counts what it staged (every staged row goes in once the stored
    keys are out) instead of reading the new rows back: add_dataset is never called, and the
    kept counts still equal the scan, also when part of an import was stored before and when
    it straddles the new year."""
    calls: list[int] = []
    monkeypatch.setattr(
        cellcounts, "add_dataset", lambda *a, **k: calls.append(1) or pytest.fail("read back")
    )
    staged = cellcounts.add_staged
    monkeypatch.setattr(
        cellcounts, "add_staged", lambda *a, **k: calls.append(2) or staged(*a, **k)
    )
    first = frame([f"2025-12-{20 + i % 12:02d} 12:{i % 60:02d}" for i in range(120)])
    first["dedup_key"] = [f"w:{i}" for i in range(120)]
    assert add(pg, first, "first") == (120, 0)
    again = frame(
        [f"2025-12-{20 + i % 12:02d} 12:{i % 60:02d}" for i in range(60)]
        + [f"2026-01-0{1 + i % 5} 08:{i % 60:02d}" for i in range(60)]
    )
    again["dedup_key"] = [f"w:{i}" for i in range(60, 180)]  # 60 stored, 60 new
    assert add(pg, again, "again") == (60, 60)
    assert calls == [2, 2]
    assert _kept(pg) == _expected(pg)


def test_a_bulk_year_with_datasets_in_use_goes_row_by_row_instead_of_waiting(pg, monkeypatch):
    """A year loaded in bulk is detached and attached again, which needs ``datasets`` to
    itself. While another transaction holds ``datasets`` (here: has read it), the import gives
    up on that after half a second and inserts the year with its indexes kept: no deadlock,
    no long wait, the same rows and counts."""
    import time

    import psycopg

    from tryggkarta.store import writes

    monkeypatch.setattr(writes, "BULK_MIN", 50)
    modes: list[bool | None] = []
    real = writes.LayerWriter.finish
    monkeypatch.setattr(
        writes.LayerWriter, "finish", lambda self: (real(self), modes.append(self.bulk))[0]
    )
    stored = frame([f"2025-05-0{1 + i % 9} 10:00" for i in range(10)])
    stored["dedup_key"] = [f"a:{i}" for i in range(10)]
    assert add(pg, stored, "stored") == (10, 0)  # not a first load from here on
    modes.clear()
    year = frame([f"2024-03-{1 + i % 28:02d} 10:{i % 60:02d}" for i in range(120)])
    year["dedup_key"] = [f"b:{i}" for i in range(120)]
    url = pg.engine.url.set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as reader:
        reader.execute("SELECT count(*) FROM datasets")  # ACCESS SHARE until the rollback
        start = time.perf_counter()
        assert add(pg, year, "backfill") == (120, 0)
        waited = time.perf_counter() - start
        reader.rollback()
    assert modes == [False] and waited < 5
    assert _kept(pg) == _expected(pg)
    again = frame([f"2023-03-{1 + i % 28:02d} 10:{i % 60:02d}" for i in range(120)])
    again["dedup_key"] = [f"c:{i}" for i in range(120)]
    assert add(pg, again, "backfill 2023") == (120, 0)  # nobody holds datasets: in bulk
    assert modes == [False, True]
    assert _kept(pg) == _expected(pg)
