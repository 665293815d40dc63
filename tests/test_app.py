"""The app factory, start page, health endpoint, login and error pages."""

from __future__ import annotations

from tryggkarta.store import AuditLog


def test_healthz(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok"
    assert response.json["database"] == db.dialect


def test_start_page_is_swedish_with_english_switch(client):
    page = client.get("/")
    assert page.status_code == 200
    assert b'<html lang="sv">' in page.data
    assert "Hoppa till innehållet".encode() in page.data
    english = client.get("/?lang=en")
    assert b'<html lang="en">' in english.data
    assert b"Skip to content" in english.data


def test_login_logout_and_audit(client, auth, db):
    auth.login("police")
    page = client.get("/")
    assert b"Inloggad som" in page.data
    auth.logout()
    page = client.get("/")
    assert b"Logga in" in page.data
    with db.session() as s:
        assert s.query(AuditLog).filter_by(action="login").count() == 1


def test_wrong_password(client, auth, db):
    auth.login("planner")
    auth.logout()
    response = client.post("/login", data={"username": "test_planner", "password": "wrong"})
    assert response.status_code == 401
    assert "Fel användarnamn eller lösenord".encode() in response.data


def test_open_redirect_is_refused(client, auth):
    auth.login("police")
    auth.logout()
    from tests.conftest import PASSWORD

    response = client.post(
        "/login?next=https://evil.example/", data={"username": "test_police", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_not_found_page_and_json(client):
    page = client.get("/finns-inte")
    assert page.status_code == 404
    assert b"Sidan finns inte" in page.data
    api = client.get("/api/finns-inte")
    assert api.status_code == 404
    assert api.is_json


def test_security_headers_keep_assets_local(client):
    headers = client.get("/").headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "tile.openstreetmap.org" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_csrf_is_enforced(db):
    from tryggkarta.web import create_app

    app = create_app({"settings": db.settings, "TESTING": True})
    app.extensions["tryggkarta.db"] = db
    response = app.test_client().post("/login", data={"username": "x", "password": "y"})
    assert response.status_code == 400
    assert "Sessionen har gått ut".encode() in response.data


def test_demo_banner_says_data_is_synthetic(app, demo_db):
    page = app.test_client().get("/")
    assert b"syntetiska" in page.data
