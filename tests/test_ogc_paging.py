"""OGC API items of raw collections: keyset paging with signed cursors, a capped
numberMatched, bbox and datetime in SQL, offset within a bound (issue #16.5). Both engines."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from bulk_rows import X0, Y0, incident_frame
from sqlalchemy import select

from tryggkarta.store import AuditLog, Dataset, Incident, insert_layer, paging

URL = "/ogc/collections/incidents/items"


def _headers(db) -> dict[str, str]:
    from tryggkarta.services.accounts import create_token, create_user

    with db.session() as s:
        analyst = create_user(s, "analytiker", "ett-langt-losenord", "police")
        return {"Authorization": f"Bearer {create_token(s, analyst, 'qgis')}"}


def _store(db, frame: gpd.GeoDataFrame, name: str = "paging") -> None:
    with db.session() as s:
        ds = Dataset(layer="incidents", name=name, checksum=name)
        s.add(ds)
        s.flush()
        insert_layer(s, "incidents", frame, ds.id)


def _tied(n: int) -> gpd.GeoDataFrame:
    """``n`` incidents at only five distinct times (ties of dozens of rows per time)."""
    frame = incident_frame(n, seed=11)
    times = pd.Timestamp("2025-03-03T10:00:00", tz="UTC") + pd.to_timedelta(
        np.arange(n) % 5, unit="h"
    )
    frame["occurred_at"] = times
    return frame


def _path(href: str) -> str:
    parts = urlsplit(href)
    return f"{parts.path}?{parts.query}"


def _walk(client, first: str, headers: dict[str, str]) -> tuple[list[int], list[dict]]:
    """Follow ``next`` links from ``first``; every feature id and every page body."""
    ids: list[int] = []
    bodies = []
    url: str | None = first
    while url is not None:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        body = response.json
        bodies.append(body)
        ids += [f["id"] for f in body["features"]]
        assert body["numberReturned"] == len(body["features"])
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = _path(nxt[0]) if nxt else None
        assert len(bodies) < 200, "paging does not end"
    return ids, bodies


def _all_ids(db, where=None) -> list[int]:
    stmt = select(Incident.id).order_by(Incident.id)
    if where is not None:
        stmt = stmt.where(where)
    with db.session() as s:
        return list(s.scalars(stmt))


def _cursor(body: dict) -> str:
    (nxt,) = [link["href"] for link in body["links"] if link["rel"] == "next"]
    return parse_qs(urlsplit(nxt).query)["cursor"][0]


def test_next_links_return_every_row_once_with_ties_in_time(client, db):
    _store(db, _tied(230))
    headers = _headers(db)
    ids, bodies = _walk(client, f"{URL}?limit=17", headers)
    assert len(ids) == len(set(ids)) == 230
    assert ids == _all_ids(db)  # id order, nothing skipped or repeated across the ties
    assert [len(b["features"]) for b in bodies] == [17] * 13 + [9]
    assert all(b["numberMatched"] == 230 for b in bodies)
    links = [link["href"] for b in bodies[:-1] for link in b["links"] if link["rel"] == "next"]
    assert all("cursor=" in h and "limit=17" in h and "offset=" not in h for h in links)
    with db.session() as s:
        audited = [r.feature_count for r in s.query(AuditLog).filter_by(detail="ogc:incidents")]
    assert sum(audited) == 230 and len(audited) == 14


def test_real_polisen_events_page_through_bbox_and_datetime(client, db, shared_data):
    """The real Polisen events of four municipalities (2,195 rows; many share a place and a
    time): paging with a bbox and a year interval returns exactly the rows SQL selects."""
    from tryggkarta.geo import from_wgs84
    from tryggkarta.ingest import import_file

    import_file(
        db, "incidents", shared_data / "polisen/polisen_events_skara_ystad_umea_enkoping.csv"
    )
    headers = _headers(db)
    bbox = (13.0, 57.5, 14.5, 59.0)  # Skara and around, not Umeå, Ystad or Enköping
    xs, ys = from_wgs84(
        [bbox[0], bbox[2], bbox[0], bbox[2]], [bbox[1], bbox[1], bbox[3], bbox[3]], 3006
    )
    start = datetime(2023, 1, 1, tzinfo=UTC)
    end = datetime(2024, 1, 1, tzinfo=UTC)
    c = Incident.__table__.c
    expected = _all_ids(
        db,
        (c.x >= min(xs))
        & (c.x <= max(xs))
        & (c.y >= min(ys))
        & (c.y <= max(ys))
        & (c.occurred_at >= start)
        & (c.occurred_at <= end),
    )
    assert 10 < len(expected) < len(_all_ids(db)) / 2
    query = f"bbox={','.join(map(str, bbox))}&datetime=2023-01-01T00:00:00Z/2024-01-01T00:00:00Z"
    ids, bodies = _walk(client, f"{URL}?limit=10&{query}", headers)
    assert ids == expected
    assert bodies[0]["numberMatched"] == len(expected)
    for body in bodies:
        for f in body["features"]:
            assert "2023-01-01" <= f["properties"]["occurred_at"][:10] <= "2024-01-01"
    for link in bodies[0]["links"]:
        if link["rel"] == "next":
            assert "bbox=" in link["href"] and "datetime=" in link["href"]


def test_datetime_instants_intervals_and_open_ends(client, db):
    _store(db, _tied(50))  # 10 rows at each of 10:00, 11:00, … 14:00 UTC on 2025-03-03
    headers = _headers(db)

    def matched(value: str) -> int:
        response = client.get(f"{URL}?limit=100&datetime={value}", headers=headers)
        assert response.status_code == 200, response.json
        return response.json["numberMatched"]

    assert matched("2025-03-03T11:00:00Z") == 10  # an instant
    assert matched("2025-03-03T12:00:00%2B01:00") == 10  # the same instant, another offset
    assert matched("2025-03-03T11:00:00Z/2025-03-03T13:00:00Z") == 30  # both ends included
    assert matched("../2025-03-03T11:00:00Z") == 20
    assert matched("2025-03-03T13:30:00Z/..") == 10
    assert matched("2025-03-03/2025-03-03") == 50  # a local calendar day
    assert matched("2025-03-04T00:00:00Z/..") == 0


@pytest.mark.parametrize(
    "value",
    [
        "2025-03-03T11:00:00",  # no time zone
        "yesterday",
        "2025-03-03T13:00:00Z/2025-03-03T11:00:00Z",  # ends before it starts
        "../..",
        "..",
        "2025-01-01T00:00:00Z/2025-02-01T00:00:00Z/2025-03-01T00:00:00Z",
        "9999-01-01T00:00:00Z",
        "2025-02-30",
        "2025-03-03T11:00:00Z" + "0" * 60,
    ],
)
def test_bad_datetime_is_400_with_a_sentence(client, db, value):
    headers = _headers(db)
    response = client.get(f"{URL}?datetime={value}", headers=headers)
    assert response.status_code == 400, value
    assert "datetime" in response.json["description"]


def test_tampered_and_foreign_cursors_are_400(client, db, app):
    _store(db, _tied(30))
    headers = _headers(db)
    first = client.get(f"{URL}?limit=10", headers=headers).json
    cursor = _cursor(first)
    assert client.get(f"{URL}?limit=10&cursor={cursor}", headers=headers).status_code == 200

    from itsdangerous import URLSafeSerializer

    other_key = URLSafeSerializer("another-secret", salt="tryggkarta.ogc.items.cursor")
    own_key = URLSafeSerializer(db.settings.secret_key, salt="tryggkarta.ogc.items.cursor")
    forged = [
        cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB"),  # signature changed
        cursor.split(".")[0] + ".x",
        "",
        "5",
        "x" * 2100,
        other_key.dumps([["incidents", "", ""], 5]),  # signed elsewhere
        own_key.dumps([["incidents", "", ""], "5"]),  # a key that is not a number
        own_key.dumps({"last": 5}),
    ]
    for bad in forged:
        response = client.get(f"{URL}?limit=10&cursor={bad}", headers=headers)
        assert response.status_code == 400, bad
        assert "cursor" in response.json["description"]
    # a cursor only pages the filters it was given for
    moved = client.get(
        f"{URL}?limit=10&cursor={cursor}&bbox=13.42,58.37,13.44,58.39", headers=headers
    )
    assert moved.status_code == 400 and "bbox" in moved.json["description"]
    other = client.get(f"/ogc/collections/survey_responses/items?cursor={cursor}", headers=headers)
    assert other.status_code == 400
    both = client.get(f"{URL}?limit=10&offset=10&cursor={cursor}", headers=headers)
    assert both.status_code == 400 and "offset" in both.json["description"]
    public = client.get(f"/ogc/collections/incident_cells/items?cursor={cursor}")
    assert public.status_code == 400 and public.json["description"]


def test_limits_and_offset_within_its_bound(client, db):
    _store(db, _tied(40))
    headers = _headers(db)
    ids = _all_ids(db)
    for query in ("limit=0", "limit=10001", "offset=100001", "offset=-1", "limit=1.5"):
        response = client.get(f"{URL}?{query}", headers=headers)
        assert response.status_code == 400, query
        assert response.json["description"]
    # offset still works (old clients); its next link continues by key
    page = client.get(f"{URL}?limit=15&offset=20", headers=headers).json
    assert [f["id"] for f in page["features"]] == ids[20:35]
    assert page["numberMatched"] == 40
    rest, _ = _walk(client, _path(page["links"][-1]["href"]), headers)
    assert rest == ids[35:]
    beyond = client.get(f"{URL}?limit=15&offset=100000", headers=headers).json
    assert beyond["features"] == [] and beyond["numberMatched"] == 40
    assert not [link for link in beyond["links"] if link["rel"] == "next"]


def test_number_matched_is_left_out_above_the_cap(client, db, monkeypatch):
    """Above the count cap the number is unknown (not counted): it is left out, as OGC API –
    Features allows, and the next links still reach every row."""
    _store(db, _tied(60))
    monkeypatch.setattr(paging, "COUNT_CAP", 25)
    headers = _headers(db)
    ids, bodies = _walk(client, f"{URL}?limit=20", headers)
    assert ids == _all_ids(db)
    assert all("numberMatched" not in b for b in bodies)
    few = client.get(f"{URL}?limit=20&datetime=2025-03-03T10:00:00Z", headers=headers).json
    assert few["numberMatched"] == 12 and few["numberReturned"] == 12


def test_a_scoped_reader_pages_only_their_municipalities(client, db):
    """Cursor paging keeps the reader's municipality scope on every page."""
    frame = incident_frame(40, seed=5)
    frame["municipality_code"] = np.where(np.arange(40) % 4 == 0, "1495", "1471")
    _store(db, frame)
    from tryggkarta.services.accounts import create_user, get_or_create_organisation

    with db.session() as s:
        get_or_create_organisation(s, "Polisen Skara", "municipality", "1495")
        create_user(s, "skara", "ett-langt-losenord", "police", organisation="Polisen Skara")
    assert client.post(
        "/login", data={"username": "skara", "password": "ett-langt-losenord"}
    ).status_code in (302, 303)
    ids, bodies = _walk(client, f"{URL}?limit=3", {})
    assert ids == _all_ids(db, Incident.municipality_code == "1495")
    assert len(ids) == 10 and bodies[0]["numberMatched"] == 10


def test_survey_answers_page_by_key_too(client, demo_db):
    headers = _headers(demo_db)
    ids, bodies = _walk(client, "/ogc/collections/survey_responses/items?limit=400", headers)
    assert len(ids) == len(set(ids)) == 900 == bodies[0]["numberMatched"]
    assert ids == sorted(ids)


def test_keyset_page_in_the_store(db):
    """The store function on its own: after/offset/limit and the capped count."""
    from tryggkarta.store import Filters

    _store(db, _tied(12))
    ids = _all_ids(db)
    cols = ["occurred_at", "category"]
    one = paging.keyset_page(db, "incidents", Filters(), cols, limit=5)
    assert list(one.frame["id"]) == ids[:5] and one.more and one.matched == 12
    two = paging.keyset_page(db, "incidents", Filters(), cols, limit=5, after=one.last_id)
    assert list(two.frame["id"]) == ids[5:10] and two.more
    end = paging.keyset_page(db, "incidents", Filters(), cols, limit=5, after=two.last_id)
    assert list(end.frame["id"]) == ids[10:] and not end.more and end.matched == 12
    capped = paging.keyset_page(db, "incidents", Filters(), cols, limit=5, count_cap=11)
    assert capped.matched is None
    box = Filters(bbox=(X0, Y0, X0 + 4000, Y0 + 4000))
    boxed = paging.keyset_page(db, "incidents", box, ["x", "y"], limit=100)
    assert all(X0 <= x <= X0 + 4000 for x in boxed.frame["x"])
    empty = paging.keyset_page(
        db, "incidents", Filters(start=datetime(2030, 1, 1, tzinfo=UTC)), cols, limit=5
    )
    assert empty.frame.empty and empty.matched == 0 and empty.last_id is None
    with pytest.raises(Exception, match="limit"):
        paging.keyset_page(db, "incidents", Filters(), cols, limit=0)


def test_a_token_notes_its_use_once_a_minute_not_per_request(client, db):
    """Every API read used to write the token's last-used time (a commit per request)."""
    from datetime import timedelta

    from tryggkarta.store import ApiToken

    headers = _headers(db)
    assert client.get(f"{URL}?limit=1", headers=headers).status_code == 200
    with db.session() as s:
        first = s.scalar(select(ApiToken.last_used_at))
    assert first is not None
    assert client.get(f"{URL}?limit=1", headers=headers).status_code == 200
    with db.session() as s:
        assert s.scalar(select(ApiToken.last_used_at)) == first
        s.query(ApiToken).update({"last_used_at": first - timedelta(minutes=2)})
        s.commit()
    assert client.get(f"{URL}?limit=1", headers=headers).status_code == 200
    with db.session() as s:
        assert s.scalar(select(ApiToken.last_used_at)) > first - timedelta(seconds=1)


def test_a_dense_box_pages_in_id_order_like_a_sparse_one(client, db, monkeypatch):
    """Above the count cap a page walks the primary key in id order (PostGIS: no sort of
    every match); below it the database may sort the matches. Both give the same rows."""
    _store(db, _tied(90))
    headers = _headers(db)
    query = f"{URL}?limit=7&bbox=13.0,57.5,14.5,59.0"
    sparse, _ = _walk(client, query, headers)
    monkeypatch.setattr(paging, "COUNT_CAP", 10)
    dense, bodies = _walk(client, query, headers)
    assert dense == sparse == _all_ids(db) and len(dense) == 90
    assert all("numberMatched" not in b for b in bodies)
