"""Migration 0018: weekly-picture decisions get a municipality; decisions noted before get it
from their point, else from the organisation of the user who noted them."""

from __future__ import annotations

import pytest

from tests.oldstore import empty_store

#: A point in the middle of each town (SWEREF 99 TM): Skara, Götene.
SKARA, GOTENE = (408_672.0, 6_472_746.0), (412_280.0, 6_488_358.0)


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_0018_fills_the_municipality_of_older_decisions(engine, request, tmp_path) -> None:
    from alembic import command
    from sqlalchemy import inspect, text

    with empty_store(engine, request, tmp_path, "mig18") as (old, cfg):
        command.upgrade(cfg, "0017")
        with old.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO organisations (id, name, kind, municipality_code, created_at)"
                    " VALUES (1, 'Götene kommun', 'municipality', '1471', '2026-01-01 00:00:00'),"
                    " (2, 'Polisregion', 'police', NULL, '2026-01-01 00:00:00')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO users (id, username, display_name, password_hash, role, organisation_id,"
                    " active, language, created_at) VALUES"
                    " (1, 'gotene', '', 'x', 'municipality', 1, true, 'sv', '2026-01-01 00:00:00'),"
                    " (2, 'region', '', 'x', 'police', 2, true, 'sv', '2026-01-01 00:00:00')"
                )
            )
            decision = (
                "INSERT INTO decisions (id, week, hotspot_key, title, text, x, y, created_by,"
                " created_at) VALUES (:id, '2026-W47', :k, '', 'Lampor', :x, :y, :u,"
                " '2026-11-20 10:00:00')"
            )
            rows = [
                # placed in Skara, noted by a Götene user: the place decides
                {"id": 1, "k": "a", "x": SKARA[0], "y": SKARA[1], "u": 1},
                # placed in Götene by a user bound to no municipality
                {"id": 2, "k": "b", "x": GOTENE[0], "y": GOTENE[1], "u": 2},
                # no place: the noting user's organisation's municipality
                {"id": 3, "k": "c", "x": None, "y": None, "u": 1},
                # no place, nobody known: nobody can tell whose it is
                {"id": 4, "k": "d", "x": None, "y": None, "u": None},
                {"id": 5, "k": "e", "x": None, "y": None, "u": 2},
            ]
            for row in rows:
                conn.execute(text(decision), row)
        command.upgrade(cfg, "0018")
        columns = {c["name"] for c in inspect(old.engine).get_columns("decisions")}
        assert "municipality_code" in columns
        indexes = {i["name"] for i in inspect(old.engine).get_indexes("decisions")}
        assert "ix_decisions_municipality_code" in indexes
        with old.engine.connect() as conn:
            got = dict(conn.execute(text("SELECT id, municipality_code FROM decisions")).all())
        assert got == {1: "1495", 2: "1471", 3: "1471", 4: None, 5: None}
        command.downgrade(cfg, "0017")
        columns = {c["name"] for c in inspect(old.engine).get_columns("decisions")}
        assert "municipality_code" not in columns
        with old.engine.connect() as conn:  # nothing lost on the way down
            assert conn.execute(text("SELECT count(*) FROM decisions")).scalar() == 5
        command.upgrade(cfg, "0018")  # and up again


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_0018_in_a_one_municipality_installation(engine, request, tmp_path) -> None:
    """With ``TRYGGKARTA_REGION=1495``, a decision without a place or a known noting user is
    the installation's; one placed in another municipality keeps that one."""
    from alembic import command
    from sqlalchemy import text

    with empty_store(engine, request, tmp_path, "mig18b", region="1495") as (old, cfg):
        command.upgrade(cfg, "0017")
        with old.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO decisions (id, week, hotspot_key, title, text, x, y, created_at)"
                    " VALUES (1, '2026-W47', 'a', '', 'Lampor', NULL, NULL, '2026-11-20 10:00:00'),"
                    " (2, '2026-W47', 'b', '', 'Lampor', :x, :y, '2026-11-20 10:00:00')"
                ),
                {"x": GOTENE[0], "y": GOTENE[1]},
            )
        command.upgrade(cfg, "0018")
        with old.engine.connect() as conn:
            got = dict(conn.execute(text("SELECT id, municipality_code FROM decisions")).all())
        # no place: the installation's; a place well inside Götene stays Götene's
        assert got == {1: "1495", 2: "1471"}
