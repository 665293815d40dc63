"""Retention (``tryggkarta db retention``): the removed incidents leave the kept cell counts
and every cache keyed by the data version, on both engines (PostGIS drops whole years'
partitions, SQLite deletes rows)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from tests.test_cellcounts import _expected, _kept
from tests.test_partitions import add, frame
from tryggkarta import disclosure
from tryggkarta.config import local_timezone
from tryggkarta.domain import Detail
from tryggkarta.errors import BadInput
from tryggkarta.store import cellcounts, count, writes
from tryggkarta.store.queries import data_version

NOW = datetime(2026, 11, 25, 12, tzinfo=local_timezone())
RAW = disclosure.rule_for(Detail.RAW, 1)


def _times(year: int, n: int, rng: np.random.Generator) -> list[str]:
    days = rng.integers(0, 360, n)
    return [
        f"{np.datetime64(f'{year}-01-01') + int(d)} {int(h):02d}:30"
        for d, h in zip(days, rng.integers(0, 24, n), strict=True)
    ]


def _released(db, key: str) -> int:
    """Incidents in the (cached) raw release of period ``key``, no cache cleared."""
    release = disclosure.incident_release(db, None, disclosure.parse_period(key, NOW), RAW)
    return 0 if release is None else int(np.asarray(release.values["count"]).sum())


def _retain(db, day: str) -> dict[str, int]:
    cut = datetime.fromisoformat(day).replace(tzinfo=local_timezone())
    with db.session() as s:
        return writes.remove_incidents_before(s, cut)


def test_retention_removes_the_counts_and_the_cached_releases_of_the_dropped_time(db):
    rng = np.random.default_rng(16)
    add(db, frame(_times(2023, 40, rng) + _times(2024, 50, rng) + _times(2025, 30, rng)))
    disclosure._CACHE.clear()
    assert (_released(db, "2023"), _released(db, "2024"), _released(db, "2025")) == (40, 50, 30)
    version = data_version(db, ("incidents",))
    counts_2023 = len(_kept(db))

    removed = _retain(db, "2024-01-01")  # a whole year: its partition is dropped on PostGIS
    assert sum(removed.values()) == 40 and count(db, "incidents") == 80
    assert data_version(db, ("incidents",)) != version
    # the releases cached above are not served again: the year is gone, the rest stays
    assert (_released(db, "2023"), _released(db, "2024"), _released(db, "2025")) == (0, 50, 30)
    kept = _kept(db)
    assert kept == _expected(db) and len(kept) < counts_2023
    first_2024 = (datetime(2024, 1, 1).date() - cellcounts.EPOCH).days
    assert min(day for _mc, _st, day, *_rest in kept) >= first_2024


def test_a_cut_inside_a_bucket_takes_only_its_older_incidents_out_of_the_counts(db):
    # Wednesday 2025-03-05: the bucket started on Monday the 3rd and is cut in two; the
    # row at 23:59 the evening before is in UTC the same day as the cut (SQLite compares text)
    times = ["2025-03-03 10:00", "2025-03-04 23:59", "2025-03-05 00:00", "2025-03-06 12:00"]
    add(db, frame([*times, "2025-02-27 09:00", "2025-03-10 09:00"]))
    version = data_version(db, ("incidents",))
    assert sum(_retain(db, "2025-03-05").values()) == 3
    assert count(db, "incidents") == 3
    assert _kept(db) == _expected(db)
    assert sum(_kept(db).values()) == 3
    assert data_version(db, ("incidents",)) != version
    with db.session() as s:  # a recount agrees with what retention left
        cellcounts.rebuild(s)
    assert sum(_kept(db).values()) == 3 and _kept(db) == _expected(db)


def test_retention_that_removes_nothing_keeps_the_data_version(db):
    add(db, frame(["2025-05-01 10:00"]))
    version = data_version(db, ("incidents",))
    assert sum(_retain(db, "2020-01-01").values()) == 0
    assert data_version(db, ("incidents",)) == version
    with pytest.raises(BadInput, match="time zone"), db.session() as s:
        writes.remove_incidents_before(s, datetime(2020, 1, 1))


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_retention_command_keeps_counts_equal_to_a_recount(engine, runner, tmp_path, request):
    from sqlalchemy import create_engine, text

    from tests.test_cli import run
    from tryggkarta.config import load_settings
    from tryggkarta.store import Database

    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'r.db'}"
    else:
        url = request.getfixturevalue("scratch_database")("cli")
        with create_engine(url).begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    assert run(runner, ["db", "upgrade"], url, tmp_path).exit_code == 0
    db = Database(
        load_settings({"database_url": url, "instance_path": str(tmp_path), "secret_key": "x"})
    )
    try:
        rng = np.random.default_rng(3)
        add(db, frame(_times(2019, 20, rng) + _times(2020, 20, rng) + _times(2024, 5, rng)))
        result = run(runner, ["db", "retention", "--before", "2020-07-15"], url, tmp_path)
        assert result.exit_code == 0, result.output
        assert count(db, "incidents") < 25
        assert _kept(db) == _expected(db)
        assert run(runner, ["db", "recount"], url, tmp_path).exit_code == 0
        assert _kept(db) == _expected(db)
    finally:
        db.dispose()
