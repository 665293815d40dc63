"""The EST-group scope on every page that opens a record (issue #16.1): survey campaigns,
projects, measures, citizen promises, imports and the map's Kommun select.

Three municipalities in one installation: Skara (1495) and Götene (1471) form the group
"EST Skara–Götene", Göteborg (1480) is outside it. A Skara user sees and changes the
records of Skara and Götene and never Göteborg's; a Göteborg record asked for by id answers
404 exactly like a missing one. Admin sees the installation. Both engines.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest
import shapely
from sqlalchemy import select

from tests.test_municipalities import PASSWORD, TOWNS, _group, _load, _login, _user
from tryggkarta import geo
from tryggkarta.services import measures as msvc
from tryggkarta.services import promises as psvc
from tryggkarta.services import survey as sv
from tryggkarta.services.accounts import create_user
from tryggkarta.store import (
    Dataset,
    Incident,
    Intervention,
    Project,
    Promise,
    SurveyCampaign,
    SurveyResponse,
)

CODES = ("1495", "1471", "1480")
NAMES = {"1495": "Skara", "1471": "Götene", "1480": "Göteborg"}
#: A phone number: the comment is held for review.
HELD = "Ring 070-123 45 67, kod %s"


def _lonlat(code: str) -> tuple[float, float]:
    lon, lat = geo.to_wgs84([TOWNS[code][0]], [TOWNS[code][1]], 3006)
    return float(lon[0]), float(lat[0])


def _square(code: str, half: float = 150.0) -> shapely.Polygon:
    x, y = TOWNS[code]
    return shapely.box(x - half, y - half, x + half, y + half)


@pytest.fixture
def three(db):
    """Users of Skara, Götene and Göteborg (municipality role), Skara police, an admin; the
    group Skara–Götene; per municipality a campaign with a held comment, a project, a
    measure and a promise. Returns the ids per municipality."""
    assert db.srid == 3006
    _user(db, "skara", "municipality", "Skara kommun", "1495")
    _user(db, "gotene", "municipality", "Götene kommun", "1471")
    _user(db, "gbg", "municipality", "Göteborgs stad", "1480")
    _user(db, "skarapolis", "police", "Polisen Skara", "1495")
    _user(db, "plan-skara", "planner", "Skara planering", "1495")
    with db.session() as s:
        create_user(s, "chef", PASSWORD, "admin")
    _group(db, "1495", "1471")
    ids: dict[str, dict[str, int]] = {}
    today = date.today()
    with db.session() as s:
        for code in CODES:
            c = sv.create_campaign(
                s,
                title=f"Enkät {NAMES[code]}",
                starts_on=today - timedelta(days=1),
                ends_on=today + timedelta(days=30),
                municipality_code=code,
                area_ids=[],
                questions={},
            )
            c.status = "open"
            x, y = TOWNS[code]
            answer = SurveyResponse(
                dataset_id=c.dataset_id,
                campaign_id=c.id,
                dedup_key=f"held-{code}",
                rating=2,
                municipality_code=code,
                x=x,
                y=y,
                geom_wkb=shapely.to_wkb(shapely.Point(x, y)),
                review_status="review",
                held_comment=HELD % code,
            )
            area = _square(code)
            project = Project(
                dedup_key=f"p-{code}",
                name=f"Projekt {NAMES[code]}",
                status="pagaende",
                municipality_code=code,
                geom_wkb=shapely.to_wkb(area),
                minx=area.bounds[0],
                miny=area.bounds[1],
                maxx=area.bounds[2],
                maxy=area.bounds[3],
            )
            s.add_all([answer, project])
            measure = msvc.save_measure(
                s,
                msvc.MeasureData(
                    kind="belysning",
                    title=f"Insats {NAMES[code]}",
                    start=today - timedelta(days=20),
                    place=shapely.Point(x, y),
                ),
            )
            promise = psvc.create_promise(
                s, year=today.year, title=f"Löfte {NAMES[code]}", municipality_code=code
            )
            s.flush()
            ids[code] = {
                "campaign": c.id,
                "slug": c.slug,
                "answer": answer.id,
                "project": project.id,
                "measure": measure.id,
                "promise": promise.id,
            }
    return ids


def _missing(client, url: str, method: str = "GET", **kw) -> tuple[int, str]:
    response = client.open(url, method=method, **kw)
    return response.status_code, response.get_data(as_text=True)


# --- 0. the rule itself ----------------------------------------------------------------


def test_a_measure_stores_the_municipality_it_lies_in(db, three) -> None:
    with db.session() as s:
        got = {
            code: s.get(Intervention, three[code]["measure"]).municipality_code for code in CODES
        }
    assert got == {c: c for c in CODES}


def test_reach_rule() -> None:
    from tryggkarta.errors import BadInput
    from tryggkarta.services.municipalities import Reach

    group = Reach.of("1495,1471", ("1471", "1495"))
    assert group.codes == ("1471", "1495") and group.admits("1471")
    assert not group.admits("1480") and not group.admits(None)
    assert group.check("1471") == "1471"
    with pytest.raises(BadInput, match="EST-grupp"):
        Reach.of("SE", ("1471", "1495")).check("1480")
    with pytest.raises(BadInput, match="installationen"):
        Reach.of("1495,1471", None).check("1480")
    # one municipality: records without a code are its own; one code is the default
    single = Reach.of("1495", ("1495",))
    assert single.admits(None) and single.check(None) == "1495"
    assert not Reach.of("1495", ("1471",)).admits("1495")
    # the whole country, read by admin: everything, no SQL condition
    assert Reach.of("SE", None).codes is None and Reach.of("SE", None).where(Project.id) is None
    with pytest.raises(BadInput):
        Reach.of("SE", ("1495",)).check("<script>")


# --- 1. survey campaigns --------------------------------------------------------------


def test_campaigns_keep_to_the_users_est_group(client, db, three) -> None:
    _login(client, "skara")
    page = client.get("/enkater/").get_data(as_text=True)
    assert "Enkät Skara" in page and "Enkät Götene" in page and "Enkät Göteborg" not in page
    # the municipality list of the form holds the group only
    assert 'value="1471"' in page and 'value="1480"' not in page
    gbg, own = three["1480"]["campaign"], three["1471"]["campaign"]
    missing = gbg + 1000
    for suffix in ("", "/svar.csv", "/svar.geojson", "/svar.xlsx", "/qr.png"):
        assert client.get(f"/enkater/{own}{suffix}").status_code == 200, suffix
        status, body = _missing(client, f"/enkater/{gbg}{suffix}")
        assert (status, _missing(client, f"/enkater/{missing}{suffix}")[0]) == (404, 404)
        assert "Göteborg" not in body
    assert client.post(f"/enkater/{gbg}/status", data={"status": "closed"}).status_code == 404
    with db.session() as s:
        assert s.get(SurveyCampaign, gbg).status == "open"


def test_a_campaign_outside_the_group_is_refused_with_a_sentence(client, db, three) -> None:
    _login(client, "skara")
    today = date.today()
    data = {
        "title": "Smygenkät",
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=9)).isoformat(),
        "municipality_code": "1480",
    }
    response = client.post("/enkater/", data=data)
    assert response.status_code == 400
    assert "Kommunen 1480 ingår inte i din EST-grupp." in response.get_data(as_text=True)
    with db.session() as s:
        assert s.scalar(select(SurveyCampaign.id).where(SurveyCampaign.name == "Smygenkät")) is None
    # in Götene (the group) it is made
    assert client.post("/enkater/", data={**data, "municipality_code": "1471"}).status_code == 302


def test_the_review_queue_holds_the_groups_comments_only(client, db, three) -> None:
    _login(client, "skara")
    page = client.get("/enkater/granska").get_data(as_text=True)
    assert HELD % "1495" in page and HELD % "1471" in page and HELD % "1480" not in page
    gbg = three["1480"]["answer"]
    response = client.post(
        "/enkater/granska", data={"response_id": gbg, "decision": "approve"}, follow_redirects=True
    )
    assert "Svaret finns inte eller är redan granskat." in response.get_data(as_text=True)
    with db.session() as s:
        row = s.get(SurveyResponse, gbg)
        assert row.review_status == "review" and row.comment is None
    # the held count on the campaign list is the group's (2), not the installation's (3)
    assert "Kommentarer att granska</a>: 2</p>" in client.get("/enkater/").get_data(as_text=True)
    _login(client, "gbg")
    assert HELD % "1480" in client.get("/enkater/granska").get_data(as_text=True)


def test_public_campaign_pages_stay_public(client, three) -> None:
    for code in CODES:  # anonymous residents of every municipality answer
        assert client.get(f"/enkat/{three[code]['slug']}").status_code == 200


# --- 2. projects, measures, promises ---------------------------------------------------


def test_projects_keep_to_the_users_est_group(client, db, three) -> None:
    _login(client, "plan-skara")
    page = client.get("/projekt/").get_data(as_text=True)
    assert "Projekt Skara" in page and "Projekt Götene" in page
    assert "Projekt Göteborg" not in page
    gbg, own = three["1480"]["project"], three["1471"]["project"]
    for suffix in ("", "/kontroll"):
        assert client.get(f"/projekt/{own}{suffix}").status_code == 200
        assert client.get(f"/projekt/{gbg}{suffix}").status_code == 404
        assert client.get(f"/projekt/{gbg + 1000}{suffix}").status_code == 404
    assert (
        client.post(f"/projekt/{gbg}/kontroll", data={"measures": ["belysning"]}).status_code == 404
    )
    follow = client.get("/projekt/uppfoljning.csv").get_data(as_text=True)
    assert "Projekt Skara" in follow and "Projekt Göteborg" not in follow
    fc = client.get("/projekt/uppfoljning.geojson").get_json()
    assert {f["properties"]["name"] for f in fc["features"]} == {"Projekt Skara", "Projekt Götene"}


def _drawn(code: str) -> str:
    x, y = TOWNS[code]
    xs, ys = [x - 100, x + 100, x + 100, x - 100], [y - 100, y - 100, y + 100, y + 100]
    lon, lat = geo.to_wgs84(xs, ys, 3006)
    ring = [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]
    return json.dumps({"type": "Polygon", "coordinates": [[*ring, ring[0]]]})


def test_a_drawn_project_gets_its_municipality_and_stays_in_the_group(client, db, three) -> None:
    _login(client, "plan-skara")
    form = {"name": "Ny park", "kind": "park", "status": "planerad"}
    refused = client.post("/projekt/nytt", data={**form, "geometry": _drawn("1480")})
    assert refused.status_code == 400
    assert "Kommunen 1480 ingår inte i din EST-grupp." in refused.get_data(as_text=True)
    made = client.post("/projekt/nytt", data={**form, "geometry": _drawn("1471")})
    assert made.status_code == 302
    with db.session() as s:
        codes = s.scalars(select(Project.municipality_code).where(Project.name == "Ny park")).all()
    assert codes == ["1471"]


def test_measures_keep_to_the_users_est_group(client, db, three) -> None:
    _login(client, "skarapolis")
    page = client.get("/insatser/").get_data(as_text=True)
    assert "Insats Skara" in page and "Insats Götene" in page and "Insats Göteborg" not in page
    gbg, own = three["1480"]["measure"], three["1471"]["measure"]
    assert client.get(f"/insatser/{own}").status_code == 200
    for url in (f"/insatser/{gbg}", f"/insatser/{gbg}/andra"):
        status, body = _missing(client, url)
        assert status == 404 and "Insats Göteborg" not in body
        assert _missing(client, url.replace(str(gbg), str(gbg + 1000)))[0] == 404
    assert client.post(f"/insatser/{gbg}/klar").status_code == 404
    edit = {"kind": "belysning", "title": "Kapad", "status": "planerad", "start": "2026-01-01"}
    assert client.post(f"/insatser/{gbg}/andra", data=edit).status_code == 404
    with db.session() as s:
        row = s.get(Intervention, gbg)
        assert row.title == "Insats Göteborg" and row.status == "planerad"
    # a new measure placed in Göteborg is refused with a sentence, in Götene it is made
    lon, lat = _lonlat("1480")
    new = {"kind": "belysning", "title": "Lampor", "status": "planerad"}
    refused = client.post("/insatser/ny", data={**new, "place": f"{lat:.6f}, {lon:.6f}"})
    assert refused.status_code == 400
    assert "Kommunen 1480 ingår inte i din EST-grupp." in refused.get_data(as_text=True)
    lon, lat = _lonlat("1471")
    assert (
        client.post("/insatser/ny", data={**new, "place": f"{lat:.6f}, {lon:.6f}"}).status_code
        == 302
    )
    with db.session() as s:
        codes = s.scalars(
            select(Intervention.municipality_code).where(Intervention.title == "Lampor")
        )
        assert list(codes) == ["1471"]


def test_promises_keep_to_the_users_est_group(client, db, three) -> None:
    _login(client, "skara")
    page = client.get("/medborgarloften/").get_data(as_text=True)
    assert "Löfte Skara" in page and "Löfte Götene" in page and "Löfte Göteborg" not in page
    gbg, own = three["1480"]["promise"], three["1471"]["promise"]
    for suffix in ("", "/uppfoljning", "/uppfoljning.csv"):
        assert client.get(f"/medborgarloften/{own}{suffix}").status_code == 200, suffix
        assert client.get(f"/medborgarloften/{gbg}{suffix}").status_code == 404, suffix
        assert client.get(f"/medborgarloften/{gbg + 1000}{suffix}").status_code == 404
    data = {"party": "kommunen", "title": "Smyg"}
    assert client.post(f"/medborgarloften/{gbg}/ataganden", data=data).status_code == 404
    # the promise page offers the group's measures only, and links only those
    assert client.post(f"/medborgarloften/{own}/ataganden", data=data).status_code == 303
    show = client.get(f"/medborgarloften/{own}").get_data(as_text=True)
    assert "Insats Götene" in show and "Insats Göteborg" not in show
    with db.session() as s:
        promise = psvc.get_promise(s, own)
        cid = promise.commitments[0].id
    linked = client.post(
        f"/medborgarloften/{own}/aktiviteter",
        data={"commitment_id": cid, "title": "A", "measure_ids": [three["1480"]["measure"]]},
    )
    assert linked.status_code == 400
    with db.session() as s:
        assert s.get(Intervention, three["1480"]["measure"]).activity_id is None
    # a new promise is made in the user's municipality
    assert (
        client.post("/medborgarloften/", data={"year": "2027", "title": "Nytt"}).status_code == 303
    )
    with db.session() as s:
        assert s.scalar(select(Promise.municipality_code).where(Promise.title == "Nytt")) == "1495"


def test_admin_sees_every_municipalitys_records(client, three) -> None:
    _login(client, "chef")
    for url, word in (
        ("/enkater/", "Enkät Göteborg"),
        ("/projekt/", "Projekt Göteborg"),
        ("/insatser/", "Insats Göteborg"),
        ("/medborgarloften/", "Löfte Göteborg"),
    ):
        assert word in client.get(url).get_data(as_text=True), url
    assert client.get(f"/projekt/{three['1480']['project']}").status_code == 200


# --- 3. imports -------------------------------------------------------------------------


def _incident_csv(rows_per_town: int = 2) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, delimiter=";")
    w.writerow(["id", "datum", "kategori", "beskrivning", "lat", "lon"])
    for code in CODES:
        lon, lat = _lonlat(code)
        for i in range(rows_per_town):
            w.writerow([f"{code}-{i}", f"2026-03-0{i + 1}", "klotter", "text", lat + i * 1e-4, lon])
    return out.getvalue().encode("utf-8")


def _api_import(client, body: bytes, **args: str):
    query = "&".join(f"{k}={v}" for k, v in args.items())
    return client.post(
        f"/api/import/incidents?{query}",
        data={"file": (io.BytesIO(body), "händelser.csv")},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {_token_of(client.application, 'skarapolis')}"},
    )


def _token_of(app, username: str) -> str:
    from tryggkarta.services.accounts import create_token
    from tryggkarta.store import User

    db = app.extensions["tryggkarta.db"]
    with db.session() as s:
        user = s.scalar(select(User).where(User.username == username))
        return create_token(s, user, f"import-{username}-{id(app)}")


def _stored_codes(db) -> list[str]:
    with db.session() as s:
        return sorted(s.scalars(select(Incident.municipality_code)).all())


def test_an_import_rejects_rows_outside_the_importers_est_group(client, db, three) -> None:
    strict = _api_import(client, _incident_csv(), strict="1")
    assert strict.status_code == 200, strict.data[:500]
    report = strict.get_json()
    assert report["rows_rejected"] == 2 and _stored_codes(db) == []  # all or nothing
    done = _api_import(client, _incident_csv()).get_json()
    assert done["rows_rejected"] == 2 and done["rows_imported"] == 4
    reasons = {r["reason"] for r in done["rejected"]}
    assert reasons == {"the municipality is not one of those you may import into (your EST group)"}
    assert sorted(r["value"] for r in done["rejected"]) == ["1480", "1480"]
    assert _stored_codes(db) == ["1471", "1471", "1495", "1495"]
    # a chosen municipality outside the group is refused before the file is read
    refused = _api_import(client, _incident_csv(1), municipality="1480")
    assert refused.status_code == 403 and refused.get_json()["code"] == "municipality_not_in_scope"


def test_admin_imports_anywhere_and_the_page_says_where(client, db, three) -> None:
    _login(client, "skarapolis")
    page = client.get("/import/").get_data(as_text=True)
    assert "Du kan importera rader i: Götene, Skara. Rader i andra kommuner avvisas." in page
    preview = client.post(
        "/import/preview",
        data={"layer": "incidents", "file": (io.BytesIO(_incident_csv()), "h.csv")},
        content_type="multipart/form-data",
    )
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert "kommunen ingår inte i de kommuner du får importera till" in html
    refused = client.post(
        "/import/preview",
        data={"layer": "incidents", "municipality": "1480", "file": (io.BytesIO(b"x"), "h.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400
    assert "Kommunen 1480 ingår inte i de kommuner du får importera till." in refused.get_data(
        as_text=True
    )
    _login(client, "chef")
    assert "alla kommuner i installationen" in client.get("/import/").get_data(as_text=True)
    from tryggkarta.ingest import import_file
    from tryggkarta.store import User

    path = db.settings.instance_path + "/all.csv"
    with open(path, "wb") as f:
        f.write(_incident_csv())
    with db.session() as s:
        admin = s.scalar(select(User).where(User.username == "chef"))
    report = import_file(db, "incidents", path, user=admin, scope=None)
    assert report.rows_rejected == 0 and report.rows_imported == 6
    with db.session() as s:
        assert s.scalar(select(Dataset.id).where(Dataset.id == report.dataset_id)) is not None


# --- 4. the map's Kommun select ----------------------------------------------------------


def test_the_map_offers_a_kommun_select_for_a_group_and_saves_it(client, db, three) -> None:
    from tryggkarta.store import SharedMap

    _login(client, "skarapolis")
    page = client.get("/").get_data(as_text=True)
    assert 'id="f-kommun"' in page and ">Götene</option>" in page and ">Göteborg<" not in page
    chosen = client.get("/?kommun=1471").get_data(as_text=True)
    assert '<option value="1471" selected>Götene</option>' in chosen
    assert "kommun=1471" in chosen  # the incident points and saved query carry it
    assert client.get("/?kommun=1480").status_code == 400
    saved = client.post(
        "/kartor/",
        data={"name": "Götene", "query": "kommun=1471&layers=incidents", "extent": "", "zoom": ""},
    )
    assert saved.status_code in (302, 303), saved.data[:300]
    with db.session() as s:
        row = s.scalar(select(SharedMap).where(SharedMap.name == "Götene"))
        assert row.config["query"]["kommun"] == ["1471"]
    view = client.get(f"/kartor/{row.id}").get_data(as_text=True)
    assert '<option value="1471" selected>Götene</option>' in view
    # one municipality in scope: no select
    _login(client, "gbg")
    assert 'id="f-kommun"' not in client.get("/").get_data(as_text=True)


def test_a_streamed_import_rejects_the_same_rows(db, tmp_path, monkeypatch) -> None:
    """A large CSV is read in chunks (:func:`tryggkarta.ingest.service._import_streaming`):
    the scope rejects the same rows there, with their file row numbers, and strict refuses."""
    from tryggkarta.ingest import import_file, service

    path = tmp_path / "h.csv"
    path.write_bytes(_incident_csv(3))
    whole = import_file(db, "incidents", path, scope=("1471", "1495"), dry_run=True)
    monkeypatch.setattr(service, "STREAM_BYTES", 0)
    monkeypatch.setattr(service, "STREAM_CHUNK", 2)
    strict = import_file(db, "incidents", path, scope=("1471", "1495"), strict=True)
    assert strict.strict_refused and _stored_codes(db) == []
    streamed = import_file(db, "incidents", path, scope=("1471", "1495"))
    assert streamed.rows_rejected == whole.rows_rejected == 3
    assert [r.row for r in streamed.rejected] == [r.row for r in whole.rejected] == [8, 9, 10]
    assert _stored_codes(db) == ["1471"] * 3 + ["1495"] * 3
    # outside every group: a Göteborg importer in this installation keeps Göteborg's rows only
    other = tmp_path / "h2.csv"
    other.write_bytes(_incident_csv(2))
    only = import_file(db, "incidents", other, scope=("1480",), dry_run=True)
    assert only.rows_rejected == 4 and only.rows_imported == 2


# --- 5. the EST cycle: the weekly picture, its decisions, reports, an evaluation ---------


def _decide(client, week, code: str | None, text: str):
    data = {"week": week.key, "hotspot_key": f"hs-{code or 'none'}", "text": text}
    if code is not None:
        data.update(x=str(TOWNS[code][0]), y=str(TOWNS[code][1]))
    return client.post("/lagesbild/beslut", data=data)


def test_weekly_picture_decisions_keep_to_the_group(client, db, three) -> None:
    from tryggkarta.services import lagesbild as lb
    from tryggkarta.store import Decision

    _load(db)  # incidents in each town, for the hot spots
    week = lb.last_complete_week()
    _login(client, "skarapolis")
    assert _decide(client, week, "1471", "Lampor i Götene").status_code == 302
    assert _decide(client, week, None, "Samtal med skolan").status_code == 302  # no place
    refused = _decide(client, week, "1480", "Lampor i Göteborg")
    assert refused.status_code == 400
    assert "Kommunen 1480 ingår inte i din EST-grupp." in refused.get_data(as_text=True)
    _login(client, "gbg")
    assert _decide(client, week, "1480", "Vakter i Göteborg").status_code == 302
    with db.session() as s:
        stored = dict(s.execute(select(Decision.text, Decision.municipality_code)).all())
        gbg_decision = s.scalar(select(Decision.id).where(Decision.municipality_code == "1480"))
    assert stored == {
        "Lampor i Götene": "1471",
        "Samtal med skolan": "1495",  # the deciding user's municipality
        "Vakter i Göteborg": "1480",
    }
    # the week after, each group follows up its own decisions only
    after = (week + 1).key
    _login(client, "skarapolis")
    page = client.get(f"/lagesbild/?week={after}").get_data(as_text=True)
    assert "Lampor i Götene" in page and "Samtal med skolan" in page
    assert "Vakter i Göteborg" not in page
    one = client.get(f"/lagesbild/?week={after}&kommun=1471").get_data(as_text=True)
    assert "Lampor i Götene" in one and "Samtal med skolan" not in one
    # another municipality's decision by id: 404 like a missing one, no measure made
    assert client.post("/insatser/fran-beslut", data={"decision_id": gbg_decision}).status_code == (
        404
    )
    with db.session() as s:
        assert s.scalar(
            select(Intervention.id).where(Intervention.decision_id == gbg_decision)
        ) is (None)
    _login(client, "gbg")
    page = client.get(f"/lagesbild/?week={after}").get_data(as_text=True)
    assert "Vakter i Göteborg" in page and "Lampor i Götene" not in page
    made = client.post("/insatser/fran-beslut", data={"decision_id": gbg_decision})
    assert made.status_code == 302
    with db.session() as s:
        code = s.scalar(
            select(Intervention.municipality_code).where(Intervention.decision_id == gbg_decision)
        )
    assert code == "1480"


def _reporters(db) -> None:
    for name, code in (("Vakt Skara", "1495"), ("Vakt Götene", "1471"), ("Vakt Göteborg", "1480")):
        _user(db, "rep-" + code, "reporter", name, code)


def _reporting_section(html: str) -> str:
    return html.split('id="h-reporting"', 1)[1].split("</section>", 1)[0]


def test_organisations_that_have_not_reported_are_the_groups(client, db, three) -> None:
    from tryggkarta.services import lagesbild as lb

    _reporters(db)
    _load(db)
    week = lb.last_complete_week().key
    _login(client, "skarapolis")
    section = _reporting_section(client.get(f"/lagesbild/?week={week}").get_data(as_text=True))
    assert "Vakt Skara" in section and "Vakt Götene" in section
    assert "Vakt Göteborg" not in section
    one = client.get(f"/lagesbild/?week={week}&kommun=1471").get_data(as_text=True)
    section = _reporting_section(one)
    assert "Vakt Götene" in section and "Vakt Skara" not in section
    _login(client, "gbg")
    section = _reporting_section(client.get(f"/lagesbild/?week={week}").get_data(as_text=True))
    assert "Vakt Göteborg" in section and "Vakt Skara" not in section


def test_a_weekly_picture_without_incidents_says_so(client, db, three) -> None:
    """A municipality of the group with nothing reported yet: a plain sentence, not an
    error page."""
    from tryggkarta.services import lagesbild as lb

    _login(client, "skarapolis")
    for lang, sentence in (
        ("sv", "Det finns inga händelser fram till den här veckan i de valda kommunerna"),
        ("en", "There are no incidents up to this week in the chosen municipalities"),
    ):
        week = lb.last_complete_week().key
        page = client.get(f"/lagesbild/?week={week}&kommun=1471&lang={lang}")
        assert page.status_code == 200
        assert sentence in page.get_data(as_text=True)


def _filed(client, code: str, text: str, client_id: str):
    lon, lat = _lonlat(code)
    data = {
        "client_id": client_id,
        "lat": f"{lat:.6f}",
        "lon": f"{lon:.6f}",
        "category": "klotter",
        "description": text,
    }
    return client.post("/rapport/skicka", data=data, headers={"Accept": "application/json"})


def test_reports_lie_in_the_group_and_are_read_in_the_group(client, db, three) -> None:
    _reporters(db)
    _login(client, "rep-1495")
    form = client.get("/rapport/").get_data(as_text=True)
    assert "Du kan rapportera i EST-gruppens kommuner: Götene, Skara." in form
    made = _filed(client, "1471", "Klotter i Götene", "group-report-0001")
    assert made.status_code == 201, made.data[:300]
    outside = _filed(client, "1480", "Klotter i Göteborg", "group-report-0002")
    assert outside.status_code == 400
    assert outside.get_json()["errors"]["place"] == (
        "Platsen ligger utanför EST-gruppens kommuner. Flytta markeringen."
    )
    english = client.post(
        "/rapport/skicka?lang=en",
        data={
            "client_id": "group-report-0003",
            "lat": "57.70",
            "lon": "11.97",
            "category": "brand",
        },
        headers={"Accept": "application/json"},
    )
    assert english.get_json()["errors"]["place"] == (
        "The place lies outside the EST group's municipalities. Move the marker."
    )
    client.get("/rapport/?lang=sv")  # back to Swedish
    _login(client, "rep-1480")  # outside every group: its own municipality only
    assert "EST-gruppens kommuner" not in client.get("/rapport/").get_data(as_text=True)
    refused = _filed(client, "1495", "Klotter i Skara", "group-report-0004")
    assert (
        refused.get_json()["errors"]["place"]
        == "Platsen ligger utanför kommunen. Flytta markeringen."
    )
    assert _filed(client, "1480", "Klotter vid Centralen", "group-report-0005").status_code == 201
    with db.session() as s:
        stored = dict(
            s.execute(
                select(Incident.description, Incident.municipality_code).where(
                    Incident.source_type == "form"
                )
            ).all()
        )
        ids = dict(s.execute(select(Incident.description, Incident.id)).all())
    # the report's municipality is where it lies, not the reporter's organisation's
    assert stored == {"Klotter i Götene": "1471", "Klotter vid Centralen": "1480"}
    # staff of the group read the group's reports, not Göteborg's, which answers 404
    _login(client, "skarapolis")
    listed = client.get("/rapport/mina").get_data(as_text=True)
    assert "Klotter i Götene" in listed and "Klotter vid Centralen" not in listed
    assert "Alla organisationers rapporter i Götene, Skara" in listed
    assert client.get(f"/rapport/{ids['Klotter i Götene']}").status_code == 200
    status, body = _missing(client, f"/rapport/{ids['Klotter vid Centralen']}")
    assert status == 404 and "Centralen" not in body
    # another organisation of the group may not correct it
    _login(client, "rep-1471")
    own = ids["Klotter i Götene"]
    assert client.get(f"/rapport/{own}").status_code == 403
    lon, lat = _lonlat("1471")
    edit = {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "category": "brand", "description": "X"}
    assert client.post(f"/rapport/{own}", data=edit).status_code == 403
    # its own organisation moves it into Skara: its municipality follows
    _login(client, "rep-1495")
    lon, lat = _lonlat("1495")
    moved = {**edit, "lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "description": "Flyttad"}
    assert client.post(f"/rapport/{own}", data=moved).status_code == 303
    with db.session() as s:
        row = s.get(Incident, own)
        assert (row.description, row.municipality_code) == ("Flyttad", "1495")


def _border_point() -> tuple[float, float]:
    """A point on the border between Skara (1495) and Vara (1470), outside the group."""
    line = shapely.line_merge(
        geo.municipality("1495", 3006).boundary.intersection(
            geo.municipality("1470", 3006).boundary
        )
    )
    longest = max(getattr(line, "geoms", [line]), key=lambda g: g.length)
    point = longest.interpolate(0.5, normalized=True)
    return point.x, point.y


def test_a_measures_evaluation_counts_the_groups_incidents_only(client, db, three) -> None:
    """A measure on Skara's border with Vara: incidents on the Vara side lie in its target
    area, but a Skara user's evaluation does not count them (the admin's does), nor does
    the follow-up of the citizen promise it carries out."""
    import geopandas as gpd
    import numpy as np

    from tryggkarta.store import insert_layer

    bx, by = _border_point()
    offsets = np.array([(dx, dy) for dx in (-90, -40, 40, 90) for dy in (-90, -40, 40, 90)])
    xs, ys = bx + offsets[:, 0], by + offsets[:, 1]
    codes = geo.municipality_codes_at(xs, ys, 3006)
    assert set(codes) == {"1495", "1470"}  # both sides of the border
    today = date.today()
    times = [f"{today - timedelta(days=14)}T12:00Z", f"{today - timedelta(days=4)}T12:00Z"]
    with db.session() as s:
        ds = Dataset(layer="incidents", name="border", source="test", checksum="border")
        s.add(ds)
        s.flush()
        frame = gpd.GeoDataFrame(
            {
                "occurred_at": pd_times(times, len(xs)),
                "category": "klotter",
                "source_id": [f"b{i}" for i in range(2 * len(xs))],
                "municipality_code": list(codes) * 2,
            },
            geometry=gpd.points_from_xy(np.tile(xs, 2), np.tile(ys, 2)),
            crs=3006,
        )
        insert_layer(s, "incidents", frame, ds.id)
        measure = msvc.save_measure(
            s,
            msvc.MeasureData(
                kind="belysning",
                title="Lampor vid gränsen",
                start=today - timedelta(days=9),
                end=today - timedelta(days=1),
                place=shapely.Point(bx, by),
            ),
        )
        measure.municipality_code = "1495"
        mid = measure.id
    in_skara = int((codes == "1495").sum())

    def target_row(html: str) -> tuple[int, int]:
        import re

        found = re.search(
            r'Insatsens område</th><td class="num">(\d+)</td><td class="num">(\d+)</td>', html
        )
        assert found, html[:3000]
        return int(found.group(1)), int(found.group(2))

    _login(client, "skarapolis")
    assert target_row(client.get(f"/insatser/{mid}").get_data(as_text=True)) == (
        in_skara,
        in_skara,
    )
    _login(client, "chef")
    assert target_row(client.get(f"/insatser/{mid}").get_data(as_text=True)) == (
        len(xs),
        len(xs),
    )
    # a citizen promise carried out by the measure: its follow-up counts the same way
    from tryggkarta.domain import Detail
    from tryggkarta.services.municipalities import scope_filters

    with db.session() as s:
        promise = psvc.create_promise(
            s, year=today.year, title="Gränslöftet", municipality_code="1495"
        )
        commitment = psvc.add_commitment(s, promise, party="kommunen", title="Ljus vid gränsen")
        psvc.add_activity(s, commitment.id, title="Lampor", measure_ids=[mid])
        pid = promise.id
    group = scope_filters(geo.parse_region("SE"), ("1471", "1495"))
    for scope, expected in ((group, in_skara), (None, len(xs))):
        fu = psvc.follow_up(db, pid, level=Detail.RAW, min_count=3, scope=scope)
        got = [(a.incidents_before, a.incidents_after) for a in fu.activities]
        assert got == [(expected, expected)]


def pd_times(times: list[str], n: int):
    """Each of ``times`` ``n`` times (one per point), as UTC timestamps."""
    import pandas as pd

    return pd.to_datetime([t for t in times for _ in range(n)], utc=True)
