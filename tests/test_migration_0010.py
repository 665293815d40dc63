"""Migration 0010: saved maps from before keep their filters and open as the same map."""

from __future__ import annotations

import json

import pytest

from tests.oldstore import empty_store


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_old_shared_maps_migrate_to_the_map_query(engine, request, tmp_path) -> None:
    from alembic import command
    from sqlalchemy import inspect, text

    from tryggkarta.services import sharing

    saved = {
        "layers": ["incidents"],
        "categories": ["narkotika"],
        "start": "2026-11-01",
        "extent": [13.43, 58.375, 13.45, 58.39],
    }
    with empty_store(engine, request, tmp_path, "mig10") as (old, cfg):
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
