"""Migration 0017: the month roll-up (incident_month_counts) is created and filled from the
incidents already stored; downgrade drops it and the 250 m counts go on being kept."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_0017_fills_the_month_roll_up_of_stored_incidents(engine, request, tmp_path) -> None:
    from alembic import command
    from sqlalchemy import create_engine, inspect, text

    from tests.test_cellcounts import _frame
    from tests.test_monthcounts import _expected, _kept
    from tryggkarta.config import load_settings
    from tryggkarta.store import Database, Dataset, insert_layer
    from tryggkarta.store.engine import _alembic_config

    admin = None
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        base = request.getfixturevalue("postgis_url")
        name = "tk_mig17_" + base.rsplit("_", 2)[-2] + "_" + base.rsplit("_", 1)[-1]
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        url = base.rsplit("/", 1)[0] + "/" + name
        with create_engine(url).begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    old = Database(
        load_settings({"database_url": url, "instance_path": str(tmp_path), "secret_key": "x"})
    )
    cfg = _alembic_config(old.engine, old.srid)

    def insert(name: str, keys: np.ndarray) -> None:
        with old.session() as s:
            ds = Dataset(layer="incidents", name=name, checksum=name)
            s.add(ds)
            s.flush()
            insert_layer(s, "incidents", _frame(np.random.default_rng(len(keys)), len(keys), keys), ds.id)  # fmt: skip

    try:
        command.upgrade(cfg, "0016")
        insert("before", np.arange(300))  # stored before the roll-up existed
        assert "incident_month_counts" not in inspect(old.engine).get_table_names()
        command.upgrade(cfg, "0017")
        indexes = {i["name"] for i in inspect(old.engine).get_indexes("incident_month_counts")}
        assert {
            "ix_incident_month_counts_month_cell",
            "ix_incident_month_counts_cx",
            "ix_incident_month_counts_cy",
        } <= indexes
        assert _kept(old) == _expected(old) and sum(_kept(old).values()) == 300
        insert("after", np.arange(1000, 1150))  # kept current from now on
        assert _kept(old) == _expected(old) and sum(_kept(old).values()) == 450
        command.downgrade(cfg, "0016")
        assert "incident_month_counts" not in inspect(old.engine).get_table_names()
        insert("down", np.arange(2000, 2040))  # the store still writes without it
        with old.engine.connect() as conn:
            total = conn.execute(text("SELECT sum(n) FROM incident_cell_counts")).scalar()
        assert total == 490
        command.upgrade(cfg, "head")
        assert sum(_kept(old).values()) == 490
    finally:
        old.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()
