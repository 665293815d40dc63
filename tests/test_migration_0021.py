"""Migration 0021: the incidents' spatial index becomes SP-GiST on PostgreSQL (on every yearly
partition, and on partitions made later), answers the same bounding boxes, and goes back to
GiST on downgrade; SQLite is untouched."""

from __future__ import annotations

import numpy as np
import pytest

from tests.oldstore import empty_store


def _methods(engine) -> set[str]:  # noqa: ANN001 - SQLAlchemy engine
    from sqlalchemy import text

    with engine.connect() as conn:
        return set(
            conn.execute(
                text(
                    "SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "JOIN pg_am am ON am.oid = c.relam JOIN pg_class t ON t.oid = i.indrelid "
                    "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] "
                    "WHERE t.relname LIKE 'incidents%' AND a.attname = 'geom'"
                )
            ).scalars()
        )


@pytest.mark.postgis
def test_0021_makes_the_incident_index_spgist_on_every_partition(request, tmp_path) -> None:
    from alembic import command
    from sqlalchemy import text

    from tests.test_cellcounts import _frame
    from tryggkarta.store import Dataset, insert_layer, partitions

    with empty_store("postgis", request, tmp_path, "mig21") as (old, cfg):
        command.upgrade(cfg, "0020")
        with old.session() as s:
            ds = Dataset(layer="incidents", name="before", checksum="before")
            s.add(ds)
            s.flush()
            insert_layer(s, "incidents", _frame(np.random.default_rng(21), 400, np.arange(400)), ds.id)  # fmt: skip
        box = "ST_MakeEnvelope(421000, 6470000, 422500, 6471500, 3006)"  # a part of them
        query = text(f"SELECT array_agg(id ORDER BY id) FROM incidents WHERE geom && {box}")
        with old.engine.connect() as conn:
            before = conn.execute(query).scalar()
        assert 20 < len(before) < 400
        assert _methods(old.engine) == {"gist"}
        command.upgrade(cfg, "0021")
        assert _methods(old.engine) == {"spgist"}
        with old.engine.begin() as conn:
            assert conn.execute(query).scalar() == before
            partitions.ensure_partitions(conn, {2031})  # a partition made after the upgrade
        assert _methods(old.engine) == {"spgist"}
        command.downgrade(cfg, "0020")
        assert _methods(old.engine) == {"gist"}
        with old.engine.connect() as conn:
            assert conn.execute(query).scalar() == before


def test_0021_leaves_sqlite_alone(request, tmp_path) -> None:
    from alembic import command
    from sqlalchemy import inspect

    with empty_store("sqlite", request, tmp_path, "mig21") as (old, cfg):
        command.upgrade(cfg, "0020")
        indexes = inspect(old.engine).get_indexes("incidents")
        command.upgrade(cfg, "0021")
        assert inspect(old.engine).get_indexes("incidents") == indexes
        command.downgrade(cfg, "0020")
        assert inspect(old.engine).get_indexes("incidents") == indexes
