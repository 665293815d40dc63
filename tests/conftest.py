"""Shared fixtures: an app, a client, a CLI runner, and a database on both engines.

``db`` is parametrised over SQLite and PostGIS: every store test runs on both. PostGIS comes
from TRYGGKARTA_TEST_POSTGRES_URL (default: postgres@127.0.0.1:5432/test); each pytest-xdist
worker gets its own database, migrated once, and tables are emptied between tests.
Every database a test creates is dropped again, also when the test fails (finalizers), and
each session first drops the ``tk_test_*``/``tk_cli_*``/``tk_mig_*`` databases that earlier
sessions left behind (killed runs), when the process named in them is gone and nobody is
connected. Use :func:`scratch_database` for a test's own database.
When PostgreSQL/PostGIS cannot be reached the PostGIS half is skipped with the reason — except
under CI=true, where it fails, because CI installs and starts it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tryggkarta.config import load_settings
from tryggkarta.store import Base, Database

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Hash test passwords with argon2 at its lowest cost.

    At the product's cost (64 MiB, ~0.14 s a hash on this machine) password hashing was most
    of the suite's fixture time: every demo load creates 7 users and every login verifies
    one. A stored hash carries its own parameters, so verifying stays argon2 all the same;
    the product's parameters are checked in ``test_web_security``.
    """
    from argon2 import PasswordHasher

    from tryggkarta.services import accounts

    product = accounts._hasher
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    accounts._hasher = product


@pytest.fixture(autouse=True, scope="session")
def _url_builders_compiled_once() -> Iterator[None]:
    """Compile each URL rule's builder once per test process, not once per app.

    ``create_app`` took ~60 ms, 50 of them werkzeug generating and compiling Python source
    for the URL builders of ~90 rules, and the suite makes well over a thousand apps. The
    builder's code depends only on the rule's parsed parts and defaults (converters are
    looked up on the rule it is bound to when it runs), so the same code is handed to every
    rule made from the same text. The product makes one app per process and is unchanged.
    """
    from werkzeug.routing.rules import Rule

    compile_builder = Rule._compile_builder
    made: dict[tuple, object] = {}

    def once(self: Rule, append_unknown: bool = True):  # noqa: ANN202 - werkzeug's builder
        key = (
            self.rule,
            tuple(self._trace),
            repr(sorted((self.defaults or {}).items())),
            append_unknown,
        )
        if key not in made:
            made[key] = compile_builder(self, append_unknown)
        return made[key]

    Rule._compile_builder = once
    yield
    Rule._compile_builder = compile_builder


def shared_data_dir() -> Path:
    return Path(os.environ.get("TRYGGKARTA_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent (set TRYGGKARTA_SHARED_DATA)")
    return path


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


#: Databases the tests create: prefix, xdist worker (or "main"), pid of the test process.
TEST_DATABASE = re.compile(r"^tk_(?:test|cli|mig)_(?:gw\d+|main)_(\d+)$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def drop_stale_test_databases(admin) -> list[str]:  # noqa: ANN001 - an AUTOCOMMIT engine
    """Drop test databases of test processes that no longer run; returns their names.

    A database is left alone while its process lives or anyone is connected to it (another
    developer's run in a container with its own process ids), and dropped without FORCE.
    """
    dropped = []
    with admin.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT datname, (SELECT count(*) FROM pg_stat_activity a "
                "WHERE a.datname = d.datname) FROM pg_database d WHERE datname LIKE 'tk\\_%'"
            )
        ).all()
        for name, connections in rows:
            match = TEST_DATABASE.match(name)
            if not match or connections or _pid_alive(int(match.group(1))):
                continue
            try:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                dropped.append(name)
            except Exception:  # noqa: BLE001, S112 - someone connected meanwhile: keep it
                continue
    return dropped


@pytest.fixture(scope="session")
def postgis_url() -> Iterator[str]:
    base = os.environ.get("TRYGGKARTA_TEST_POSTGRES_URL", DEFAULT_PG)
    # one database per test process: parallel runs (xdist workers, two developers) never collide
    name = f"tk_test_{_worker()}_{os.getpid()}"
    try:
        admin = create_engine(
            base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
        )
        drop_stale_test_databases(admin)
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        url = base.rsplit("/", 1)[0] + "/" + name
        probe = create_engine(url)
        with probe.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        probe.dispose()
    except Exception as exc:
        reason = f"PostGIS not available at {base}: {str(exc).splitlines()[0]}"
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI installs and starts it, so this is an error)")
        pytest.skip(reason)
    yield url
    from sqlalchemy.orm import close_all_sessions

    close_all_sessions()
    try:
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
    except Exception:  # noqa: BLE001, S110 - cleanup is best effort
        pass


@pytest.fixture
def scratch_database(postgis_url: str) -> Iterator[Callable[[str], str]]:
    """``make(prefix) -> url``: a fresh empty PostgreSQL database for this test, named
    ``tk_<prefix>_<worker>_<pid>`` and dropped when the test ends, passed or failed."""
    admin = create_engine(postgis_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make(prefix: str) -> str:
        name = f"tk_{prefix}_{_worker()}_{os.getpid()}"
        assert TEST_DATABASE.match(name), f"{name} would not be cleaned up after a killed run"
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        made.append(name)
        return postgis_url.rsplit("/", 1)[0] + "/" + name

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def _make_db(url: str, tmp_path_factory: pytest.TempPathFactory, **settings: object) -> Database:
    instance = tmp_path_factory.mktemp("instance")
    db = Database(
        load_settings(
            {
                "database_url": url,
                "instance_path": str(instance),
                "secret_key": "test-secret",
                **settings,
            }
        )
    )
    db.upgrade()
    return db


@pytest.fixture(scope="session")
def _sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Database:
    path = tmp_path_factory.mktemp("sqlite") / "tryggkarta.db"
    return _make_db(f"sqlite:///{path}", tmp_path_factory)


@pytest.fixture(scope="session")
def _postgis_db(postgis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Database:
    return _make_db(postgis_url, tmp_path_factory)


#: Above this many rows in a table, emptying it with TRUNCATE beats DELETE (and leaves no
#: dead rows for the next test to scan).
BIG_TABLE = 2000
#: The id sequences of each database (by URL), read once.
_sequences: dict[str, list[str]] = {}


def empty_tables(db: Database) -> None:
    """Every table emptied but the ``srid`` setting, and id sequences back at 1.

    On PostgreSQL a TRUNCATE of every table (and every yearly partition) costs ~100–150 ms,
    most tests leave a few rows, and DELETE takes those in ~4 ms: DELETE unless a table
    holds more than :data:`BIG_TABLE` rows.
    """
    tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name != "settings"]
    with db.engine.begin() as conn:
        if db.is_postgis:
            big = conn.execute(
                text(
                    "SELECT "
                    + " OR ".join(
                        f"(SELECT count(*) FROM (SELECT 1 FROM {t.name} LIMIT {BIG_TABLE + 1}) s) "
                        f"> {BIG_TABLE}"
                        for t in tables
                    )
                )
            ).scalar()
            if big:
                names = ", ".join(t.name for t in tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                key = db.engine.url.render_as_string(hide_password=False)
                if key not in _sequences:
                    _sequences[key] = list(
                        conn.execute(
                            text(
                                "SELECT quote_ident(sequencename) FROM pg_sequences "
                                "WHERE schemaname = 'public'"
                            )
                        ).scalars()
                    )
                conn.exec_driver_sql(
                    "; ".join(
                        [f"DELETE FROM {t.name}" for t in tables]
                        + [f"SELECT setval('{q}', 1, false)" for q in _sequences[key]]
                    )
                )
        else:
            for table in tables:
                conn.execute(table.delete())
        conn.execute(text("DELETE FROM settings WHERE key <> 'srid'"))


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """An empty, migrated database — once on SQLite, once on PostGIS."""
    database = request.getfixturevalue("_sqlite_db" if request.param == "sqlite" else "_postgis_db")
    empty_tables(database)
    yield database


@pytest.fixture
def sqlite_db(_sqlite_db: Database) -> Database:
    """Only SQLite (for web/UI tests where the engine does not matter)."""
    empty_tables(_sqlite_db)
    return _sqlite_db


@pytest.fixture
def app(db: Database):
    from tryggkarta.web import create_app

    app = create_app({"settings": db.settings, "TESTING": True, "WTF_CSRF_ENABLED": False})
    app.extensions["tryggkarta.db"] = db
    return app


@pytest.fixture
def sqlite_app(sqlite_db: Database):
    from tryggkarta.web import create_app

    app = create_app({"settings": sqlite_db.settings, "TESTING": True, "WTF_CSRF_ENABLED": False})
    app.extensions["tryggkarta.db"] = sqlite_db
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()


@pytest.fixture
def demo_db(db: Database) -> Database:
    """The database with the synthetic demo data loaded (copied after the first load)."""
    from tests.demodata import demo_into

    demo_into(db)
    return db


class AuthActions:
    """Log in as a user with a given role (created on first use)."""

    def __init__(self, client, db: Database) -> None:
        self._client = client
        self._db = db

    def login(self, role: str = "police", username: str | None = None) -> None:
        from sqlalchemy import select

        from tryggkarta.services.accounts import create_user
        from tryggkarta.store import User

        username = username or f"test_{role}"
        with self._db.session() as s:
            if s.scalar(select(User).where(User.username == username)) is None:
                create_user(s, username, PASSWORD, role, organisation=f"Org {role}")
        response = self._client.post("/login", data={"username": username, "password": PASSWORD})
        assert response.status_code == 302, response.data[:500]

    def logout(self) -> None:
        self._client.post("/logout")


@pytest.fixture
def auth(client, db: Database) -> AuthActions:
    return AuthActions(client, db)
