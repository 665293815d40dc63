"""Migration 0014: measures get a municipality; records stored before without one get it from
their place (projects, campaigns), their project or owner (measures), their owner (promises)."""

from __future__ import annotations

import pytest
import shapely

from tests.oldstore import empty_store

#: A point in the middle of each town (SWEREF 99 TM): Skara, Götene.
SKARA, GOTENE = (408_672.0, 6_472_746.0), (412_280.0, 6_488_358.0)


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_0014_fills_the_municipality_of_older_records(engine, request, tmp_path) -> None:
    from alembic import command
    from sqlalchemy import inspect, text

    square = shapely.to_wkb(
        shapely.box(GOTENE[0] - 50, GOTENE[1] - 50, GOTENE[0] + 50, GOTENE[1] + 50)
    )
    with empty_store(engine, request, tmp_path, "mig14") as (old, cfg):
        command.upgrade(cfg, "0013")
        with old.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO organisations (id, name, kind, municipality_code, created_at)"
                    " VALUES (1, 'Skara kommun', 'municipality', '1495', '2026-01-01 00:00:00'),"
                    " (2, 'Polisregion', 'police', NULL, '2026-01-01 00:00:00')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO projects (id, dedup_key, name, kind, status, minx, miny, maxx,"
                    " maxy, geom_wkb) VALUES (1, 'p1', 'Park', 'park', 'pagaende', 0, 0, 1, 1, :g)"
                ),
                {"g": square},
            )
            conn.execute(
                text(
                    "INSERT INTO promises (id, year, title, description, owner_org_id, status)"
                    " VALUES (1, 2026, 'Löfte', '', 1, 'pagaende'), (2, 2026, 'Utan', '', 2, 'pagaende')"
                )
            )
            measure = (
                "INSERT INTO interventions (id, measure, title, description, status, x, y,"
                " project_id, promise_id, owner_org_id, origin, categories, created_at)"
                " VALUES (:id, 'belysning', :t, '', 'planerad', :x, :y, :p, :pr, :o, 'manual', '',"
                " '2026-01-01 00:00:00')"
            )
            rows = [
                {
                    "id": 1,
                    "t": "i Skara",
                    "x": SKARA[0],
                    "y": SKARA[1],
                    "p": None,
                    "pr": None,
                    "o": None,
                },
                {"id": 2, "t": "projektets", "x": None, "y": None, "p": 1, "pr": None, "o": None},
                {"id": 3, "t": "ägarens", "x": None, "y": None, "p": None, "pr": None, "o": 1},
                {"id": 4, "t": "okänd", "x": None, "y": None, "p": None, "pr": None, "o": 2},
            ]
            for row in rows:
                conn.execute(text(measure), row)
        command.upgrade(cfg, "0014")
        columns = {c["name"] for c in inspect(old.engine).get_columns("interventions")}
        assert "municipality_code" in columns
        with old.engine.connect() as conn:
            measures = dict(
                conn.execute(text("SELECT id, municipality_code FROM interventions")).all()
            )
            project = conn.execute(text("SELECT municipality_code FROM projects")).scalar()
            promises = dict(conn.execute(text("SELECT id, municipality_code FROM promises")).all())
        assert project == "1471"  # the park lies in Götene
        assert measures == {1: "1495", 2: "1471", 3: "1495", 4: None}
        assert promises == {1: "1495", 2: None}
        command.downgrade(cfg, "0013")
        columns = {c["name"] for c in inspect(old.engine).get_columns("interventions")}
        assert "municipality_code" not in columns
