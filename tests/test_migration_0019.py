"""Migration 0019: the year roll-up (incident_year_counts) is created and filled from the
incidents already stored (through the month roll-up); downgrade drops it and the other
counts go on being kept."""

from __future__ import annotations

import numpy as np
import pytest

from tests.oldstore import empty_store


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_0019_fills_the_year_roll_up_of_stored_incidents(engine, request, tmp_path) -> None:
    from alembic import command
    from sqlalchemy import inspect, text

    from tests.test_cellcounts import _frame
    from tests.test_yearcounts import _expected, _kept
    from tryggkarta.store import Dataset, insert_layer

    def insert(old, name: str, keys: np.ndarray) -> None:  # noqa: ANN001 - the old store
        with old.session() as s:
            ds = Dataset(layer="incidents", name=name, checksum=name)
            s.add(ds)
            s.flush()
            insert_layer(s, "incidents", _frame(np.random.default_rng(len(keys)), len(keys), keys), ds.id)  # fmt: skip

    with empty_store(engine, request, tmp_path, "mig19") as (old, cfg):
        command.upgrade(cfg, "0018")
        insert(old, "before", np.arange(400))  # stored before the roll-up existed
        assert "incident_year_counts" not in inspect(old.engine).get_table_names()
        command.upgrade(cfg, "0019")
        indexes = {i["name"] for i in inspect(old.engine).get_indexes("incident_year_counts")}
        assert {"ix_incident_year_counts_year_cell", "ix_incident_year_counts_cell"} <= indexes
        assert _kept(old) == _expected(old) and sum(_kept(old).values()) == 400
        assert len({key[2] for key in _kept(old)}) >= 2  # more than one year
        insert(old, "after", np.arange(1000, 1150))  # kept current from now on
        assert _kept(old) == _expected(old) and sum(_kept(old).values()) == 550
        command.downgrade(cfg, "0018")
        assert "incident_year_counts" not in inspect(old.engine).get_table_names()
        insert(old, "down", np.arange(2000, 2040))  # the store still writes without it
        with old.engine.connect() as conn:
            total = conn.execute(text("SELECT sum(n) FROM incident_month_counts")).scalar()
        assert total == 590
        command.upgrade(cfg, "head")
        assert _kept(old) == _expected(old) and sum(_kept(old).values()) == 590
