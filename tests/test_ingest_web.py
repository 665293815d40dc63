"""The import pages and the JSON endpoint (SQLite only: the engine does not matter here)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.test_web_security import audit_rows, login, make_app, token_for, user
from tryggkarta.store import count

DATA = Path(__file__).parent / "data" / "ingest"
HEADER = "Datum;Kategori;Beskrivning;Latitud;Longitud\n"


@pytest.fixture
def web(sqlite_app, sqlite_db, tmp_path):
    from tests.conftest import AuthActions

    sqlite_app.extensions["tryggkarta.settings"] = sqlite_db.settings.with_overrides(
        instance_path=str(tmp_path)
    )
    client = sqlite_app.test_client()
    return sqlite_app, client, AuthActions(client, sqlite_db), sqlite_db


def upload(client, content: bytes, name: str = "est.csv", url: str = "/import/preview", **form):
    data = {"layer": "incidents", "file": (io.BytesIO(content), name), **form}
    headers = {"Authorization": f"Bearer {API_TOKENS[-1]}"} if url.startswith("/api/") else {}
    return client.post(url, data=data, content_type="multipart/form-data", headers=headers)


#: The newest token made by :func:`api_login` (the JSON import takes a token, not a cookie).
API_TOKENS: list[str] = []


def api_login(auth, db, role: str) -> str:
    """Log in as ``role`` (for the pages) and make an API token of the same user."""
    from tryggkarta.services.accounts import create_token, get_user

    auth.login(role)
    with db.session() as s:
        token = create_token(s, get_user(s, f"test_{role}"), "test")
    API_TOKENS.append(token)
    return token


def test_roles(web) -> None:
    _app, client, auth, _db = web
    assert client.get("/import/").status_code == 302  # to login
    auth.login("partner")
    assert client.get("/import/").status_code == 403
    auth.logout()
    auth.login("planner")
    page = client.get("/import/")
    assert page.status_code == 200 and "Förhandsgranska" in page.get_data(as_text=True)


def test_preview_then_confirm(web, tmp_path: Path) -> None:
    _app, client, auth, db = web
    auth.login("police")
    body = (
        HEADER + "2021-02-22;Brand;<script>alert('x')</script>;58,3862;13,438\n"
        "2021-02-22;Brand;bad;abc;13,438\n"
        "2021-02-22;Brand;Åsgatan;58,3862;13,438\n"
    ).encode("cp1252")
    page = upload(client, body)
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "<script>alert" not in html and "&lt;script&gt;alert(" in html
    assert (
        "cp1252" in html and "Teckenkodning" in html and "Avvisade rader" in html and "<svg" in html
    )
    assert count(db, "incidents") == 0
    uploads = list((tmp_path / "uploads").iterdir())
    token = next(p.stem for p in uploads if p.suffix == ".note")
    done = client.post("/import/confirm", data={"token": token})
    assert done.status_code == 200 and count(db, "incidents") == 2
    assert not list((tmp_path / "uploads").iterdir())
    assert client.post("/import/confirm", data={"token": token}).status_code == 410
    assert client.post("/import/confirm", data={"token": "../../etc/passwd"}).status_code == 400


def test_rejected_rows_download_escapes_formulas(web) -> None:
    _app, client, auth, db = web
    api_login(auth, db, "municipality")
    body = (
        HEADER + "2021-02-22;Brand;ok;58,3862;13,438\n2021-02-22;Brand;x;=1+2;13,438\n"
    ).encode()
    report = upload(client, body, url="/api/import/incidents").get_json()
    assert report["rows_imported"] == 1 and report["rows_rejected"] == 1
    csv_text = client.get(f"/import/rejected/{report['dataset_id']}.csv").get_data(as_text=True)
    assert "'=1+2" in csv_text and "Avvisade" not in csv_text


def test_api_dry_run_and_bad_input(web) -> None:
    _app, client, auth, db = web
    token = api_login(auth, db, "police")
    dry = client.post(
        "/api/import/incidents?dry_run=1",
        data={"file": (open(DATA / "polisen_dump_a.json", "rb"), "p.json")},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert dry.status_code == 200, dry.get_json()
    assert dry.get_json()["dry_run"] and dry.get_json()["rows_imported"] == 3
    assert count(db, "incidents") == 0
    bad = upload(client, b"", url="/api/import/incidents")
    assert bad.status_code == 400 and bad.get_json()["code"] == "empty_file"
    assert upload(client, b"x", url="/api/import/nosuchlayer").status_code == 404


def test_upload_limit_gives_413_before_reading(web) -> None:
    app, client, auth, db = web
    auth.login("police")
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = upload(client, HEADER.encode() + b"2021-02-22;Brand;x;58,3862;13,438\n" * 200)
    assert response.status_code == 413
    assert count(db, "incidents") == 0


def test_bad_file_shows_swedish_message(web) -> None:
    _app, client, auth, _db = web
    auth.login("police")
    page = upload(client, b"\x00\x01\x02\x03" * 300)
    assert page.status_code == 400 and "binärdata" in page.get_data(as_text=True)


def test_every_ingest_error_code_has_a_swedish_sentence() -> None:
    """Each ``bad(message, code)`` in tryggkarta/ingest has a Swedish sentence for the web page."""
    import ast
    from pathlib import Path as _Path

    from tryggkarta.web.imports import ERRORS_SV

    root = _Path(__file__).resolve().parents[1] / "tryggkarta" / "ingest"
    codes = set()
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "bad"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
            ):
                codes.add(node.args[1].value)
    assert len(codes) > 20
    assert not codes - set(ERRORS_SV), sorted(codes - set(ERRORS_SV))


def _import_with_rejects(app, db, username: str) -> int:
    token = token_for(db, username, "import")
    body = (
        HEADER + "2021-02-22;Brand;ok;58,3862;13,438\n2021-02-22;Brand;Åsgatan 3;abc;13,4\n"
    ).encode()
    r = app.test_client().post(
        "/api/import/incidents",
        data={"file": (io.BytesIO(body), "est.csv")},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.get_json()
    return r.get_json()["dataset_id"]


def test_rejected_rows_only_for_importer_org_and_admin_and_audited(tmp_path, sqlite_db) -> None:
    """Measured: any import role could download any dataset's rejected rows, unlogged."""
    db = sqlite_db
    app = make_app(db, tmp_path)
    user(db, "planner", "importer", org="Mariestads kommun")
    user(db, "police", "same_org_police", org="Mariestads kommun")
    user(db, "planner", "same_org_planner", org="Mariestads kommun")
    user(db, "police", "other_police", org="Polisen Skövde")
    user(db, "municipality", "other_muni", org="Töreboda kommun")
    user(db, "admin", "boss", org="IT")
    dataset_id = _import_with_rejects(app, db, "importer")
    url = f"/import/rejected/{dataset_id}.csv"

    def fetch(username: str):
        client = app.test_client()
        assert login(client, username).status_code == 302
        return client.get(url, environ_base={"REMOTE_ADDR": "192.0.2.44"})

    for name in ("importer", "same_org_police", "boss"):
        r = fetch(name)
        assert r.status_code == 200, name
        assert "3,Latitud,abc" in r.get_data(as_text=True)
        assert r.headers["Cache-Control"] == "no-store"
    for name in ("other_police", "other_muni", "same_org_planner"):
        assert fetch(name).status_code == 403, name

    rows = audit_rows(db, "download_rejected_rows")
    assert [r.username for r in rows] == ["importer", "same_org_police", "boss"]
    assert all(
        r.extra["dataset_id"] == dataset_id
        and r.feature_count == 1
        and r.ip == "192.0.2.44"
        and r.detail == "raw"
        for r in rows
    )
    refused = audit_rows(db, "download_refused")
    assert sorted(r.username for r in refused) == sorted(
        ["other_police", "other_muni", "same_org_planner"]
    )
