"""The tests clean up after themselves: databases a test creates are dropped even when it
fails, and databases of killed runs are dropped by the next session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import TEST_DATABASE, drop_stale_test_databases

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.postgis


def _databases(url: str) -> set[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        names = set(conn.execute(text("SELECT datname FROM pg_database")).scalars())
    engine.dispose()
    return names


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_databases_of_dead_runs_are_dropped(postgis_url: str) -> None:
    admin = create_engine(postgis_url, isolation_level="AUTOCOMMIT")
    dead = f"tk_cli_gw7_{_dead_pid()}"
    alive = f"tk_mig_gw7_{os.getpid()}"
    foreign = "tk_keepme_1"  # not a test database name
    try:
        with admin.connect() as conn:
            for name in (dead, alive, foreign):
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
                conn.execute(text(f"CREATE DATABASE {name}"))
        dropped = drop_stale_test_databases(admin)
        assert dead in dropped and alive not in dropped and foreign not in dropped
        left = _databases(postgis_url)
        assert dead not in left and alive in left and foreign in left
    finally:
        with admin.connect() as conn:
            for name in (dead, alive, foreign):
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
    assert TEST_DATABASE.match("tk_test_main_123") and not TEST_DATABASE.match("tk_prod_main_1")


def test_a_failing_test_still_drops_its_database(postgis_url: str, tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.conftest"]\n', encoding="utf-8")
    (tmp_path / "test_inner.py").write_text(
        "import os\n"
        "def test_fails(scratch_database):\n"
        "    url = scratch_database('cli')\n"
        "    open(os.environ['TK_URL_FILE'], 'w').write(url)\n"
        "    raise AssertionError('on purpose')\n",
        encoding="utf-8",
    )
    url_file = tmp_path / "url.txt"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
            "PYTHONPATH": str(ROOT),
            "TK_URL_FILE": str(url_file),
            "TRYGGKARTA_TEST_POSTGRES_URL": postgis_url.rsplit("/", 1)[0] + "/test",
        },
        timeout=300,
    )
    assert "1 failed" in run.stdout, run.stdout + run.stderr
    name = url_file.read_text(encoding="utf-8").rsplit("/", 1)[1]
    assert name.startswith("tk_cli_main_")
    assert name not in _databases(postgis_url)
    # nor did the inner session leave its own per-process database
    assert not any(
        n.startswith("tk_test_main_") and n.endswith(name.rsplit("_", 1)[1])
        for n in _databases(postgis_url)
    )


def _contents(db) -> dict[str, list[tuple]]:  # noqa: ANN001 - a Database
    """Every table's rows as text, sorted, without what a load stamps with its clock or a
    random salt (times, password hashes, the report data sets' checksums), which a copy
    keeps from its first load."""
    from sqlalchemy import select

    from tryggkarta.store import Base

    out = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            cols = [
                c
                for c in table.columns
                if c.name not in ("geom", "expires", "password_hash", "checksum")
                and not c.name.endswith(("_at", "_time"))
            ]
            out[table.name] = sorted(tuple(map(str, row)) for row in conn.execute(select(*cols)))
    return out


def test_the_demo_copy_is_the_demo(db) -> None:  # noqa: ANN001 - the two-engine fixture
    """The suite's copied demo (tests/demodata.py) holds exactly what load_demo writes: the
    same rows with the same ids, and new rows get the next ids."""
    from tests.conftest import empty_tables
    from tests.demodata import demo_into
    from tryggkarta.demo import load_demo

    load_demo(db)
    loaded = _contents(db)
    empty_tables(db)
    demo_into(db)  # the first in this process loads and keeps a copy, or refills from it
    empty_tables(db)
    demo_into(db)  # refilled from the copy
    copied = _contents(db)
    assert {k: len(v) for k, v in copied.items()} == {k: len(v) for k, v in loaded.items()}
    assert copied == loaded
    assert sum(len(v) for v in copied.values()) > 1000
    load_demo(db)  # the demo loaded again over the copy: nothing new (idempotent, same keys)
    assert {k: len(v) for k, v in _contents(db).items()} == {k: len(v) for k, v in loaded.items()}
