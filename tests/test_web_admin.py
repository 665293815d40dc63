"""Administration: organisations, users (create, deactivate), the audit log with filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.test_web_security import audit_rows, login, token_for, user
from tryggkarta.services import accounts
from tryggkarta.store import AuditLog, Organisation, User


@pytest.fixture
def db(sqlite_db):
    return sqlite_db


def test_only_admin(client, auth) -> None:
    auth.login("municipality")
    assert client.get("/admin/").status_code == 403
    assert client.post("/admin/organisationer", data={"name": "x"}).status_code == 403


def test_create_organisation_and_user_then_deactivate(client, auth, db) -> None:
    auth.login("admin")
    r = client.post(
        "/admin/organisationer",
        data={
            "name": "Polisen LPO Västra Skaraborg",
            "kind": "police",
            "municipality_code": "1495",
        },
    )
    assert r.status_code == 302
    with db.session() as s:
        org = s.scalar(select(Organisation).where(Organisation.kind == "police"))
        assert org.municipality_code == "1495"
        org_id = org.id
    r = client.post(
        "/admin/anvandare",
        data={
            "username": "kommunpolis",
            "password": "hemligt123",
            "role": "police",
            "organisation_id": str(org_id),
            "display_name": "<i>Kommunpolis</i>",
        },
    )
    assert r.status_code == 302
    html = client.get("/admin/").get_data(as_text=True)
    assert "Polisen LPO Västra Skaraborg" in html and "&lt;i&gt;Kommunpolis&lt;/i&gt;" in html
    with db.session() as s:
        user = s.scalar(select(User).where(User.username == "kommunpolis"))
        assert user.role == "police" and user.organisation_id == org_id
        uid = user.id
    assert client.post(f"/admin/anvandare/{uid}/aktiv", data={"active": "0"}).status_code == 302
    with db.session() as s:
        assert s.get(User, uid).active is False
    auth.logout()
    r = client.post("/login", data={"username": "kommunpolis", "password": "hemligt123"})
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("url", "data", "message"),
    [
        ("/admin/organisationer", {"name": " "}, "Organisationen behöver ett namn."),
        ("/admin/organisationer", {"name": "X", "municipality_code": "12"}, "fyra siffror"),
        (
            "/admin/anvandare",
            {"username": "a b", "password": "hemligt123", "role": "police"},
            "A username is",
        ),
        (
            "/admin/anvandare",
            {"username": "ab", "password": "kort", "role": "police"},
            "at least 8",
        ),
        (
            "/admin/anvandare",
            {"username": "ab", "password": "hemligt123", "role": "public"},
            "Unknown role",
        ),
    ],
)
def test_bad_admin_input_is_400(client, auth, url, data, message) -> None:
    auth.login("admin")
    r = client.post(url, data=data)
    assert r.status_code == 400 and message in r.get_data(as_text=True)


def test_admin_cannot_deactivate_self_and_unknown_user_is_404(client, auth, db) -> None:
    auth.login("admin")
    with db.session() as s:
        me = s.scalar(select(User.id).where(User.username == "test_admin"))
    assert client.post(f"/admin/anvandare/{me}/aktiv", data={"active": "0"}).status_code == 400
    assert client.post("/admin/anvandare/9999/aktiv", data={"active": "0"}).status_code == 404


def test_audit_log_filters(client, auth, db) -> None:
    now = datetime.now(UTC)
    with db.session() as s:
        s.add_all(
            [
                AuditLog(
                    at=now - timedelta(days=40),
                    username="polis",
                    role="police",
                    action="api_features",
                    layer="incidents",
                    detail="raw",
                    feature_count=120,
                ),
                AuditLog(
                    at=now - timedelta(days=2),
                    username="polis",
                    role="police",
                    action="view_lagesbild",
                    layer="incidents",
                    detail="raw",
                    feature_count=4,
                ),
                AuditLog(
                    at=now - timedelta(days=1),
                    username="grannsamverkan",
                    role="partner",
                    action="shared_map_view",
                    layer="survey",
                    detail="aggregated",
                ),
            ]
        )
    auth.login("admin")
    day = (now - timedelta(days=45)).date().isoformat()
    to = (now - timedelta(days=30)).date().isoformat()
    html = (
        client.get(f"/admin/logg?layer=incidents&detail=raw&from={day}&to={to}")
        .get_data(as_text=True)
        .split('<table class="audit">')[1]
    )
    assert "api_features" in html and "view_lagesbild" not in html and "120" in html
    html = client.get("/admin/logg?user=grannsamverkan").get_data(as_text=True)
    html = html.split('<table class="audit">')[1]
    assert "shared_map_view" in html and "api_features" not in html
    assert client.get("/admin/logg?from=igår").status_code == 400
    assert client.get(f"/admin/logg?from={to}&to={day}").status_code == 400


def test_admin_tokens_page_revokes_and_logs(app, db) -> None:
    """Measured: API tokens could not be revoked."""
    user(db, "admin")
    user(db, "police")
    token = token_for(db, "test_police", "qgis")
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/layers/incidents/features", headers=bearer).get_json()["detail"] == "raw"
    admin = app.test_client()
    login(admin, "test_admin")
    page = admin.get("/admin/nycklar")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "qgis" in html and "test_police" in html
    assert token not in html
    assert "giltig" in html and "Senast använd" in html
    with db.session() as s:
        tid = accounts.find_tokens(s, accounts.get_user(s, "test_police"))[0].id
    r = admin.post(f"/admin/nycklar/{tid}/aterkalla")
    assert r.status_code == 302
    assert "återkallad" in admin.get("/admin/nycklar").get_data(as_text=True)
    assert api.get("/api/layers/incidents/features", headers=bearer).status_code == 401
    [row] = audit_rows(db, "admin_revoke_token")
    assert row.username == "test_admin" and row.extra["token_name"] == "qgis"
    assert admin.post("/admin/nycklar/99999/aterkalla").status_code == 404
    police = app.test_client()
    login(police, "test_police")
    assert police.get("/admin/nycklar").status_code == 403
    assert police.post(f"/admin/nycklar/{tid}/aterkalla").status_code == 403


def test_admin_logs_a_user_out_everywhere(app, db) -> None:
    user(db, "admin")
    uid = user(db, "police")
    phone, laptop, admin = app.test_client(), app.test_client(), app.test_client()
    login(phone, "test_police")
    login(laptop, "test_police")
    login(admin, "test_admin")
    page = admin.get("/admin/").get_data(as_text=True)
    assert "Logga ut överallt" in page and "Inloggningar" in page
    assert admin.post(f"/admin/anvandare/{uid}/utloggning").status_code == 302
    assert phone.get("/import/").status_code == 302 and laptop.get("/import/").status_code == 302
    assert admin.get("/admin/").status_code == 200  # the admin's own session is untouched
    [row] = audit_rows(db, "admin_end_sessions")
    assert row.extra == {"username": "test_police", "sessions_ended": 2}
    assert admin.post("/admin/anvandare/99999/utloggning").status_code == 404
    assert phone.post(f"/admin/anvandare/{uid}/utloggning").status_code == 302  # to login
