"""Migration 0020: the table of kept published releases is created empty (releases are
computed again on first use or by ``tryggkarta releases refresh``), written once per data
version after it, and dropped on downgrade without touching the incidents."""

from __future__ import annotations

import numpy as np
import pytest

from tests.oldstore import empty_store


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_0020_keeps_releases_from_the_upgrade_on(engine, request, tmp_path) -> None:
    from alembic import command
    from sqlalchemy import inspect, text

    from tests.test_cellcounts import _frame
    from tryggkarta import disclosure
    from tryggkarta.store import Dataset, count, insert_layer

    rule = disclosure.Rule(5, 5)
    with empty_store(engine, request, tmp_path, "mig20") as (old, cfg):
        command.upgrade(cfg, "0019")
        with old.session() as s:
            ds = Dataset(layer="incidents", name="before", checksum="before")
            s.add(ds)
            s.flush()
            insert_layer(s, "incidents", _frame(np.random.default_rng(20), 500, np.arange(500)), ds.id)  # fmt: skip
        assert "published_releases" not in inspect(old.engine).get_table_names()
        command.upgrade(cfg, "0020")
        with old.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM published_releases")).scalar() == 0
        period = disclosure.parse_period("2025")
        disclosure._CACHE.clear()
        rel = disclosure.incident_release(old, None, period, rule)
        assert rel is not None and rel.n_cells > 0
        with old.engine.connect() as conn:
            kept = conn.execute(text("SELECT n_cells FROM published_releases")).scalars().all()
        assert kept == [rel.n_cells]
        command.downgrade(cfg, "0019")
        assert "published_releases" not in inspect(old.engine).get_table_names()
        assert count(old, "incidents") == 500
        disclosure._CACHE.clear()
        command.upgrade(cfg, "0020")
        assert "published_releases" in inspect(old.engine).get_table_names()
    disclosure._CACHE.clear()
