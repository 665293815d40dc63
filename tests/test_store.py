"""The store on both engines: inserts, idempotency, queries, SQL grid counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Polygon, box

from tryggkarta.errors import BadInput
from tryggkarta.store import (
    Dataset,
    Filters,
    GridSpec,
    category_counts,
    count,
    delete_dataset,
    extent,
    grid_counts,
    insert_layer,
    layer_frame,
    time_range,
)

X0, Y0 = 400_000.0, 6_460_000.0


def incidents(n: int = 500, seed: int = 1) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(X0, X0 + 5000, n)
    y = rng.uniform(Y0, Y0 + 5000, n)
    t = pd.Timestamp("2025-01-06", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 70 * 86400, n), unit="s"
    )
    return gpd.GeoDataFrame(
        {
            "occurred_at": t,
            "category": rng.choice(["klotter", "skadegorelse", "narkotika"], n),
            "description": [f"händelse {i} åäö" for i in range(n)],
            "source_id": [str(i) for i in range(n)],
        },
        geometry=gpd.points_from_xy(x, y),
        crs=3006,
    )


def add(db, layer: str, gdf, name: str = "test") -> tuple[int, int, int]:
    with db.session() as s:
        ds = Dataset(layer=layer, name=name, checksum=name)
        s.add(ds)
        s.flush()
        inserted, skipped = insert_layer(s, layer, gdf, ds.id)
        return ds.id, inserted, skipped


def test_insert_and_read_back_exactly(db):
    gdf = incidents(50)
    _, inserted, skipped = add(db, "incidents", gdf)
    assert (inserted, skipped) == (50, 0)
    back = layer_frame(db, "incidents")
    assert back.crs.to_epsg() == 3006
    assert len(back) == 50
    assert set(back["description"]) == set(gdf["description"])
    np.testing.assert_allclose(np.sort(back.geometry.x), np.sort(gdf.geometry.x))
    first = back.sort_values("source_id").iloc[0]
    assert first["occurred_at"].tzinfo is not None


def test_reimport_adds_nothing(db):
    gdf = incidents(80)
    add(db, "incidents", gdf, "a")
    _, inserted, skipped = add(db, "incidents", gdf, "b")
    assert (inserted, skipped) == (0, 80)
    assert count(db, "incidents") == 80


def test_explicit_dedup_key_wins_over_content(db):
    gdf = incidents(10)
    gdf["dedup_key"] = "polisen:" + gdf["source_id"]
    add(db, "incidents", gdf, "a")
    changed = gdf.copy()
    changed["description"] = "updated text"
    _, inserted, _ = add(db, "incidents", changed, "b")
    assert inserted == 0


def test_failed_import_leaves_store_unchanged(db):
    add(db, "incidents", incidents(20), "ok")
    bad = incidents(30, seed=2)
    bad.loc[25, "occurred_at"] = pd.NaT
    with pytest.raises(Exception, match="time"):
        add(db, "incidents", bad, "bad")
    assert count(db, "incidents") == 20
    with db.session() as s:
        assert s.query(Dataset).count() == 1


def test_delete_dataset_removes_rows(db):
    ident, *_ = add(db, "incidents", incidents(40), "a")
    add(db, "incidents", incidents(15, seed=3), "b")
    with db.session() as s:
        assert delete_dataset(s, ident) == {"incidents": 40}
    assert count(db, "incidents") == 15


def test_filters_bbox_polygon_time_category(db):
    gdf = incidents(600)
    add(db, "incidents", gdf)
    area = box(X0 + 1000, Y0 + 1000, X0 + 3000, Y0 + 2500)
    tri = Polygon([(X0, Y0), (X0 + 5000, Y0), (X0, Y0 + 5000)])
    start = datetime(2025, 2, 1, tzinfo=UTC)
    end = start + timedelta(days=14)
    pts = gdf.geometry
    expect_bbox = pts.within(area) | pts.touches(area)
    assert count(db, "incidents", Filters(bbox=area.bounds)) == int(expect_bbox.sum())
    expect_tri = shapely.intersects(pts.values, tri).sum()
    assert count(db, "incidents", Filters(polygon=tri)) == int(expect_tri)
    times = gdf["occurred_at"]
    expect_time = ((times >= start) & (times < end)).sum()
    assert count(db, "incidents", Filters(start=start, end=end)) == int(expect_time)
    expect_cat = (gdf["category"] == "klotter").sum()
    assert count(db, "incidents", Filters(categories=("klotter",))) == int(expect_cat)
    assert category_counts(db) == gdf["category"].value_counts().to_dict()


def test_weekday_and_hour_filters_use_stockholm_time(db):
    # 2025-03-29 23:30 UTC is Sunday 00:30 in Stockholm: a different weekday than in UTC
    when = pd.Timestamp("2025-03-29 23:30", tz="UTC")
    gdf = gpd.GeoDataFrame(
        {"occurred_at": [when], "category": ["klotter"]},
        geometry=gpd.points_from_xy([X0], [Y0]),
        crs=3006,
    )
    add(db, "incidents", gdf)
    local = when.tz_convert("Europe/Stockholm")
    assert count(db, "incidents", Filters(weekdays=(local.weekday(),), hours=(local.hour,))) == 1
    assert count(db, "incidents", Filters(weekdays=(when.weekday(),))) == 0


def test_grid_counts_in_sql_equal_numpy(db):
    gdf = incidents(2000)
    add(db, "incidents", gdf)
    grid = GridSpec(X0 + 250, Y0, 250, 16, 20)
    counts = grid_counts(db, "incidents", grid)
    x, y = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    ref, _, _ = np.histogram2d(
        y, x, bins=[grid.ny, grid.nx], range=[[grid.y0, grid.bounds[3]], [grid.x0, grid.bounds[2]]]
    )
    np.testing.assert_array_equal(counts, ref.astype(int))


def test_space_time_cube(db):
    gdf = incidents(1500)
    add(db, "incidents", gdf)
    grid = GridSpec(X0, Y0, 500, 10, 10)
    t0 = pd.Timestamp("2025-01-06", tz="UTC").timestamp()
    cube = grid_counts(db, "incidents", grid, time_step=7 * 86400, t0=t0, n_steps=10)
    assert cube.shape == (10, 10, 10)
    weeks = (
        (gdf["occurred_at"] - pd.Timestamp("2025-01-06", tz="UTC")) // pd.Timedelta(weeks=1)
    ).to_numpy()
    np.testing.assert_array_equal(cube.sum(axis=(1, 2)), np.bincount(weeks, minlength=10)[:10])


def test_grid_counts_with_polygon_filter_same_on_both_engines(db):
    gdf = incidents(1000)
    add(db, "incidents", gdf)
    circle = shapely.Point(X0 + 2500, Y0 + 2500).buffer(1200)
    grid = GridSpec(X0, Y0, 500, 10, 10)
    counts = grid_counts(db, "incidents", grid, Filters(polygon=circle))
    assert counts.sum() == int(shapely.intersects(gdf.geometry.values, circle).sum())


@pytest.mark.parametrize("polygon", [False, True])
def test_grid_counts_by_category_and_periods_in_one_pass(db, polygon):
    from tryggkarta.store.grid import grid_counts_by

    gdf = incidents(1500)
    add(db, "incidents", gdf)
    grid = GridSpec(X0 + 250, Y0, 250, 16, 20)  # leaves out the westmost points
    circle = shapely.Point(X0 + 2500, Y0 + 2500).buffer(1800)
    filters = Filters(polygon=circle) if polygon else Filters(hours=tuple(range(0, 24, 2)))
    t0 = pd.Timestamp("2025-02-03", tz="UTC").timestamp()
    periods = [(t0, t0 + 14 * 86400), (t0 + 14 * 86400, t0 + 28 * 86400)]
    by_cat = grid_counts_by(db, "incidents", grid, filters, by="category", periods=periods)
    assert set(by_cat) <= {"klotter", "skadegorelse", "narkotika"} and len(by_cat) == 3
    for cat, arr in by_cat.items():
        assert arr.shape == (3, grid.ny, grid.nx)
        np.testing.assert_array_equal(
            arr[0], grid_counts(db, "incidents", grid, filters.replace(categories=(cat,)))
        )
        for i, (a, b) in enumerate(periods):
            cube = grid_counts(
                db,
                "incidents",
                grid,
                filters.replace(categories=(cat,)),
                time_step=b - a,
                t0=a,
                n_steps=1,
            )
            np.testing.assert_array_equal(arr[i + 1], cube[0])
    plain = grid_counts_by(db, "incidents", grid, filters)
    assert plain["klotter"].shape == (grid.ny, grid.nx)
    np.testing.assert_array_equal(sum(plain.values()), grid_counts(db, "incidents", grid, filters))
    with pytest.raises(BadInput):
        grid_counts_by(db, "incidents", grid, by="description")


def test_points_frame_orders_by_xy_and_limits(db):
    from tryggkarta.store.queries import points_frame

    gdf = incidents(300)
    add(db, "incidents", gdf)
    box_ = (X0 + 1000, Y0 + 1000, X0 + 4000, Y0 + 4000)
    frame = points_frame(db, "incidents", Filters(bbox=box_), columns=["id", "category"], limit=50)
    inside = gdf.geometry.x.between(box_[0], box_[2]) & gdf.geometry.y.between(box_[1], box_[3])
    assert len(frame) == 50 and set(frame.columns) == {"id", "category", "x", "y"}
    np.testing.assert_allclose(
        frame["x"].to_numpy(), np.sort(gdf.geometry.x[inside].to_numpy())[:50]
    )
    circle = shapely.Point(X0 + 2500, Y0 + 2500).buffer(1000)
    poly = points_frame(db, "incidents", Filters(polygon=circle), columns=["id"], limit=10_000)
    assert len(poly) == int(shapely.intersects(gdf.geometry.values, circle).sum())


def test_extent_and_time_range(db):
    assert extent(db, "incidents") is None
    assert time_range(db) is None
    gdf = incidents(30)
    add(db, "incidents", gdf)
    minx, _, _, _ = extent(db, "incidents")
    assert minx == pytest.approx(gdf.geometry.x.min())
    lo, hi = time_range(db)
    assert lo == gdf["occurred_at"].min().to_pydatetime()
    assert hi == gdf["occurred_at"].max().to_pydatetime()


def test_polygon_layers_store_bbox_and_geometry(db):
    polys = gpd.GeoDataFrame(
        {"name": ["Centrum", "Norr"], "kind": ["district", "district"]},
        geometry=[box(X0, Y0, X0 + 100, Y0 + 100), box(X0 + 500, Y0, X0 + 900, Y0 + 50)],
        crs=3006,
    )
    add(db, "areas", polys)
    frame = layer_frame(db, "areas", Filters(bbox=(X0 + 450, Y0 - 10, X0 + 460, Y0 + 10)))
    assert frame["name"].tolist() == []
    frame = layer_frame(db, "areas", Filters(bbox=(X0 + 850, Y0 - 10, X0 + 1000, Y0 + 10)))
    assert frame["name"].tolist() == ["Norr"]
    assert frame.geometry.iloc[0].equals(polys.geometry.iloc[1])


def test_project_without_dates_stores_null_and_reads_back(db):
    """A project without start/end date is stored with NULL dates (not the text 'NaT')."""
    square = box(X0, Y0, X0 + 100, Y0 + 100)
    gdf = gpd.GeoDataFrame(
        {
            "name": ["Belysning Torget", "Trygghetsvandring"],
            "kind": ["belysning", "ovrigt"],
            "status": ["pagaende", "pagaende"],
            "start_date": [pd.Timestamp("2025-03-01").date(), None],
        },
        geometry=[square, square.buffer(10)],
        crs=3006,
    )
    _, inserted, _ = add(db, "projects", gdf, "projects-no-dates")
    assert inserted == 2
    back = layer_frame(db, "projects").sort_values("name").reset_index(drop=True)
    assert len(back) == 2
    assert back["end_date"].isna().all()
    assert str(back.loc[0, "start_date"])[:10] == "2025-03-01"
    assert pd.isna(back.loc[1, "start_date"])
    with db.engine.connect() as conn:
        from sqlalchemy import text

        texts = conn.execute(
            text("SELECT CAST(start_date AS TEXT), CAST(end_date AS TEXT) FROM projects")
        ).all()
    assert all(v != "NaT" for row in texts for v in row)


def test_awkward_text_survives_the_bulk_path(db):
    """Tabs, newlines, backslashes, a literal \\N, quotes and å ä ö come back unchanged; an
    empty string stays empty and a missing value stays NULL (COPY text escaping on PostGIS)."""
    texts = [
        "tab\there",
        "rad1\nrad2\r\n",
        "back\\slash \\N",
        '"citat";semikolon,komma',
        "åäö – ÅÄÖ €",
        "",
        None,
    ]
    gdf = incidents(len(texts), seed=3)
    gdf["description"] = texts
    gdf["address"] = ["\\N", None, "x", "", "y", None, "z"]
    add(db, "incidents", gdf)
    back = layer_frame(db, "incidents").sort_values("source_id", key=lambda s: s.astype(int))
    assert back["description"].tolist()[:6] == texts[:6]
    assert pd.isna(back["description"].iloc[6])
    assert back["address"].iloc[0] == "\\N" and pd.isna(back["address"].iloc[1])
    assert back["address"].iloc[3] == ""
    assert np.allclose(back["x"].to_numpy(float), gdf.geometry.x.to_numpy(), rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore:Did not recognize type 'geometry':sqlalchemy.exc.SAWarning")
def test_migrations_match_the_models(db):
    """Alembic's autogenerate finds nothing to change: migrations and models agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from tryggkarta.store import Base
    from tryggkarta.store.partitions import include_name

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, Base.metadata)

    def ours(entry) -> bool:
        # PostGIS adds generated geometry columns and GiST indexes the models do not declare,
        # and the spatial_ref_sys table of the extension.
        text = repr(entry)
        return not any(word in text for word in ("'geom'", "_geom", "spatial_ref_sys", "geometry"))

    relevant = [d for d in diff if ours(d)]
    if db.is_postgis:  # x/y B-tree is SQLite's spatial index; PostGIS uses GiST (migration 0002)
        relevant = [d for d in relevant if "ix_incidents_xy" not in repr(d)]
        # the partitioned incidents' unique key holds the partition key too (migration 0011)
        relevant = [d for d in relevant if "ix_incidents_dedup_key" not in repr(d)]
    assert relevant == [], relevant


def _schema_objects(db, table: str) -> list[tuple[str, str]]:
    """The table's indexes and constraints as (name, definition), to compare before/after."""
    from sqlalchemy import text

    with db.engine.connect() as conn:
        if db.is_postgis:
            rows = conn.execute(
                text(
                    "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                    "WHERE indrelid = CAST(:t AS regclass) UNION ALL "
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = CAST(:t AS regclass)"
                ),
                {"t": table},
            )
        else:
            rows = conn.execute(
                text(
                    "SELECT name, coalesce(sql, '') FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"
                ),
                {"t": table},
            )
        return sorted((str(a), str(b)) for a, b in rows)


@pytest.fixture()
def bulk_from_10(monkeypatch: pytest.MonkeyPatch):
    """Bulk mode (drop indexes, insert, rebuild) from 10 rows on, so small tests exercise it."""
    from tryggkarta.store import writes

    monkeypatch.setattr(writes, "BULK_MIN", 10)
    modes: list[bool | None] = []
    real = writes.LayerWriter.finish

    def finish(self):  # noqa: ANN001, ANN202
        result = real(self)
        modes.append(self.bulk)
        return result

    monkeypatch.setattr(writes.LayerWriter, "finish", finish)
    return modes


def test_bulk_load_into_an_empty_table_then_incremental(db, bulk_from_10):
    """A first load takes bulk mode, and so does a load as large as the table; indexes and
    constraints come back exactly; a small load into a larger table goes row by row;
    re-imports add nothing either way."""
    before = _schema_objects(db, "incidents")
    gdf = incidents(300)
    assert add(db, "incidents", gdf, "first")[1:] == (300, 0)
    assert _schema_objects(db, "incidents") == before
    assert add(db, "incidents", gdf, "again")[1:] == (0, 300)
    more = incidents(40, seed=9)
    assert add(db, "incidents", more, "more")[1:] == (40, 0)
    # PostGIS decides per yearly partition on the rows not stored yet: a re-import brings
    # none, so no partition is rebuilt (SQLite decides on the rows offered)
    assert bulk_from_10 == [True, not db.is_postgis, False]
    assert count(db, "incidents") == 340
    # the rebuilt indexes answer queries: bbox, time and dataset filters agree with the data
    area = box(X0 + 1000, Y0 + 1000, X0 + 3000, Y0 + 2500)
    both = pd.concat([gdf, more])
    expect = int((both.geometry.within(area) | both.geometry.touches(area)).sum())
    assert count(db, "incidents", Filters(bbox=area.bounds)) == expect
    with db.session() as s:
        assert delete_dataset(s, 1) == {"incidents": 300}
    assert count(db, "incidents") == 40


def test_bulk_load_is_all_or_nothing(db, bulk_from_10):
    """A failure after bulk mode dropped the indexes rolls back rows and index changes alike."""
    add(db, "incidents", incidents(5, seed=5), "small")
    before = _schema_objects(db, "incidents")
    bad = incidents(200, seed=6)
    with pytest.raises(RuntimeError, match="disk on fire"):
        with db.session() as s:
            ds = Dataset(layer="incidents", name="bad", checksum="bad")
            s.add(ds)
            s.flush()
            from tryggkarta.store.writes import LayerWriter

            writer = LayerWriter(s, "incidents", ds.id, expected_rows=200)
            writer.add(bad)
            writer.finish()
            raise RuntimeError("disk on fire")
    assert bulk_from_10 == [False, True]
    assert count(db, "incidents") == 5
    assert _schema_objects(db, "incidents") == before


def test_bulk_load_skips_keys_already_stored(db, bulk_from_10):
    """Bulk mode's anti-join skips stored keys and repeats within the piece, like "on conflict"."""
    gdf = incidents(30)
    gdf["dedup_key"] = "polisen:" + gdf["source_id"]
    add(db, "incidents", gdf.iloc[:10], "ten")
    doubled = pd.concat([gdf, gdf.iloc[:5]])
    _, inserted, skipped = add(db, "incidents", doubled, "all")
    assert (inserted, skipped) == (20, 15)
    assert bulk_from_10 == [True, True]
    assert count(db, "incidents") == 30


def test_first_load_with_repeated_keys_across_chunks(
    db, bulk_from_10, monkeypatch: pytest.MonkeyPatch
):
    """A first load (PostgreSQL copies it straight into the table) still stores each key once,
    also when a repeat lies in another write chunk than the first copy."""
    from tryggkarta.store import writes

    monkeypatch.setattr(writes, "BULK_CHUNK", 7)
    gdf = incidents(30)
    gdf["dedup_key"] = "est:" + (gdf.index % 20).astype(str)  # rows 20-29 repeat rows 0-9
    _, inserted, skipped = add(db, "incidents", gdf, "first")
    assert (inserted, skipped) == (20, 10)
    assert bulk_from_10 == [True]
    back = layer_frame(db, "incidents")
    assert sorted(back["description"]) == sorted(gdf["description"].iloc[:20])


def test_sqlite_staging_file_is_removed_after_commit_and_rollback(sqlite_db, tmp_path):
    """The ADBC staging file lives only as long as the import's transaction, and the store's
    connection keeps no attached database afterwards (whether the import commits or fails)."""
    import glob
    import os

    from sqlalchemy import text

    folder = os.path.dirname(sqlite_db.engine.url.database)

    def leftovers() -> list[str]:
        return glob.glob(os.path.join(folder, ".tk-stage-*"))

    add(sqlite_db, "incidents", incidents(20), "ok")
    assert leftovers() == []
    with pytest.raises(RuntimeError):
        with sqlite_db.session() as s:
            ds = Dataset(layer="incidents", name="bad", checksum="bad")
            s.add(ds)
            s.flush()
            insert_layer(s, "incidents", incidents(15, seed=4), ds.id)
            assert len(leftovers()) == 1
            raise RuntimeError("stop")
    assert leftovers() == []
    assert count(sqlite_db, "incidents") == 20
    with sqlite_db.engine.connect() as conn:
        names = [row[1] for row in conn.execute(text("PRAGMA database_list"))]
    assert not [n for n in names if n.startswith("tk_stage")], names


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_migration_0003_keeps_rows_and_dedup(engine, request, tmp_path):
    """A store at schema 0002 with rows upgrades to 0003 (dedup key: a unique index): the
    rows stay, a re-import still adds nothing, and a first load into an empty table of the
    old schema works."""
    from alembic import command
    from sqlalchemy import inspect

    from tests.oldstore import empty_store

    with empty_store(engine, request, tmp_path, "mig") as (old, cfg):
        command.upgrade(cfg, "0002")
        gdf = incidents(60)
        add(old, "incidents", gdf, "before")
        old.upgrade()
        indexes = {ix["name"]: ix["unique"] for ix in inspect(old.engine).get_indexes("incidents")}
        assert indexes.get("ix_incidents_dedup_key")  # SQLite says 1, PostgreSQL True
        assert count(old, "incidents") == 60
        assert add(old, "incidents", gdf, "again")[1:] == (0, 60)
        assert add(old, "incidents", incidents(5, seed=8), "new")[1:] == (5, 0)


@pytest.mark.postgis
def test_first_load_by_a_role_without_trigger_privilege(
    request, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """A first load by an ordinary database role (it may not switch row triggers off, nor
    compress the WAL) keeps the per-row foreign-key checks and stores the same rows; a
    superuser skips them."""
    from sqlalchemy import create_engine, text

    from tryggkarta.config import load_settings
    from tryggkarta.store import Database, writes

    monkeypatch.setattr(writes, "BULK_MIN", 10)
    seen: list[bool] = []
    compressed: list[bool] = []  # the import's WAL under LZ4 (bulk.compress_wal)
    real = writes.LayerWriter.finish

    def finish(self):  # noqa: ANN001, ANN202
        seen.append(self.triggers_off)
        compressed.append(self.wal_compressed)
        return real(self)

    monkeypatch.setattr(writes.LayerWriter, "finish", finish)
    base = request.getfixturevalue("postgis_url")
    su = request.getfixturevalue("_postgis_db")
    from tests.conftest import empty_tables

    empty_tables(su)
    assert add(su, "incidents", incidents(40), "superuser")[1:] == (40, 0)
    empty_tables(su)
    role = "tk_plain_role"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text(f"DROP OWNED BY {role}")
            if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
            else text("SELECT 1")
        )
        conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"))
        conn.execute(text(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}"))
        conn.execute(text(f"GRANT CREATE ON SCHEMA public TO {role}"))
    url = base.replace("postgres@", f"{role}@", 1)
    plain = Database(
        load_settings({"database_url": url, "instance_path": str(tmp_path), "secret_key": "x"})
    )
    modes: list[bool | None] = []
    real_decide = writes.LayerWriter._decide
    monkeypatch.setattr(
        writes.LayerWriter,
        "_decide",
        lambda self, n: (real_decide(self, n), modes.append(self.bulk))[0],
    )
    try:
        # rows only (the tables belong to another role): no index may be dropped, row by row
        assert add(plain, "incidents", incidents(40), "plain")[1:] == (40, 0)
        empty_tables(su)
        # the owner, not a superuser: bulk mode, the foreign-key check row by row
        with admin.connect() as conn:
            conn.execute(text(f"ALTER TABLE incidents OWNER TO {role}"))
        assert add(plain, "incidents", incidents(40), "owner")[1:] == (40, 0)
        assert count(plain, "incidents") == 40
    finally:
        plain.dispose()
        empty_tables(su)
        with admin.connect() as conn:
            conn.execute(text("ALTER TABLE incidents OWNER TO postgres"))
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()
    assert modes == [None, True]  # PostgreSQL decides a non-first load in finish
    assert seen == [True, False, False]
    # only the superuser may SET wal_compression: the others keep the server's setting, and
    # the savepoint leaves their transaction usable (the rows above were stored)
    assert compressed == [True, False, False]


def test_bulk_writer_with_no_rows_still_leaves_its_indexes(db, bulk_from_10):
    """A writer that decided on bulk mode from an estimate but got no row gives the table its
    indexes back in finish (the transaction may commit)."""
    from tryggkarta.store.writes import LayerWriter

    before = _schema_objects(db, "incidents")
    with db.session() as s:
        ds = Dataset(layer="incidents", name="estimate", checksum="estimate")
        s.add(ds)
        s.flush()
        writer = LayerWriter(s, "incidents", ds.id, expected_rows=1000)
        assert writer.finish() == (0, 0)
    assert _schema_objects(db, "incidents") == before


def test_local_weeks_keep_monday_midnight_across_daylight_saving(db):
    """Weeks on the local clock: a summer Monday 00:30 is in its own week, not the last one.

    In fixed seconds from a winter Monday 00:00 (23:00 UTC) every summer week would start at
    Monday 01:00 local, so the hour after midnight fell in the week before. The reference is
    pandas: local calendar days since the first Monday, integer-divided by 7."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Europe/Stockholm")
    rng = np.random.default_rng(5)
    local_start = pd.Timestamp("2025-01-06", tz=tz)  # a Monday, winter time
    # every Monday 00:30 and Sunday 23:30 of the year, and 2,000 times at random
    mondays = pd.date_range(local_start, periods=52, freq="7D")
    edges = list(mondays + pd.Timedelta(minutes=30)) + list(mondays - pd.Timedelta(minutes=30))
    edges = pd.DatetimeIndex([m.tz_localize(None) for m in edges]).tz_localize(tz)
    spread = local_start + pd.to_timedelta(rng.integers(0, 364 * 86400, 2000), unit="s")
    when = pd.DatetimeIndex(list(edges) + list(spread)).tz_convert("UTC")
    n = len(when)
    gdf = gpd.GeoDataFrame(
        {
            "occurred_at": when,
            "category": "klotter",
            "description": "",
            "source_id": [str(i) for i in range(n)],
        },
        geometry=gpd.points_from_xy(np.full(n, X0 + 10.0), np.full(n, Y0 + 10.0)),
        crs=3006,
    )
    add(db, "incidents", gdf)
    grid = GridSpec(X0, Y0, 500, 1, 1)
    t0 = local_start.timestamp()
    cube = grid_counts(db, "incidents", grid, time_step=7 * 86400, t0=t0, n_steps=52, local=tz)
    local_days = (
        when.tz_convert(tz).tz_localize(None).normalize() - local_start.tz_localize(None)
    ).days
    weeks = np.asarray(local_days) // 7
    expected = np.bincount(weeks[(weeks >= 0) & (weeks < 52)], minlength=52)
    np.testing.assert_array_equal(cube[:, 0, 0], expected)
    fixed = grid_counts(db, "incidents", grid, time_step=7 * 86400, t0=t0, n_steps=52)
    assert not np.array_equal(fixed[:, 0, 0], expected)  # what the fixed seconds got wrong
    # the Python path (polygon filters on SQLite, the stacked-coordinate guard) agrees
    from tryggkarta.store.grid import _bincount

    x = gdf.geometry.x.to_numpy()
    again = _bincount(
        x,
        gdf.geometry.y.to_numpy(),
        when.as_unit("s").asi8.astype(float),
        grid,
        7 * 86400,
        t0,
        52,
        tz,
    )
    np.testing.assert_array_equal(again[:, 0, 0], expected)


@pytest.mark.parametrize(
    ("zone", "changes"),
    [
        ("Europe/Stockholm", ["2026-03-29T01:00:00", "2026-10-25T01:00:00"]),
        ("America/Chicago", ["2026-03-08T08:00:00", "2026-11-01T07:00:00"]),
        ("UTC", []),
    ],
)
def test_utc_offsets_find_each_change_to_the_second(zone, changes):
    from zoneinfo import ZoneInfo

    from tryggkarta.store.grid import utc_offsets

    t_from = pd.Timestamp("2026-01-01", tz="UTC").timestamp()
    t_to = pd.Timestamp("2027-01-01", tz="UTC").timestamp()
    starts, offsets = utc_offsets(ZoneInfo(zone), t_from, t_to)
    assert starts[0] == t_from
    assert [pd.Timestamp(s, unit="s").isoformat() for s in starts[1:]] == changes
    probe = pd.date_range("2026-01-01", "2026-12-31 23:00", freq="h", tz="UTC")
    at = np.searchsorted(starts, probe.as_unit("s").asi8, side="right") - 1
    truth = [t.tz_convert(zone).utcoffset().total_seconds() for t in probe]
    np.testing.assert_array_equal(offsets[at], truth)
