"""Incidents in yearly partitions on PostGIS (migration 0011): boundaries, years ahead,
retention by dropping a partition, and the dedup key across partitions."""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from tryggkarta.config import local_timezone
from tryggkarta.errors import BadInput
from tryggkarta.store import Dataset, count, insert_layer, layer_frame
from tryggkarta.store import partitions as parts

X0, Y0 = 400_000.0, 6_460_000.0


def frame(times: list[str], keys: list[str] | None = None) -> gpd.GeoDataFrame:
    n = len(times)
    rng = np.random.default_rng(n)
    gdf = gpd.GeoDataFrame(
        {
            "occurred_at": pd.to_datetime(times).tz_localize(local_timezone()),
            "category": ["klotter"] * n,
            "description": [f"händelse {i}" for i in range(n)],
        },
        geometry=gpd.points_from_xy(rng.uniform(X0, X0 + 900, n), rng.uniform(Y0, Y0 + 900, n)),
        crs=3006,
    )
    if keys is not None:
        gdf["dedup_key"] = keys
    return gdf


def add(db, gdf, name: str = "t") -> tuple[int, int]:
    with db.session() as s:
        ds = Dataset(layer="incidents", name=name, checksum=name)
        s.add(ds)
        s.flush()
        return insert_layer(s, "incidents", gdf, ds.id)


def rows_per_partition(db) -> dict[str, int]:
    with db.engine.connect() as conn:
        return dict(
            conn.execute(
                text("SELECT tableoid::regclass::text, count(*) FROM incidents GROUP BY 1")
            ).all()
        )


@pytest.fixture
def pg(_postgis_db):
    from tests.conftest import empty_tables

    empty_tables(_postgis_db)
    return _postgis_db


@pytest.fixture
def bulk_from_10(monkeypatch: pytest.MonkeyPatch) -> None:
    from tryggkarta.store import writes

    monkeypatch.setattr(writes, "BULK_MIN", 10)


@pytest.mark.postgis
def test_the_table_is_partitioned_with_this_and_next_year_ahead(pg):
    with pg.engine.connect() as conn:
        assert parts.is_partitioned(conn)
        years = set(parts.partitions(conn))
    now = datetime.now(local_timezone()).year
    assert {now, now + 1} <= years


@pytest.mark.postgis
@pytest.mark.parametrize("bulk", [False, True], ids=["row-by-row", "bulk"])
def test_an_import_straddling_the_new_year_lands_in_both_partitions(pg, bulk, monkeypatch):
    from tryggkarta.store import writes

    monkeypatch.setattr(writes, "BULK_MIN", 10 if bulk else 10**9)
    add(pg, frame(["2023-06-01 12:00"]), "seed")  # a stored row: not a first load
    # local wall clock: the last minute of 2023 and the first of 2024 (UTC: both in 2023)
    times = ["2023-12-31 23:59"] * 6 + ["2024-01-01 00:00"] * 14
    assert add(pg, frame(times)) == (20, 0)
    got = rows_per_partition(pg)
    assert got["incidents_y2023"] == 7 and got["incidents_y2024"] == 14
    assert count(pg, "incidents") == 21
    assert add(pg, frame(times), "again") == (0, 20)


@pytest.mark.postgis
def test_a_first_load_over_several_years_creates_their_partitions(pg, bulk_from_10):
    times = [f"{y}-0{m}-15 08:00" for y in range(2016, 2021) for m in range(1, 7)]
    assert add(pg, frame(times)) == (30, 0)
    got = rows_per_partition(pg)
    assert {f"incidents_y{y}": 6 for y in range(2016, 2021)}.items() <= got.items()
    back = layer_frame(pg, "incidents")
    assert len(back) == 30 and back["occurred_at"].min().year == 2016


@pytest.mark.postgis
def test_a_future_date_gets_its_partition_instead_of_failing(pg):
    with pg.engine.connect() as conn:
        assert 2031 not in parts.partitions(conn)
    assert add(pg, frame(["2031-03-01 10:00", "2031-12-31 23:30"])) == (2, 0)
    assert rows_per_partition(pg) == {"incidents_y2031": 2}
    with pg.engine.connect() as conn:
        assert 2031 in parts.partitions(conn)


@pytest.mark.postgis
def test_an_absurd_year_is_refused_and_nothing_is_stored(pg):
    with pytest.raises(BadInput, match="2250"):
        add(pg, frame(["2024-05-01 10:00", "2250-01-01 10:00"]))
    assert count(pg, "incidents") == 0


@pytest.mark.postgis
@pytest.mark.parametrize("bulk", [False, True], ids=["row-by-row", "bulk"])
def test_the_dedup_key_holds_across_partitions(pg, bulk, monkeypatch):
    """The same source id at a corrected time in another year is stored once."""
    from tryggkarta.store import writes

    monkeypatch.setattr(writes, "BULK_MIN", 10 if bulk else 10**9)
    keys = [f"polisen:{i}" for i in range(12)]
    assert add(pg, frame(["2024-12-31 22:00"] * 12, keys), "first") == (12, 0)
    moved = frame(["2025-01-01 01:00"] * 12 + ["2025-02-01 01:00"] * 3, [*keys, "a", "b", "c"])
    assert add(pg, moved, "corrected") == (3, 12)
    assert rows_per_partition(pg) == {"incidents_y2024": 12, "incidents_y2025": 3}


@pytest.mark.postgis
def test_retention_drops_whole_years_and_trims_the_year_of_the_cut(pg):
    times = (
        ["2019-05-01 10:00"] * 4
        + ["2020-02-01 10:00", "2020-08-01 10:00"]
        + ["2021-03-01 10:00"] * 2
    )
    add(pg, frame(times))
    cutoff = datetime(2020, 6, 1, tzinfo=local_timezone())
    with pg.engine.begin() as conn:
        removed = parts.drop_before(conn, cutoff)
    # (older, empty partitions that earlier tests left are dropped too, with 0 rows)
    assert {k: v for k, v in removed.items() if v} == {"incidents_y2019": 4, "incidents_y2020": 1}
    with pg.engine.connect() as conn:
        assert 2019 not in parts.partitions(conn) and 2020 in parts.partitions(conn)
    assert count(pg, "incidents") == 3
    assert add(pg, frame(["2019-05-01 10:00"]), "late") == (1, 0)  # the year comes back


def test_retention_on_sqlite_deletes_rows(sqlite_db):
    add(sqlite_db, frame(["2019-05-01 10:00", "2022-01-01 10:00"]))
    with sqlite_db.engine.begin() as conn:
        removed = parts.drop_before(conn, datetime(2020, 1, 1, tzinfo=local_timezone()))
    assert removed == {"incidents": 1}
    assert count(sqlite_db, "incidents") == 1
    with pytest.raises(BadInput, match="time zone"), sqlite_db.engine.begin() as conn:
        parts.drop_before(conn, datetime(2020, 1, 1))


@pytest.mark.postgis
def test_migration_0011_partitions_a_stored_table_and_keeps_its_rows(scratch_database, tmp_path):
    from alembic import command

    from tryggkarta.config import load_settings
    from tryggkarta.store import Database
    from tryggkarta.store.engine import _alembic_config

    url = scratch_database("mig")
    from sqlalchemy import create_engine

    with create_engine(url).begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    old = Database(
        load_settings({"database_url": url, "instance_path": str(tmp_path), "secret_key": "x"})
    )
    try:
        command.upgrade(_alembic_config(old.engine, old.srid), "0007")
        gdf = frame(["2018-03-01 10:00"] * 5 + ["2022-07-01 10:00"] * 5)
        add(old, gdf, "before")
        with old.engine.connect() as conn:
            ids = sorted(conn.execute(text("SELECT id FROM incidents")).scalars())
        old.upgrade()
        with old.engine.connect() as conn:
            assert parts.is_partitioned(conn)
            assert {2018, 2019, 2020, 2021, 2022} <= set(parts.partitions(conn))
            assert sorted(conn.execute(text("SELECT id FROM incidents")).scalars()) == ids
        assert add(old, gdf, "again") == (0, 10)
        assert add(old, frame(["2022-07-02 10:00"]), "new") == (1, 0)
        with old.engine.connect() as conn:  # the id sequence went along
            assert conn.execute(text("SELECT max(id) FROM incidents")).scalar() == max(ids) + 1
        command.downgrade(_alembic_config(old.engine, old.srid), "0007")
        with old.engine.connect() as conn:
            assert not parts.is_partitioned(conn)
            assert conn.execute(text("SELECT count(*) FROM incidents")).scalar() == 11
    finally:
        old.dispose()


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_retention_from_the_command_line(engine, runner, tmp_path, request):
    from tests.test_cli import run
    from tryggkarta.cli import main
    from tryggkarta.config import load_settings
    from tryggkarta.store import Database

    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'r.db'}"
    else:
        url = request.getfixturevalue("scratch_database")("cli")
        from sqlalchemy import create_engine

        with create_engine(url).begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    assert run(runner, ["db", "upgrade"], url, tmp_path).exit_code == 0
    db = Database(
        load_settings({"database_url": url, "instance_path": str(tmp_path), "secret_key": "x"})
    )
    try:
        add(db, frame(["2018-05-01 10:00"] * 3 + ["2024-05-01 10:00"]))
        bad = runner.invoke(
            main,
            ["db", "retention", "--before", "2020-13-01"],
            env={"TRYGGKARTA_DATABASE_URL": url, "TRYGGKARTA_INSTANCE_PATH": str(tmp_path)},
        )
        assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
        result = run(runner, ["db", "retention", "--before", "2020-01-01"], url, tmp_path)
        assert result.exit_code == 0, result.output
        assert "3 removed" in result.output
        assert count(db, "incidents") == 1
    finally:
        db.dispose()
