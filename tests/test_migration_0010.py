"""Migration 0010: saved maps from before keep their filters and open as the same map."""

from __future__ import annotations

import json

import pytest


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_old_shared_maps_migrate_to_the_map_query(engine, request, tmp_path) -> None:
    from alembic import command
    from sqlalchemy import create_engine, inspect, text

    from tryggkarta.config import load_settings
    from tryggkarta.services import sharing
    from tryggkarta.store import Database
    from tryggkarta.store.engine import _alembic_config

    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        base = request.getfixturevalue("postgis_url")
        name = "tk_mig10_" + base.rsplit("_", 2)[-2] + "_" + base.rsplit("_", 1)[-1]
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
    saved = {
        "layers": ["incidents"],
        "categories": ["narkotika"],
        "start": "2026-11-01",
        "extent": [13.43, 58.375, 13.45, 58.39],
    }
    cfg = _alembic_config(old.engine, old.srid)
    try:
        command.upgrade(cfg, "0007")
        with old.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO shared_maps (name, config, shared_roles, shared_orgs, public,"
                    " created_at) VALUES ('a', :c, '[]', '[]', false, '2026-11-02 10:00:00')"
                ),
                {"c": json.dumps(saved)},
            )
            conn.execute(
                text(
                    "INSERT INTO shared_maps (name, config, shared_roles, shared_orgs, public,"
                    " created_at) VALUES ('b', :c, '[]', '[]', false, '2026-11-02 10:00:00')"
                ),
                {"c": '{"layers": ["survey"], "extent": ["x"]}'},
            )
        command.upgrade(cfg, "0010")
        assert "places" in inspect(old.engine).get_table_names()
        with old.engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT name, config FROM shared_maps")).all())
        rows = {k: v if isinstance(v, dict) else json.loads(v) for k, v in rows.items()}
        assert rows["a"] == {
            "v": 2,
            "query": {
                "layers": ["incidents"],
                "cat": ["narkotika"],
                "from": ["2026-11-01"],
                "bbox": ["13.43,58.375,13.45,58.39"],
            },
            "extent": [13.43, 58.375, 13.45, 58.39],
        }
        assert rows["a"] == sharing.upgrade_config(saved)  # the service reads old ones alike
        assert rows["b"] == {"v": 2, "query": {"layers": ["survey"]}}
        command.downgrade(cfg, "0007")
        assert "places" not in inspect(old.engine).get_table_names()
        with old.engine.connect() as conn:
            back = conn.execute(text("SELECT config FROM shared_maps WHERE name = 'a'")).scalar()
        back = back if isinstance(back, dict) else json.loads(back)
        assert back == saved
    finally:
        old.dispose()
        if engine == "postgis":
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()
