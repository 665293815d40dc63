"""The tryggkarta command: each user error is one sentence and a non-zero exit code."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from tryggkarta.cli import main


def run(runner, args, db_url, tmp_path, **env):
    environ = {"TRYGGKARTA_DATABASE_URL": db_url, "TRYGGKARTA_INSTANCE_PATH": str(tmp_path), **env}
    return runner.invoke(main, args, env=environ, catch_exceptions=False)


def test_help_everywhere(runner):
    for args in (
        ["--help"],
        ["db", "--help"],
        ["users", "create", "--help"],
        ["demo", "--help"],
        ["serve", "--help"],
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output


def test_upgrade_then_demo_then_users(runner, tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = run(runner, ["db", "upgrade"], url, tmp_path)
    assert result.exit_code == 0
    from tryggkarta.store.engine import known_revisions

    head = max(known_revisions())  # the newest migration, whatever its number
    assert f"upgraded from empty to schema {head}" in result.output
    result = run(runner, ["db", "upgrade"], url, tmp_path)
    assert "up to date" in result.output
    result = run(runner, ["demo"], url, tmp_path)
    assert result.exit_code == 0, result.output
    assert "incidents" in result.output and "Demo users" in result.output
    assert (tmp_path / "secret_key").exists()
    result = runner.invoke(
        main,
        ["users", "create", "anna", "--role", "police", "--org", "Polisen", "--password-stdin"],
        input="ett-langt-losenord\n",
        env={"TRYGGKARTA_DATABASE_URL": url},
    )
    assert result.exit_code == 0, result.output
    assert "Created user anna (police)" in result.output
    result = run(runner, ["users", "list"], url, tmp_path)
    assert "anna" in result.output and "Polisen" in result.output
    result = runner.invoke(
        main,
        ["users", "create", "anna", "--role", "police", "--password-stdin"],
        input="ett-langt-losenord\n",
        env={"TRYGGKARTA_DATABASE_URL": url},
    )
    assert result.exit_code == 2
    assert "is taken" in result.output


@pytest.mark.parametrize(
    ("url", "message", "code"),
    [
        ("nonsense", "is not a database URL", 2),
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "Cannot connect to the database", 3),
    ],
)
def test_bad_database_urls(runner, tmp_path, url, message, code):
    result = run(runner, ["db", "upgrade"], url, tmp_path)
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_schema_tells_what_to_do(runner, tmp_path):
    result = run(runner, ["users", "list"], f"sqlite:///{tmp_path / 'empty.db'}", tmp_path)
    assert result.exit_code == 3
    assert "run 'tryggkarta db upgrade'" in result.output


def test_newer_schema_is_refused(runner, tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    run(runner, ["db", "upgrade"], url, tmp_path)
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    for args in (["db", "upgrade"], ["users", "list"]):
        result = run(runner, args, url, tmp_path)
        assert result.exit_code == 3
        assert "newer than this tryggkarta knows" in result.output


def test_read_only_instance_folder(runner, tmp_path, monkeypatch):
    # Root can write anywhere, so simulate the permission answer the OS would give a service user.
    import tryggkarta.store.engine as engine_module

    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        engine_module.os,
        "access",
        lambda p, mode: False if str(p).startswith(str(ro)) else real_access(p, mode),
    )
    result = run(runner, ["db", "upgrade"], f"sqlite:///{ro / 'x.db'}", tmp_path)
    assert result.exit_code == 3
    assert "is read-only" in result.output


def test_users_create_without_terminal_needs_password_stdin(runner, tmp_path):
    url = f"sqlite:///{tmp_path / 'u.db'}"
    run(runner, ["db", "upgrade"], url, tmp_path)
    result = run(runner, ["users", "create", "bo", "--role", "planner"], url, tmp_path)
    assert result.exit_code == 2
    assert "--password-stdin" in result.output


@pytest.mark.postgis
def test_upgrade_on_postgis(runner, tmp_path, postgis_url):
    from sqlalchemy import create_engine

    name = f"tk_cli_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    admin = create_engine(postgis_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    url = postgis_url.rsplit("/", 1)[0] + "/" + name
    result = run(runner, ["db", "upgrade"], url, tmp_path)
    assert result.exit_code == 0, result.output
    engine = create_engine(url)
    with engine.connect() as conn:
        srid = conn.execute(text("SELECT Find_SRID('public', 'incidents', 'geom')")).scalar_one()
        index = conn.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_incidents_geom'")
        ).scalar_one()
    engine.dispose()
    assert srid == 3006
    assert "gist" in index.lower()
