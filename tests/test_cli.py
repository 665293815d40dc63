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
    from tryggkarta.store.engine import head_revision

    assert f"upgraded from empty to schema {head_revision()}" in result.output
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
    result = runner.invoke(  # an EST reporter of a housing company (the /rapport form)
        main,
        [
            "users",
            "create",
            "vaktmastare",
            "--role",
            "reporter",
            "--org",
            "Skarabo",
            "--password-stdin",
        ],
        input="ett-langt-losenord\n",
        env={"TRYGGKARTA_DATABASE_URL": url},
    )
    assert result.exit_code == 0 and "Created user vaktmastare (reporter)" in result.output
    result = runner.invoke(
        main, ["users", "create", "x", "--role", "public"], env={"TRYGGKARTA_DATABASE_URL": url}
    )
    assert result.exit_code == 2 and "Invalid value for '--role'" in result.output


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
def test_upgrade_on_postgis(runner, tmp_path, scratch_database):
    from sqlalchemy import create_engine

    url = scratch_database("cli")  # dropped after the test, also when it fails
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


def test_tokens_list_and_revoke(runner, tmp_path):
    """A token works until ``users revoke-token``; the revocation is in the audit log."""
    from tryggkarta.config import load_settings
    from tryggkarta.services.accounts import user_for_token
    from tryggkarta.store import Database
    from tryggkarta.store.models import AuditLog

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run(runner, ["db", "upgrade"], url, tmp_path).exit_code == 0
    result = runner.invoke(
        main,
        ["users", "create", "bo", "--role", "police", "--password-stdin"],
        input="ett-langt-losenord\n",
        env={"TRYGGKARTA_DATABASE_URL": url, "TRYGGKARTA_INSTANCE_PATH": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    first = run(runner, ["users", "token", "bo", "--name", "gis"], url, tmp_path).output.strip()
    second = run(runner, ["users", "token", "bo", "--name", "etl"], url, tmp_path).output.strip()
    listing = run(runner, ["users", "tokens", "bo"], url, tmp_path)
    assert "gis" in listing.output and "etl" in listing.output and "valid" in listing.output
    assert first not in listing.output  # the secret is never shown again

    db = Database(load_settings({"database_url": url, "instance_path": str(tmp_path)}))
    with db.session() as s:
        assert user_for_token(s, first) is not None

    result = run(runner, ["users", "revoke-token", "bo", "--name", "gis"], url, tmp_path)
    assert result.exit_code == 0, result.output
    assert "Revoked 1 token(s) of bo: gis" in result.output
    with db.session() as s:
        assert user_for_token(s, first) is None
        assert user_for_token(s, second) is not None
        created = s.query(AuditLog).filter_by(action="token_created").all()
        assert [r.extra["token_name"] for r in created] == ["gis", "etl"]
        row = s.query(AuditLog).filter_by(action="admin_revoke_token").one()
        assert row.extra["token_name"] == "gis" and row.extra["username"] == "bo"
    assert "revoked" in run(runner, ["users", "tokens", "bo"], url, tmp_path).output

    again = run(runner, ["users", "revoke-token", "bo", "--name", "gis"], url, tmp_path)
    assert again.exit_code == 2 and "no valid token called 'gis'" in again.output
    vague = run(runner, ["users", "revoke-token", "bo"], url, tmp_path)
    assert vague.exit_code == 2 and "exactly one of --id, --name or --all" in vague.output
    nobody = run(runner, ["users", "revoke-token", "nobody", "--all"], url, tmp_path)
    assert nobody.exit_code == 2 and "There is no user 'nobody'" in nobody.output
    assert "Traceback" not in again.output + vague.output + nobody.output
    assert run(runner, ["users", "revoke-token", "bo", "--all"], url, tmp_path).exit_code == 0
    with db.session() as s:
        assert user_for_token(s, second) is None


def test_set_password_ends_sessions(runner, tmp_path):
    from tryggkarta.config import load_settings
    from tryggkarta.services.accounts import authenticate, get_user, start_session, user_for_session
    from tryggkarta.store import Database

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"TRYGGKARTA_DATABASE_URL": url, "TRYGGKARTA_INSTANCE_PATH": str(tmp_path)}
    assert run(runner, ["db", "upgrade"], url, tmp_path).exit_code == 0
    runner.invoke(
        main,
        ["users", "create", "cy", "--role", "admin", "--password-stdin"],
        input="ett-langt-losenord\n",
        env=env,
    )
    db = Database(load_settings({"database_url": url, "instance_path": str(tmp_path)}))
    with db.session() as s:
        user = get_user(s, "cy")
        sid, uid = start_session(s, user), user.id
    result = runner.invoke(
        main,
        ["users", "set-password", "cy", "--password-stdin"],
        input="ett-nytt-losenord\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "1 login session(s) ended" in result.output
    with db.session() as s:
        assert user_for_session(s, uid, sid) is None
        assert authenticate(s, "cy", "ett-nytt-losenord") is not None
        assert authenticate(s, "cy", "ett-langt-losenord") is None
    short = runner.invoke(
        main, ["users", "set-password", "cy", "--password-stdin"], input="kort\n", env=env
    )
    assert short.exit_code == 2 and "at least 8 characters" in short.output
