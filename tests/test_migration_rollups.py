"""Migrations 0017 and 0019: the month roll-up (incident_month_counts) and the year roll-up
(incident_year_counts, filled through the month roll-up) are created and filled from the
incidents already stored; downgrade drops them and the other counts go on being kept."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tests.oldstore import empty_store
from tryggkarta.store import cellcounts


@dataclass(frozen=True)
class Case:
    revision: str
    before: str
    rollup: cellcounts.Rollup
    indexes: frozenset[str]
    #: the count table the store keeps below this one
    below: str
    #: incidents stored before the migration
    stored: int


CASES = [
    Case(
        "0017",
        "0016",
        cellcounts.MONTHS,
        frozenset(
            {
                "ix_incident_month_counts_month_cell",
                "ix_incident_month_counts_cx",
                "ix_incident_month_counts_cy",
            }
        ),
        "incident_cell_counts",
        300,
    ),
    Case(
        "0019",
        "0018",
        cellcounts.YEARS,
        frozenset({"ix_incident_year_counts_year_cell", "ix_incident_year_counts_cell"}),
        "incident_month_counts",
        400,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.revision for c in CASES])
@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_the_roll_up_is_filled_from_stored_incidents(engine, case, request, tmp_path) -> None:
    from alembic import command
    from sqlalchemy import inspect, text

    from tests.test_cellcounts import _frame, expected_counts, kept_counts
    from tryggkarta.store import Dataset, insert_layer

    table = case.rollup.table.name

    def insert(old, name: str, keys: np.ndarray) -> None:  # noqa: ANN001 - the old store
        with old.session() as s:
            ds = Dataset(layer="incidents", name=name, checksum=name)
            s.add(ds)
            s.flush()
            insert_layer(s, "incidents", _frame(np.random.default_rng(len(keys)), len(keys), keys), ds.id)  # fmt: skip

    def same(old, total: int) -> None:  # noqa: ANN001 - the old store
        kept = kept_counts(old, case.rollup)
        assert kept == expected_counts(old, case.rollup) and sum(kept.values()) == total

    with empty_store(engine, request, tmp_path, f"mig{case.revision[2:]}") as (old, cfg):
        command.upgrade(cfg, case.before)
        insert(old, "before", np.arange(case.stored))  # stored before the roll-up existed
        assert table not in inspect(old.engine).get_table_names()
        command.upgrade(cfg, case.revision)
        assert case.indexes <= {i["name"] for i in inspect(old.engine).get_indexes(table)}
        same(old, case.stored)
        assert len({key[2] for key in kept_counts(old, case.rollup)}) >= 2  # several buckets
        insert(old, "after", np.arange(1000, 1150))  # kept current from now on
        same(old, case.stored + 150)
        command.downgrade(cfg, case.before)
        assert table not in inspect(old.engine).get_table_names()
        insert(old, "down", np.arange(2000, 2040))  # the store still writes without it
        with old.engine.connect() as conn:
            total = conn.execute(text(f"SELECT sum(n) FROM {case.below}")).scalar()
        assert total == case.stored + 190
        command.upgrade(cfg, "head")
        same(old, case.stored + 190)
