"""The admin page for named places (``/admin/platser``): upload, preview, confirm, list and
delete — the CLI's all-or-nothing, idempotent import behind a web form, admins only, on both
engines; bad files are refused with a Swedish sentence and change nothing."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.test_places import PLACES_CSV
from tryggkarta.services import places
from tryggkarta.store import AuditLog

SHARED = Path("/work/shared/data/sweden/kommuner_skara_ystad_umea_enkoping_sweref99tm.geojson")


def _upload(client, data: bytes, name: str, kind: str = "place", crs: str = ""):
    return client.post(
        "/admin/platser/forhandsgranska",
        data={"kind": kind, "crs": crs, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def _token(page: str) -> str:
    import re

    return re.search(r'name="token" value="([0-9a-f]{32})"', page).group(1)


def _uploads(db) -> list[Path]:
    folder = Path(db.settings.instance_path) / "uploads"
    return sorted(folder.glob("*")) if folder.is_dir() else []


def test_preview_confirm_list_and_delete(client, auth, db) -> None:
    auth.login("admin")
    r = _upload(client, PLACES_CSV.encode("utf-8"), "platser.csv")
    page = r.get_data(as_text=True)
    assert r.status_code == 200, page[:2000]
    assert "4 platser (Namngivna platser) kan importeras från platser.csv." in page
    assert "1 rader utan namn" in page and "1 rader utan användbara koordinater" in page
    assert "1 rader utanför" in page  # Berlin, outside Sweden
    assert "Stora torget" in page and 'class="static-map places-preview"' in page
    assert places.count_places(db) == {}  # a preview writes nothing
    token = _token(page)
    r = client.post("/admin/platser/importera", data={"token": token})
    assert r.status_code == 303
    assert places.count_places(db) == {"place": 4}
    assert not [p for p in _uploads(db) if p.name.startswith(token)]  # the upload is gone
    # the same file again: the same places (a kind is replaced, never added to)
    token = _token(
        _upload(client, PLACES_CSV.encode("utf-8"), "platser.csv").get_data(as_text=True)
    )
    assert "De ersätter de 4 som finns nu." in client.post(
        "/admin/platser/forhandsgranska",
        data={"kind": "place", "file": (io.BytesIO(PLACES_CSV.encode()), "platser.csv")},
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert client.post("/admin/platser/importera", data={"token": token}).status_code == 303
    assert places.count_places(db) == {"place": 4}
    listing = client.get("/admin/platser").get_data(as_text=True)
    assert "platser.csv" in listing and '<td class="num">4</td>' in listing
    hits = client.get("/api/platser?q=stora").get_json()["results"]
    assert hits[0]["name"] == "Stora torget"
    r = client.post("/admin/platser/ta-bort", data={"kind": "place", "source": "platser.csv"})
    assert r.status_code == 303 and places.count_places(db) == {}
    assert "Inga platser är importerade." in client.get("/admin/platser").get_data(as_text=True)
    with db.session() as s:
        actions = s.scalars(select(AuditLog.action).where(AuditLog.action.like("admin_places%")))
        assert sorted(actions) == [
            "admin_places_delete",
            "admin_places_import",
            "admin_places_import",
        ]


@pytest.mark.skipif(not SHARED.is_file(), reason="the shared municipality outlines are missing")
def test_a_real_geopackage_of_polygons_imports_one_point_each(client, auth, db, tmp_path) -> None:
    """Real outlines (four municipalities, SWEREF 99 TM) as a GeoPackage with a name column:
    each polygon becomes a place at a point inside it; the GeoJSON as it is has no name column
    the service knows (``kommun``) and is refused with the columns it has."""
    import geopandas as gpd

    auth.login("admin")
    raw = SHARED.read_bytes()
    r = _upload(client, raw, "kommuner.geojson")
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "Filen saknar en kolumn med namn." in page and "kommun_kod" in page
    assert places.count_places(db) == {}
    frame = gpd.read_file(SHARED).rename(columns={"kommun": "namn"})
    gpkg = tmp_path / "kommuner.gpkg"
    frame.to_file(gpkg, driver="GPKG")
    r = _upload(client, gpkg.read_bytes(), "kommuner.gpkg")
    page = r.get_data(as_text=True)
    assert r.status_code == 200, page[:2000]
    assert "4 platser (Namngivna platser) kan importeras från kommuner.gpkg." in page
    assert client.post("/admin/platser/importera", data={"token": _token(page)}).status_code == 303
    hit = client.get("/api/platser?q=skara").get_json()["results"]
    skara = next(h for h in hit if h["kind"] == "place")
    # a point inside Skara municipality (58.2–58.5 N, 13.2–13.7 E)
    assert 58.2 < skara["lat"] < 58.5 and 13.2 < skara["lon"] < 13.7


def _zip_bomb() -> bytes:
    """A GeoJSON that unpacks 30 MB of spaces from ~30 KB: far over the allowed ratio."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        body = b'{"type": "FeatureCollection", "features": [' + b" " * 30_000_000 + b"]}"
        z.writestr("platser.geojson", body)
    return buf.getvalue()


BAD = [
    # (file bytes, name, a sentence the page shows)
    (b"\xef\xbb\xbfnamn;lat;lon\nTorg\xff\xfe;58.38;13.43\n", "bom.csv", "teckenkodning"),
    (b"namn;typ\nTorget;torg\n", "utan-plats.csv", "Filen saknar koordinater"),
    (
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": {"namn": "Torget"}, "geometry": None}
                ],
            }
        ).encode(),
        "utan-geometri.geojson",
        "Ingen rad i filen är en användbar plats",
    ),
    (b"namn;lat;lon\nTorget;norr;syd\nTorg 2;999;999\n", "fel.csv", "användbar plats"),
    (b"", "tom.csv", "Filen är tom."),
    (b"namn;lat;lon\n", "rubrik.csv", "inga datarader"),
    (b"\x00\x01\x02\x03binary\x00\x00" * 50, "binar.csv", "inte en textfil"),
    (_zip_bomb(), "bomb.zip", "packas upp till orimligt mycket data"),
]


@pytest.mark.parametrize(("data", "name", "message"), BAD, ids=[b[1] for b in BAD])
def test_bad_files_are_refused_and_change_nothing(client, auth, db, data, name, message) -> None:
    auth.login("admin")
    ok = _upload(client, PLACES_CSV.encode(), "platser.csv").get_data(as_text=True)
    client.post("/admin/platser/importera", data={"token": _token(ok)})
    before = _uploads(db)
    r = _upload(client, data, name)
    page = r.get_data(as_text=True)
    assert r.status_code == 400, page[:1500]
    assert message in page, page[page.find("<main") : page.find("<main") + 1500]
    assert places.count_places(db) == {"place": 4}
    assert _uploads(db) == before  # the refused upload is not kept


def test_a_windows_1252_file_keeps_its_swedish_letters(client, auth, db) -> None:
    auth.login("admin")
    text = "namn;lat;lon\nSkövde torg;58,3866;13,4385\nÅsaka kyrka;58,3862;13,4379\n"
    page = _upload(client, text.encode("cp1252"), "ansi.csv").get_data(as_text=True)
    assert "2 platser" in page and "Skövde torg" in page and "Åsaka kyrka" in page
    client.post("/admin/platser/importera", data={"token": _token(page)})
    assert [h["name"] for h in client.get("/api/platser?q=åsaka").get_json()["results"]] == [
        "Åsaka kyrka"
    ]


def test_a_file_over_the_upload_limit_is_refused(app, client, auth, db) -> None:
    auth.login("admin")
    app.config["MAX_CONTENT_LENGTH"] = 50_000
    big = PLACES_CSV.encode() + b"Torget;torg;58,38;13,43\n" * 5_000
    r = _upload(client, big, "stor.csv")
    assert r.status_code == 413
    assert places.count_places(db) == {}


def test_script_in_names_stays_text(client, auth, db, app) -> None:
    """A name with markup is shown as text on the preview, returned as a JSON string by the
    place search (the map's search box puts it in with textContent) and escaped on maps."""
    auth.login("admin")
    evil = "<script>alert(1)</script>"
    text = f'namn;lat;lon\n{evil};58,3866;13,4385\n"<img src=x onerror=alert(2)>";58,3862;13,4379\n'
    page = _upload(client, text.encode(), "elak.csv").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    client.post("/admin/platser/importera", data={"token": _token(page)})
    r = client.get("/api/platser?q=script")
    assert r.mimetype == "application/json"
    assert r.get_json()["results"][0]["name"] == evil
    # JSON text, never sniffed as HTML; the map's search box puts names in with textContent
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    js = (Path(__file__).parents[1] / "tryggkarta/static/js/map.js").read_text("utf-8")
    assert "innerHTML" not in js
    from tryggkarta.maps import svg

    frame = svg.Frame(0, 0, 100, 100, 100)
    drawn = str(
        svg.static_map(
            frame, title=evil, desc=evil, ident="x", markers=[svg.Marker(50, 50, "1", title=evil)]
        )
    )
    assert "<script>" not in drawn and "&lt;script&gt;" in drawn


@pytest.mark.parametrize("role", ["police", "municipality", "planner", "partner", "reporter"])
def test_only_admins_manage_places(client, auth, db, role) -> None:
    auth.login(role)
    assert client.get("/admin/platser").status_code == 403
    assert _upload(client, PLACES_CSV.encode(), "platser.csv").status_code == 403
    assert client.post("/admin/platser/importera", data={"token": "0" * 32}).status_code == 403
    r = client.post("/admin/platser/ta-bort", data={"kind": "place", "source": "x"})
    assert r.status_code == 403


def test_tokens_and_forms_are_checked(client, auth, db) -> None:
    auth.login("admin")
    assert client.post("/admin/platser/importera", data={"token": "../../etc"}).status_code == 400
    assert client.post("/admin/platser/importera", data={"token": "a" * 32}).status_code == 410
    assert _upload(client, PLACES_CSV.encode(), "platser.csv", kind="house").status_code == 400
    r = client.post("/admin/platser/ta-bort", data={"kind": "house", "source": ""})
    assert r.status_code == 400
    r = client.post(
        "/admin/platser/forhandsgranska", data={"kind": "place"}, content_type="multipart/form-data"
    )
    assert r.status_code == 400 and "Välj en fil." in r.get_data(as_text=True)
    # another admin cannot confirm this admin's upload
    token = _token(_upload(client, PLACES_CSV.encode(), "platser.csv").get_data(as_text=True))
    auth.logout()
    auth.login("admin", username="other_admin")
    assert client.post("/admin/platser/importera", data={"token": token}).status_code == 403
    assert places.count_places(db) == {}
