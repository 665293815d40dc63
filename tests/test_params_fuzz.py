"""Hostile query parameters on every GET route, as every role: never a 5xx.

The parameter names come from two places: a fixed list of the names the app documents, and
the names each route actually reads (recorded by wrapping ``request.args``), so a route that
starts reading a new parameter is fuzzed without anyone editing this file.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Request
from werkzeug.datastructures import ImmutableMultiDict

from tryggkarta.store import SharedMap

#: Names the app documents (maps/query.py, ogc.py, admin.py, lagesbild.py, i18n).
KNOWN = (
    "from",
    "to",
    "cat",
    "weekday",
    "hour",
    "bbox",
    "cell",
    "lang",
    "limit",
    "offset",
    "week",
    "key",
    "page",
    "layers",
    "district",
    "user",
    "action",
    "layer",
    "detail",
    "buffer",
    "query",
    "next",
    "f",
    "datetime",
)

#: One valid value per name, so that a route reads as far as it can when its names are recorded.
VALID = {
    "from": "2025-01-01",
    "to": "2026-12-31",
    "cat": "klotter",
    "weekday": "4",
    "hour": "20",
    "bbox": "13.3,58.3,13.5,58.5",
    "cell": "250",
    "limit": "10",
    "offset": "0",
    "week": "2026-W10",
    "page": "1",
}

#: Hostile values by the kind of parameter they attack, and a few any parameter gets.
ANY = ("abc", "²", "٣٤", "a\nb", "\x00", "ö" * 300, "-5", "99999999999999999999999")
DATES = ("9999-12-31", "0000-01-01", "10000-01-01", "2025-02-30")
WEEKS = ("2026-W99", "0001-W01", "1900-W01")
NUMBERS = ("nan", "-inf", "1e309")
BOXES = ("13.3,58.3,13.5", "200,100,-200,-100", "nan,nan,nan,nan", "-inf,-inf,inf,inf")
#: The names whose kind is known; any other name gets one of each kind besides ``ANY``.
KINDS = {
    "from": DATES,
    "to": DATES,
    "datetime": (*DATES, "2025-01-01/..", "../9999-12-31"),
    "week": (*WEEKS, "9999-12-31"),
    "bbox": BOXES + NUMBERS,
}
UNKNOWN = ("9999-12-31", "2025-02-30", "2026-W99", "nan", "1e309", "13.3,58.3,13.5")


def hostile(name: str) -> tuple[str, ...]:
    """The hostile values a parameter called ``name`` is tried with."""
    return ANY + KINDS.get(name, UNKNOWN if name not in VALID else NUMBERS)


class _Recording(ImmutableMultiDict):
    """``request.args`` that remembers which names were asked for."""

    seen: set[str] = set()

    def _note(self, key: object) -> None:
        if isinstance(key, str):
            _Recording.seen.add(key)

    def get(self, key, default=None, type=None):  # noqa: A002, ANN001, ANN201
        self._note(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):  # noqa: A002, ANN001, ANN201
        self._note(key)
        return super().getlist(key, type)

    def __getitem__(self, key):  # noqa: ANN001, ANN204
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._note(key)
        return super().__contains__(key)


class _RecordingRequest(Request):
    parameter_storage_class = _Recording


def _paths(app, shared_id: int) -> list[str]:
    """Every GET route with its URL variables filled in with values that exist."""
    fill = {
        "layer": "incidents",
        "method": "gistar",
        "map_id": str(shared_id),
        "token": "x" * 43,
        "project_id": "1",
        "dataset_id": "1",
        "name": "incident_cells",
        "fid": "1",
        "package": "leaflet",
        "path": "leaflet.js",
        "filename": "js/map.js",
        "user_id": "1",
        "token_id": "1",
        "campaign_id": "1",
        "fmt": "png",
        "slug": "x" * 12,
        "z": "1",
        "x": "0",
        "y": "0",
        "measure_id": str(app.config["FUZZ_MEASURE_ID"]),
        "report_id": "1",
        "promise_id": "1",
        "activity_id": "1",
    }
    out = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in ("static", "assets.vendor"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: fill[m.group(1)], rule.rule)
        out.append(path)
    return sorted(set(out))


@pytest.fixture
def fuzz_app(sqlite_db):
    from tests.demodata import demo_into
    from tryggkarta.web import create_app

    demo_into(sqlite_db)
    app = create_app({"settings": sqlite_db.settings, "TESTING": True, "WTF_CSRF_ENABLED": False})
    app.extensions["tryggkarta.db"] = sqlite_db
    app.request_class = _RecordingRequest
    with sqlite_db.session() as s:
        # a map saved before dates were checked: must stay viewable (and deletable)
        shared = SharedMap(
            name="Gammal karta",
            owner_id=None,
            config={"layers": ["incidents"], "start": "0000-01-01", "end": "9999-12-31"},
            shared_roles=["police", "municipality", "planner", "partner"],
            shared_orgs=[],
            public=True,
            created_at=datetime.now(UTC),
        )
        s.add(shared)
        s.flush()
        app.config["FUZZ_SHARED_ID"] = shared.id
        from tests.test_services_measures import demo_measure

        app.config["FUZZ_MEASURE_ID"] = demo_measure(s)
    return app


#: Names that are free text by design (a filter value or a search): only text that could
#: break something, not every number (each accepted value renders a whole page).
TEXT_NAMES = {"district", "lang", "user", "action", "layer", "detail", "next", "query"}
TEXT = ("a\nb", "\x00", "ö" * 300, "<script>", "9999-12-31")

#: The staff roles between the anonymous visitor and the admin (both of whom get every value
#: above) see the same routes at one of the same two detail levels: police and municipality
#: raw like the admin, planner and partner aggregated like the public. Each pair shares one
#: of each kind, half to each role: a date past the calendar and not a number, a number past
#: any integer and a NUL byte; the free-text values likewise (time on 2 cores: each value
#: renders a whole page).
HALVES = (
    (("9999-12-31", "nan"), TEXT[0::2]),
    (("99999999999999999999999", "\x00"), TEXT[1::2]),
)


@pytest.mark.parametrize(
    ("role", "values", "texts"),
    [
        (None, None, TEXT),
        ("admin", None, TEXT),
        ("police", *HALVES[0]),
        ("municipality", *HALVES[1]),
        ("planner", *HALVES[1]),
        ("partner", *HALVES[0]),
    ],
)
def test_no_hostile_parameter_gives_a_server_error(
    fuzz_app, sqlite_db, role, values, texts
) -> None:
    from tests.conftest import AuthActions

    client = fuzz_app.test_client()
    if role:
        AuthActions(client, sqlite_db).login(role)
    failures = []
    for path in _paths(fuzz_app, fuzz_app.config["FUZZ_SHARED_ID"]):
        _Recording.seen = set()
        first = client.get(path)
        if first.status_code >= 500:
            failures.append((path, "", "", first.status_code))
        if first.status_code < 400:
            client.get(path, query_string=VALID)
        names = sorted(_Recording.seen)
        for name in names:
            for value in texts if name in TEXT_NAMES else (values or hostile(name)):
                response = client.get(path, query_string={name: value})
                if response.status_code >= 500:
                    failures.append((path, name, value[:20], response.status_code))
                elif response.status_code == 400:
                    body = response.get_data(as_text=True)
                    assert "Traceback" not in body and "/work/" not in body, (path, name)
    assert not failures, failures[:40]


#: Valid values for form fields, so that a POST route reads as far as it can.
VALID_FORM = {
    "name": "Fuzz",
    "username": "fuzz_user",
    "password": "fuzz-password-123",
    "role": "planner",
    "text": "Patrull",
    "week": "2026-W10",
    "hotspot_key": "E1_2",
    "days": "7",
    "layers": "incidents",
    "kind": "municipality",
    "code": "1495",
    "buffer": "100",
}


def _post_paths(app, shared_id: int) -> list[str]:
    fill = {
        "map_id": str(shared_id),
        "project_id": "1",
        "user_id": "1",
        "token_id": "1",
        "layer": "incidents",
        "campaign_id": "1",
        "slug": "x" * 12,
        "measure_id": str(app.config["FUZZ_MEASURE_ID"]),
        "report_id": "1",
        "promise_id": "1",
        "activity_id": "1",
    }
    out = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.endpoint in ("auth.login", "auth.logout"):
            continue
        out.append(re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: fill[m.group(1)], rule.rule))
    return sorted(set(out))


def test_no_hostile_form_value_gives_a_server_error(fuzz_app, sqlite_db) -> None:
    from tests.conftest import AuthActions

    client = fuzz_app.test_client()
    AuthActions(client, sqlite_db).login("admin")
    failures = []
    for path in _post_paths(fuzz_app, fuzz_app.config["FUZZ_SHARED_ID"]):
        _Recording.seen = set()
        client.post(path, data={})
        client.post(path, data=VALID_FORM)
        for name in sorted(_Recording.seen):
            for value in hostile(name):
                response = client.post(path, data={**VALID_FORM, name: value})
                if response.status_code >= 500:
                    failures.append((path, name, value[:20], response.status_code))
    assert not failures, failures[:40]
