"""An empty store of its own for a migration test, on SQLite or PostGIS.

A migration test upgrades a fresh store to an older revision, writes rows the way that schema
had them, then upgrades (or downgrades) and checks what the migration made of them. Each test
needs a database nobody else writes to: a file under ``tmp_path`` on SQLite, and on PostGIS a
database named after the test's tag and the session's own test database (so parallel workers
never collide), dropped again afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def empty_store(
    engine: str, request: Any, tmp_path: Path, tag: str, **settings: Any
) -> Iterator[tuple[Any, Any]]:
    """``(Database, alembic Config)`` of a new, empty store; nothing is migrated yet.

    ``engine`` is ``"sqlite"`` or ``"postgis"``; ``tag`` names the PostGIS database
    (``tk_<tag>_<worker>_<pid>``, e.g. ``mig18``); ``settings`` are more store settings
    (``region="1495"`` also tells the migrations the installation's region)."""
    from sqlalchemy import create_engine, text

    from tryggkarta.config import load_settings
    from tryggkarta.store import Database
    from tryggkarta.store.engine import _alembic_config

    admin = name = None
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        base = request.getfixturevalue("postgis_url")
        name = f"tk_{tag}_" + base.rsplit("_", 2)[-2] + "_" + base.rsplit("_", 1)[-1]
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        url = base.rsplit("/", 1)[0] + "/" + name
        probe = create_engine(url)
        with probe.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        probe.dispose()
    old = Database(
        load_settings(
            {"database_url": url, "instance_path": str(tmp_path), "secret_key": "x", **settings}
        )
    )
    cfg = _alembic_config(old.engine, old.srid)
    if "region" in settings:
        cfg.attributes["region"] = settings["region"]
    try:
        yield old, cfg
    finally:
        old.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()
