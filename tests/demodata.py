"""The demo data in a test database, loaded once per test process and copied after that.

``load_demo`` reads four GeoJSON files, reprojects them, bulk-loads them and builds the EST
cycle: about a second per call, and the suite asks for it a few hundred times on two engines.
:func:`demo_into` loads it for real the first time a test process asks on a database, keeps a
copy of every table (PostgreSQL: a schema ``tk_demo_copy`` in the same database; SQLite: a
file made with ``VACUUM INTO``), and on later calls refills the emptied tables from that copy
in one transaction: the same rows, the same ids (sequences are set past them), the same
partitions. A database that is not empty gets a real ``load_demo`` (what the demo promises
there is its own test).

:func:`demo_sqlite_file` is the same for the browser tests' own SQLite files: one demo file
per process, copied for each server.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import text

from tryggkarta.store import Base

SCHEMA = "tk_demo_copy"
#: Database URL → its copy: the (table, columns, serial columns with their sequence) list of
#: the PostgreSQL schema, or the SQLite file.
_copies: dict[str, Any] = {}
_browser_file: list[Path] = []


def _tables() -> list[str]:
    return [t.name for t in Base.metadata.sorted_tables]


def _empty(db: Any) -> bool:
    """No rows in any table (but the ``srid`` setting, which every database has)."""
    checks = [f"EXISTS (SELECT 1 FROM {name})" for name in _tables() if name != "settings"]
    checks.append("EXISTS (SELECT 1 FROM settings WHERE key <> 'srid')")
    with db.engine.connect() as conn:
        return not conn.execute(text("SELECT " + " OR ".join(checks))).scalar()


def _columns_pg(conn: Any, table: str) -> list[str]:
    """The columns a row is written with (generated ones follow from them)."""
    rows = conn.execute(
        text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = :t AND is_generated = 'NEVER' ORDER BY ordinal_position"
        ),
        {"t": table},
    )
    return [f'"{r[0]}"' for r in rows]


def _serials(conn: Any, table: str) -> list[tuple[str, str]]:
    """(column, sequence) of the columns of ``table`` that take their values from a sequence."""
    return [
        tuple(r)
        for r in conn.execute(
            text(
                "SELECT a.attname, pg_get_serial_sequence(:q, a.attname) FROM pg_attribute a "
                "WHERE a.attrelid = CAST(:q AS regclass) AND a.attnum > 0 "
                "AND NOT a.attisdropped AND pg_get_serial_sequence(:q, a.attname) IS NOT NULL"
            ),
            {"q": f"public.{table}"},
        )
    ]


def _keep_pg(db: Any) -> list[tuple[str, list[str], list[tuple[str, str]]]]:
    kept = []
    with db.engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        for table in _tables():
            cols = _columns_pg(conn, table)
            where = " WHERE key <> 'srid'" if table == "settings" else ""
            conn.execute(
                text(
                    f"CREATE TABLE {SCHEMA}.{table} AS "
                    f"SELECT {', '.join(cols)} FROM public.{table}{where}"
                )
            )
            kept.append((table, cols, _serials(conn, table)))
    return kept


def _refill_pg(db: Any, kept: list[tuple[str, list[str], list[tuple[str, str]]]]) -> None:
    from tryggkarta.store import partitions

    with db.engine.begin() as conn:
        if partitions.is_partitioned(conn):  # a test may have dropped a year since
            from tryggkarta.config import local_timezone

            lo, hi = conn.execute(
                text(f"SELECT min(occurred_at), max(occurred_at) FROM {SCHEMA}.incidents")
            ).one()
            if lo is not None:
                zone = local_timezone()
                years = range(lo.astimezone(zone).year, hi.astimezone(zone).year + 1)
                partitions.ensure_partitions(conn, set(years))
        for table, cols, serials in kept:
            names = ", ".join(cols)
            conn.execute(
                text(f"INSERT INTO public.{table} ({names}) SELECT {names} FROM {SCHEMA}.{table}")
            )
            for column, sequence in serials:
                conn.execute(
                    text(
                        f"SELECT setval('{sequence}', "
                        f'COALESCE((SELECT max("{column}") FROM public.{table}), 0) + 1, false)'
                    )
                )


def _keep_sqlite(db: Any) -> Path:
    """A copy of ``db`` in a new file (``VACUUM INTO``); its path."""
    path = Path(tempfile.mkdtemp(prefix="tk-demo-copy-")) / "demo.db"
    with db.engine.connect() as conn:
        conn.exec_driver_sql(f"VACUUM INTO '{path}'")
    return path


def _refill_sqlite(db: Any, path: Path) -> None:
    with db.engine.connect() as conn:
        conn.exec_driver_sql(f"ATTACH DATABASE '{path}' AS demo_copy")
        conn.commit()
        try:
            for table in _tables():
                where = " WHERE key <> 'srid'" if table == "settings" else ""
                conn.exec_driver_sql(
                    f"INSERT INTO main.{table} SELECT * FROM demo_copy.{table}{where}"
                )
            conn.commit()
        finally:
            conn.rollback()
            conn.exec_driver_sql("DETACH DATABASE demo_copy")
            conn.commit()


def demo_into(db: Any) -> None:
    """``load_demo(db)`` with its defaults, from this process's copy when ``db`` is empty."""
    from tryggkarta.demo import load_demo

    if not _empty(db):
        load_demo(db)
        return
    keep, refill = (_keep_pg, _refill_pg) if db.is_postgis else (_keep_sqlite, _refill_sqlite)
    url = db.engine.url.render_as_string(hide_password=False)
    kept = _copies.get(url)
    if kept is not None:
        refill(db, kept)
        return
    load_demo(db)
    _copies[url] = keep(db)


def demo_sqlite_file(target: Path) -> None:
    """Write a migrated SQLite database with the demo data to ``target`` (a copy of one
    loaded once per process)."""
    if not _browser_file:
        from tryggkarta.config import load_settings
        from tryggkarta.demo import load_demo
        from tryggkarta.store import Database

        folder = Path(tempfile.mkdtemp(prefix="tk-demo-file-"))
        settings = load_settings(
            {
                "database_url": f"sqlite:///{folder / 'tk.db'}",
                "instance_path": str(folder),
                "secret_key": "demo-copy",
            }
        )
        db = Database(settings)
        db.upgrade()
        load_demo(db)
        _browser_file.append(_keep_sqlite(db))
        db.engine.dispose()
    shutil.copyfile(_browser_file[0], target)
