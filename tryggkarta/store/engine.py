"""Opening the database: engine, sessions, schema upgrades and their clear failures."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tryggkarta.config import Settings
from tryggkarta.errors import StoreError

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, busy_ms: int = 10000) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    cur.close()


@dataclass(frozen=True)
class Limits:
    """Bounded work per database statement for the web app (0 = no limit).

    PostgreSQL: ``statement_timeout`` and ``lock_timeout`` on every connection (a request that
    waits for a table a bulk import holds gives up after ``lock_s`` instead of holding a
    worker thread). SQLite: a progress handler interrupts a statement that runs longer than
    ``statement_s``. Imports, deletes of a dataset and rebuilds lift both for their own
    transaction (:func:`unbounded`); the command line has no limits.
    """

    statement_s: int = 30
    lock_s: int = 5
    pool_size: int = 10


_UNBOUNDED = "tryggkarta_unbounded"


def unbounded(target: Session | Connection) -> None:
    """Lift the statement and lock limits for the rest of the transaction of ``target`` (a
    session or a connection in a transaction): imports, dataset deletes, streamed exports."""
    connection = target.connection() if isinstance(target, Session) else target
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        connection.exec_driver_sql("SET LOCAL lock_timeout = 0")
    else:  # until the connection goes back to the pool
        connection.info[_UNBOUNDED] = True
        connection.connection.dbapi_connection.set_progress_handler(None, 0)


def _sqlite_limits(engine: Engine, seconds: int) -> None:
    """Interrupt a SQLite statement after ``seconds`` (checked every 20,000 VM steps)."""

    @event.listens_for(engine, "before_cursor_execute")
    def _start(
        conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any
    ) -> None:
        dbapi = conn.connection.dbapi_connection
        if conn.info.get(_UNBOUNDED):
            dbapi.set_progress_handler(None, 0)
            return
        deadline = time.monotonic() + seconds
        dbapi.set_progress_handler(lambda: time.monotonic() > deadline, 20_000)

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi: Any, record: Any) -> None:
        if dbapi is not None:
            dbapi.set_progress_handler(None, 0)
        record.info.pop(_UNBOUNDED, None)


def make_engine(url: str, limits: Limits | None = None) -> Engine:
    """Create an engine for ``url`` with one clear error for every way it can be wrong.

    With ``limits`` (the web app) statements and lock waits are bounded (:class:`Limits`)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"Database URL {url!r} is not valid.") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            folder = Path(database).resolve().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"Cannot create the folder {folder} for the database: {exc.strerror}."
                ) from None
            target = Path(database)
            writable = os.access(target, os.W_OK) if target.exists() else os.access(folder, os.W_OK)
            if not writable:
                raise StoreError(
                    f"The database {target} (folder {folder}) is read-only; "
                    "make it writable or set TRYGGKARTA_INSTANCE_PATH / TRYGGKARTA_DATABASE_URL."
                )
        # the web app's waits for a write lock end at the lock-wait limit, as on PostgreSQL
        # (they took 10 s, and the pysqlite timeout 30 s, whatever the limit said)
        bounded = limits is not None and limits.lock_s > 0
        busy_ms = limits.lock_s * 1000 if bounded else 10000
        engine = create_engine(url, connect_args={"timeout": busy_ms / 1000 if bounded else 30})
        event.listen(engine, "connect", lambda conn, record: _sqlite_pragmas(conn, record, busy_ms))
        if limits is not None and limits.statement_s:
            _sqlite_limits(engine, limits.statement_s)
        return engine
    if backend == "postgresql":
        try:
            # No JIT: the planner's costs of partitioned and PostGIS statements are far above
            # jit_above_cost even for a 1 ms page (an OGC page at 15M rows spent 3.6 s of
            # 3.7 s compiling), and the store's statements are not long enough to win it back.
            connect_args: dict[str, Any] = {"connect_timeout": 10, "options": "-c jit=off"}
            pool: dict[str, Any] = {}
            if limits is not None:
                connect_args["options"] += (
                    f" -c statement_timeout={int(limits.statement_s) * 1000}"
                    f" -c lock_timeout={int(limits.lock_s) * 1000}"
                )
                # one connection per waitress thread, a few more for bursts; a request that
                # finds none waits pool_timeout and fails instead of hanging
                pool = {"pool_size": limits.pool_size, "max_overflow": 5, "pool_timeout": 10}
            return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **pool)
        except (NoSuchModuleError, ModuleNotFoundError):
            raise StoreError(
                "PostgreSQL needs the psycopg driver: pip install 'tryggkarta[postgis]'."
            ) from None
    raise StoreError(f"Unsupported database {backend!r}: use SQLite or PostgreSQL/PostGIS.")


def check_connection(engine: Engine) -> None:
    """Connect once, turning driver errors into one sentence."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        where = engine.url.render_as_string(hide_password=True)
        raise StoreError(f"Cannot connect to the database {where}: {reason}") from None


def _alembic_config(engine: Engine, srid: int) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    cfg.attributes["srid"] = srid
    return cfg


@functools.lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    """The migrations this code ships (read once: the files do not change while it runs, and
    walking them took most of a ``/healthz`` answer under load)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(rev.revision for rev in ScriptDirectory.from_config(cfg).walk_revisions())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return row[0] if row else None


@functools.lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration this code ships (read once, as :func:`known_revisions`)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head() or ""


def upgrade(engine: Engine, srid: int) -> tuple[str | None, str]:
    """Bring the schema to the newest revision. Returns (before, after)."""
    from alembic import command

    check_connection(engine)
    before = current_revision(engine)
    if before is not None and before not in known_revisions():
        raise StoreError(
            f"The database has schema version {before}, which is newer than this tryggkarta "
            "knows; upgrade tryggkarta instead of the database."
        )
    stored = stored_srid(engine)
    if stored is not None and stored != srid:
        raise StoreError(
            f"The database keeps coordinates in EPSG:{stored} but TRYGGKARTA_CRS is {srid}; "
            "use the same CRS or a new database."
        )
    try:
        command.upgrade(_alembic_config(engine, srid), "head")
        if engine.dialect.name == "postgresql":
            from tryggkarta.store import partitions

            with engine.begin() as conn:  # incident partitions for this and next year, ahead
                if partitions.is_partitioned(conn):
                    partitions.ensure_ahead(conn)
    except SQLAlchemyError as exc:
        raise StoreError(f"Schema upgrade failed: {exc.__class__.__name__}: {exc}") from exc
    return before, current_revision(engine) or ""


def stored_srid(engine: Engine) -> int | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("settings"):
            return None
        row = conn.execute(text("SELECT value FROM settings WHERE key = 'srid'")).first()
        return int(row[0]) if row else None


def check_schema(engine: Engine) -> None:
    """Refuse to run on a missing, old or newer schema, saying what to do."""
    check_connection(engine)
    rev = current_revision(engine)
    if rev is None:
        raise StoreError("The database has no tryggkarta schema yet; run 'tryggkarta db upgrade'.")
    if rev not in known_revisions():
        raise StoreError(
            f"The database has schema version {rev}, which is newer than this tryggkarta knows; "
            "upgrade tryggkarta."
        )
    if rev != head_revision():
        raise StoreError(
            f"The database schema ({rev}) is out of date; run 'tryggkarta db upgrade'."
        )


class Database:
    """An engine plus a session factory for one configured database."""

    def __init__(self, settings: Settings, *, bounded: bool = False) -> None:
        self.settings = settings
        limits = (
            Limits(settings.statement_timeout_s, settings.lock_timeout_s, settings.db_pool_size)
            if bounded
            else None
        )
        self.engine = make_engine(settings.url, limits)
        self.srid = settings.crs
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_postgis(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def upgrade(self) -> tuple[str | None, str]:
        return upgrade(self.engine, self.srid)

    def check(self) -> None:
        check_schema(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
