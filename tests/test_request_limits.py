"""One slow request must not hold the site: bounded statements and lock waits in the web app.

The web app's database has limits (TRYGGKARTA_STATEMENT_TIMEOUT_S, TRYGGKARTA_LOCK_TIMEOUT_S);
imports, dataset deletes and streamed exports lift them for their own transaction; the
command line has none. A request over a limit answers 503 with Retry-After at once.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from tryggkarta.config import load_settings
from tryggkarta.errors import ConfigError
from tryggkarta.store import Database
from tryggkarta.store.engine import unbounded

#: Two seconds of an SQLite statement that keeps its virtual machine busy (the limit's
#: progress handler runs every 20,000 instructions) but sleeps instead of burning the CPU:
#: twenty naps of 0.1 s among 400,000 rows (``tk_nap``, registered by :func:`_napping`).
SLOW_SQLITE = (
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 400000) "
    "SELECT count(*), sum(CASE WHEN i % 20000 = 0 THEN tk_nap(0.1) ELSE 0 END) FROM r"
)


def _nap(seconds: float) -> int:
    time.sleep(seconds)
    return 0


def _napping(database: Database) -> Database:
    """``database`` with ``tk_nap(seconds)`` on each new SQLite connection."""
    if not database.is_postgis:
        event.listen(
            database.engine,
            "connect",
            lambda dbapi, _record: dbapi.create_function("tk_nap", 1, _nap),
        )
    return database


def _bounded(db: Database, **limits: int) -> Database:
    settings = db.settings.with_overrides(statement_timeout_s=1, lock_timeout_s=1, **limits)
    return _napping(Database(settings, bounded=True))


def _app(db: Database):
    from tryggkarta.web import create_app

    settings = db.settings.with_overrides(statement_timeout_s=1, lock_timeout_s=1)
    return create_app({"settings": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})


def test_a_statement_over_the_limit_is_stopped_and_an_import_is_not(db):
    bounded = _bounded(db)
    slow = "SELECT pg_sleep(2)" if db.is_postgis else SLOW_SQLITE
    try:
        started = time.perf_counter()
        with pytest.raises(OperationalError), bounded.engine.connect() as conn:
            conn.exec_driver_sql(slow).all()
        assert time.perf_counter() - started < 1.9
        # the same connection, back from the pool, is bounded again and works
        with bounded.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        with bounded.session() as s:  # an import's transaction lifts the limit
            unbounded(s)
            s.execute(text(slow)).all()
        with pytest.raises(OperationalError), bounded.engine.connect() as conn:
            conn.exec_driver_sql(slow).all()  # and it does not stick to the pooled connection
    finally:
        bounded.dispose()


def test_the_command_line_database_has_no_limits(db):
    plain = _napping(Database(db.settings.with_overrides(statement_timeout_s=1)))
    try:
        with plain.engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_sleep(1.3)" if db.is_postgis else SLOW_SQLITE).all()
    finally:
        plain.dispose()


@pytest.mark.postgis
def test_a_locked_table_gives_503_at_once_while_healthz_answers(postgis_url, tmp_path):
    """A bulk import holds an exclusive lock until it commits: pages that need the table
    answer 503 with Retry-After after the lock wait limit; /healthz answers meanwhile."""
    from tryggkarta.web import create_app

    settings = load_settings(
        {
            "database_url": postgis_url,
            "instance_path": str(tmp_path),
            "secret_key": "t",
            "statement_timeout_s": 10,
            "lock_timeout_s": 1,
        }
    )
    Database(settings).upgrade()
    app = create_app({"settings": settings, "TESTING": True})
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    locker = Database(settings)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with locker.engine.begin() as conn:
            conn.exec_driver_sql(
                "LOCK TABLE datasets, incident_cell_counts IN ACCESS EXCLUSIVE MODE"
            )
            held.set()
            release.wait(20)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        started = time.perf_counter()
        page = client.get("/")
        assert page.status_code == 503
        assert page.headers["Retry-After"] == "5"
        assert time.perf_counter() - started < 5
        api = client.get("/ogc/collections/incident_cells/items")
        assert api.status_code == 503 and api.get_json()["code"] == "DatabaseBusy"
        started = time.perf_counter()
        assert client.get("/healthz").status_code == 200
        assert time.perf_counter() - started < 1
    finally:
        release.set()
        thread.join()
        locker.dispose()
        app.extensions["tryggkarta.db"].dispose()
    assert client.get("/").status_code == 200


@pytest.mark.parametrize(
    "name,value", [("statement_timeout_s", "-1"), ("lock_timeout_s", "x"), ("db_pool_size", "0")]
)
def test_bad_limits_are_refused(name, value, tmp_path):
    with pytest.raises(ConfigError):
        load_settings({"instance_path": str(tmp_path), name: value})


def test_zero_means_no_limit(tmp_path):
    settings = load_settings(
        {"instance_path": str(tmp_path), "statement_timeout_s": "0", "lock_timeout_s": "0"}
    )
    assert settings.statement_timeout_s == 0 and settings.lock_timeout_s == 0
    db = _napping(
        Database(
            settings.with_overrides(database_url=f"sqlite:///{tmp_path / 'x.db'}"), bounded=True
        )
    )
    try:
        with db.engine.connect() as conn:
            conn.exec_driver_sql(SLOW_SQLITE).all()
    finally:
        db.dispose()
