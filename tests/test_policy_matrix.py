"""Every route × every role × session and bearer token: allowed or denied exactly as
:mod:`tryggkarta.policy` says, and no sensitive value in the body of a role that may not see it.

The routes come from ``app.url_map``, so a new route is walked the day it is added; a route
without a policy entry fails :func:`test_every_route_has_a_policy_entry`.
"""

from __future__ import annotations

import re
from itertools import product

import numpy as np
import pytest
from sqlalchemy import select

from tests.demodata import demo_into
from tests.test_services_measures import demo_measure
from tryggkarta import policy
from tryggkarta.demo import COMMENTS, DEMO_PASSWORD
from tryggkarta.domain import Detail, Role
from tryggkarta.services.accounts import create_token
from tryggkarta.services.public import allowed as collection_allowed
from tryggkarta.store import (
    ApiToken,
    Dataset,
    Incident,
    Project,
    Promise,
    PromiseActivity,
    SharedMap,
    User,
    layer_frame,
)

#: Demo users per role; the public is anonymous.
USERS = {
    "admin": "admin",
    "police": "polis",
    "municipality": "kommun",
    "planner": "planerare",
    "partner": "grannsamverkan",
    "reporter": "fastighet",
}
ROLES = ["public", *USERS]
#: Alternatives for URL arguments; a rule expands into one URL per combination.
ALTERNATIVES = {
    "layer": ["incidents", "survey"],
    "method": ["patrol", "design", "gistar"],
    "name": ["incidents", "survey_responses", "patrol_hotspots", "incident_cells", "survey_cells"],
    "fid": ["1"],
    "package": ["leaflet"],
    "path": ["leaflet.js"],
    "filename": ["css/app.css"],
}
#: POST routes not replayed for every role (they end the session the loop relies on).
SKIP_POST = {"auth.logout", "auth.login", "shared.delete"}  # delete: tests/test_params.py
TOKEN_ONLY = {"imports.api_import"}
SESSION_ONLY = {"auth.change_password"}
DEMO_MARKER = "(syntetisk demohändelse)"  # in every demo incident description


def test_every_route_has_a_policy_entry(sqlite_app) -> None:
    endpoints = {rule.endpoint for rule in sqlite_app.url_map.iter_rules()}
    missing = sorted(endpoints - set(policy.ROUTES))
    assert not missing, f"routes without a policy entry (add them to policy.ROUTES): {missing}"


def test_a_route_unknown_to_the_policy_is_refused(sqlite_app) -> None:
    sqlite_app.add_url_rule("/hemlig", "hemlig", lambda: "secret")
    with sqlite_app.test_client() as c:
        assert c.get("/hemlig").status_code == 403


def test_policy_tables_are_consistent() -> None:
    for role in Role:
        assert set(policy.PERMISSIONS[role]) == {"incidents", "survey", "projects", "areas"}
    # raw sensitive layers: staff only
    for role in Role:
        raw = policy.detail(role.value, "incidents") is Detail.RAW
        assert raw == (role.value in ("admin", "police", "municipality"))
        assert policy.can(role.value, "patrol") == raw
    assert policy.detail(None, "survey") is Detail.AGGREGATED
    assert policy.detail("no-such-role", "incidents") is Detail.AGGREGATED  # treated as public


@pytest.fixture
def world(app, db):
    """The demo data, a shared map with a link, a token per role and a revoked token."""
    demo_into(db)
    tokens: dict[str, str] = {}
    with db.session() as s:
        for role, username in USERS.items():
            user = s.scalar(select(User).where(User.username == username))
            tokens[role] = create_token(s, user, f"matrix-{role}")
        police = s.scalar(select(User).where(User.username == "polis"))
        revoked = create_token(s, police, "revoked")
        s.flush()
        row = s.scalars(select(ApiToken).where(ApiToken.name == "revoked")).one()
        row.revoked = True
        kommun = s.scalar(select(User).where(User.username == "kommun"))
        shared = SharedMap(
            name="Matris",
            owner_id=kommun.id,
            config={"layers": ["incidents", "survey"], "start": "2020-01-01"},
        )
        s.add(shared)
        s.flush()
        from tryggkarta.services.sharing import create_link

        link = create_link(shared, 7)
        throwaway = User(username="slask", password_hash="x", role="partner", active=False)
        s.add(throwaway)
        s.flush()
        create_token(s, throwaway, "slask")  # the one the admin routes may revoke
        throwaway_token = s.scalars(select(ApiToken).where(ApiToken.name == "slask")).one().id
        values = {
            "project_id": str(s.scalar(select(Project.id).limit(1))),
            "map_id": str(shared.id),
            "token": link,
            "dataset_id": str(s.scalar(select(Dataset.id).where(Dataset.layer == "incidents"))),
            "user_id": str(throwaway.id),
            "token_id": str(throwaway_token),
            "measure_id": str(demo_measure(s)),
            # a form report of the reporter's own organisation (Skarabo), the demo promise
            "report_id": str(
                s.scalar(select(Incident.id).where(Incident.dedup_key == "form:demo-form-0000"))
            ),
            "promise_id": str(s.scalar(select(Promise.id).limit(1))),
            "activity_id": str(s.scalar(select(PromiseActivity.id).limit(1))),
        }
    inc = layer_frame(db, "incidents", columns=["x", "y"], geometry=False).head(25)
    from tryggkarta.geo import to_wgs84

    lon, lat = to_wgs84(inc["x"].to_numpy(float), inc["y"].to_numpy(float), db.srid)
    points = [f"{a:.6f},{b:.6f}" for a, b in zip(np.round(lon, 6), np.round(lat, 6), strict=True)]
    comments = [c for texts in COMMENTS.values() for c in texts]
    return {
        "tokens": tokens,
        "revoked": revoked,
        "values": values,
        "points": points,
        "comments": comments,
    }


def _urls(app, values: dict[str, str]) -> list[tuple[str, str, str, dict[str, str]]]:
    out = []
    for rule in app.url_map.iter_rules():
        args = sorted(rule.arguments)
        choices = [ALTERNATIVES.get(a, [values.get(a, "1")]) for a in args]
        for combo in product(*choices):
            kwargs = dict(zip(args, combo, strict=True))
            url = rule.build(kwargs, append_unknown=False)[1]
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if method == "POST" and rule.endpoint in SKIP_POST:
                    continue
                out.append((rule.endpoint, method, url, kwargs))
    return out


def _expected(role: str, endpoint: str, method: str, kwargs: dict[str, str]) -> bool:
    if not policy.route_allowed(role, endpoint):
        return False
    if endpoint == "projects.check" and method == "POST":
        return policy.can(role, policy.Action.PROJECTS_EDIT)
    if endpoint in ("shared.view", "shared.thumbnail", "shared.new_link", "shared.delete"):
        # the matrix's map belongs to the municipality user and is shared with nobody
        return role in ("municipality", "admin")
    if endpoint == "api.hotspot":
        return policy.hotspot_detail(role, kwargs["method"]) is not Detail.HIDDEN
    if endpoint in ("ogc.one_collection", "ogc.items", "ogc.item"):
        return collection_allowed(kwargs["name"], role)
    return True


def _denied(response) -> bool:
    if response.status_code in (401, 403):
        return True
    return response.status_code == 302 and "/login" in response.headers.get("Location", "")


def _leaks(role: str, body: str, world: dict) -> list[str]:
    found = []
    if policy.detail(role, "incidents") is not Detail.RAW:
        if DEMO_MARKER in body:
            found.append("incident description")
        found += [f"point {p}" for p in world["points"] if p in body]
    if policy.detail(role, "survey") is not Detail.RAW:
        found += [f"comment {c!r}" for c in world["comments"] if c in body]
    return found


@pytest.mark.slow
def test_route_role_matrix(app, db, world) -> None:
    """Session logins and bearer tokens per role, a revoked token, and anonymous."""
    failures: list[str] = []
    urls = _urls(app, world["values"])
    modes = [("public", None, None)]
    for role, username in USERS.items():
        modes.append((role, "session", username))
        # A token stands for its user through the same policy on either engine: every role
        # on SQLite; on PostGIS the most and the least a token may do (time on 2 cores).
        if not db.is_postgis or role in ("admin", "partner"):
            modes.append((role, "token", world["tokens"][role]))
    modes.append(("revoked", "token", world["revoked"]))  # refused with 401 everywhere
    for role, mode, cred in modes:
        client = app.test_client()
        headers = {}
        if mode == "session":
            r = client.post("/login", data={"username": cred, "password": DEMO_PASSWORD})
            assert r.status_code == 302, (role, r.status_code)
        elif mode == "token":
            headers = {"Authorization": f"Bearer {cred}"}
        for endpoint, method, url, kwargs in urls:
            response = client.open(url, method=method, headers=headers, data={})
            what = f"{role}/{mode or 'anonymous'} {method} {url}"
            if response.status_code >= 500:
                failures.append(f"{what}: {response.status_code}")
                continue
            if role == "revoked":
                if response.status_code != 401 and endpoint != "static":
                    failures.append(f"{what}: {response.status_code}, a revoked token is 401")
                continue
            if mode == "token" and endpoint in SESSION_ONLY:
                if not _denied(response):  # a password is changed in a browser session
                    failures.append(f"{what}: {response.status_code}, session-only page")
                continue
            if mode == "session" and endpoint in TOKEN_ONLY and method == "POST":
                if not _denied(response):  # CSRF-exempt writes take a token, never a cookie
                    failures.append(f"{what}: {response.status_code}, token-only endpoint")
                continue
            if _expected(role, endpoint, method, kwargs):
                if _denied(response):
                    failures.append(f"{what}: denied ({response.status_code}), policy allows")
            elif not _denied(response):
                failures.append(f"{what}: {response.status_code}, policy denies")
            if method == "GET" and response.status_code == 200:
                body = response.get_data(as_text=True)
                failures += [f"{what}: leaks {leak}" for leak in _leaks(role, body, world)]
        if mode == "session":  # the account was not logged out by anything above
            assert client.get("/").status_code == 200
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures[:60])


def test_nav_shows_exactly_what_the_policy_allows(app, db) -> None:
    demo_into(db)
    items = {
        "lagesbild": "/lagesbild/",
        "projects": "/projekt/",
        "import": "/import/",
        "shared_maps": "/kartor/",
        "admin": "/admin/",
    }
    for role in ROLES:
        client = app.test_client()
        if role != "public":
            client.post("/login", data={"username": USERS[role], "password": DEMO_PASSWORD})
        html = client.get("/").get_data(as_text=True)
        nav = re.search(r'<ul class="nav">(.*?)</ul>', html, re.S).group(1)
        for action, href in items.items():
            assert (f'href="{href}"' in nav) == policy.can(role, action), (role, action)


#: URL arguments that name one record; a user outside its municipality gets what a missing id
#: gets (404), so ids reveal nothing of other municipalities (issue #16.1).
RECORD_ARGS = ("project_id", "measure_id", "promise_id", "activity_id", "campaign_id")


def test_records_of_another_municipality_answer_like_missing_ones(app, db, world) -> None:
    """Per scope: Göteborg's municipality user and planner walk every route that opens a
    demo (Skara) record by id, and get exactly the answer of an id that does not exist."""
    from datetime import date, timedelta

    from tryggkarta.services import survey as sv
    from tryggkarta.services.accounts import create_user, get_or_create_organisation

    with db.session() as s:
        campaign = sv.create_campaign(
            s,
            title="Matrisenkät",
            starts_on=date.today(),
            ends_on=date.today() + timedelta(days=7),
            municipality_code="1495",
            area_ids=[],
            questions={},
        )
        values = {**world["values"], "campaign_id": str(campaign.id), "fmt": "png"}
        get_or_create_organisation(s, "Göteborgs stad", "municipality", "1480")
        for username, role in (("gbg-kommun", "municipality"), ("gbg-plan", "planner")):
            create_user(s, username, DEMO_PASSWORD, role, organisation="Göteborgs stad")
    missing = {**{k: str(10**6) for k in RECORD_ARGS}, "fmt": "png"}
    rules = [r for r in app.url_map.iter_rules() if set(r.arguments) & set(RECORD_ARGS)]
    assert {a for r in rules for a in r.arguments} >= set(RECORD_ARGS)
    failures: list[str] = []
    walked = 0
    for username in ("gbg-kommun", "gbg-plan"):
        client = app.test_client()
        r = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
        assert r.status_code == 302
        for rule in rules:
            if not policy.route_allowed(
                "municipality" if username == "gbg-kommun" else "planner", rule.endpoint
            ):
                continue
            real = rule.build({a: values[a] for a in rule.arguments}, append_unknown=False)[1]
            fake = rule.build({a: missing[a] for a in rule.arguments}, append_unknown=False)[1]
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                got = client.open(real, method=method, data={})
                want = client.open(fake, method=method, data={})
                walked += 1
                if got.status_code != want.status_code or got.status_code in (200, 302, 303):
                    failures.append(
                        f"{username} {method} {real}: {got.status_code}, a missing id "
                        f"{want.status_code}"
                    )
    assert walked >= 20 and not failures, f"{walked} walked\n" + "\n".join(failures)
