"""The start page: local assets only, role filtering, k-anonymity, escaping, bad filters."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import geopandas as gpd
import pytest
from shapely.geometry import Point, box
from sqlalchemy import select

from tryggkarta.store import AuditLog, Dataset, insert_layer

EVIL = "<script>alert('x')</script>"
X0, Y0 = 408_000.0, 6_472_000.0  # Skara, SWEREF 99 TM


def add(db, layer: str, rows: list[dict], geoms: list) -> None:
    with db.session() as s:
        ds = Dataset(
            layer=layer,
            name=f"test {layer} {len(rows)}",
            source="test",
            checksum=f"t-{layer}-{id(rows)}",
        )
        s.add(ds)
        s.flush()
        insert_layer(s, layer, gpd.GeoDataFrame(rows, geometry=geoms, crs=3006), ds.id)


def incidents(
    db, n: int, x: float, y: float, category: str = "klotter", description: str = "secret text"
) -> None:
    when = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)
    rows = [
        {
            "occurred_at": when,
            "category": category,
            "description": description,
            "source_id": f"{x}-{y}-{i}",
        }
        for i in range(n)
    ]
    add(db, "incidents", rows, [Point(x + 10 + i, y + 10) for i in range(n)])


def js(text: str) -> str:
    """``text`` as it appears inside the map script (JSON string escapes)."""
    return json.dumps(text)[1:-1]


def remote(html: str) -> list[str]:
    return re.findall(r"""<(?:script|link)[^>]+(?:src|href)=["'](?:https?:)?//[^"']+""", html)


def test_public_start_page_on_demo_data(client, demo_db) -> None:
    html = client.get("/").get_data(as_text=True)
    assert remote(html) == []
    assert set(re.findall(r"https?://[^\"' ]+", html)) <= {
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    }
    assert (
        'lang="sv"' in html and js("Händelser per ruta") in html and js("Teckenförklaring") in html
    )
    assert "/vendor/leaflet/leaflet.js" in html and "/static/js/map.js" in html
    # aggregated only: no raw-points layer, no survey pins, no free text
    assert "tryggkarta.bboxLayer" not in html and js("Enkätsvar (enskilda)") not in html
    assert "tryggkarta.tileLayer" not in html and "/tiles/incidents" not in html
    assert "Kommentar" not in html and "Rutor med färre än 5" in html
    assert len(html) < 1_500_000


def test_police_sees_raw_layers_and_the_view_is_audited(client, auth, demo_db) -> None:
    auth.login("police")
    html = client.get("/").get_data(as_text=True)
    from tryggkarta.maps.assets import vector_tiles_available

    # raw points as vector tiles; the bbox GeoJSON layer only without the vendored renderer
    points = "tryggkarta.tileLayer" if vector_tiles_available() else "tryggkarta.bboxLayer"
    assert points in html and js("Enkätsvar (enskilda)") in html
    assert remote(html) == []

    def audited() -> list[AuditLog]:
        with demo_db.session() as s:
            query = select(AuditLog).where(
                AuditLog.action == "view_raw", AuditLog.layer == "survey"
            )
            return list(s.scalars(query))

    # the answers are not on the page (off by default): fetched, and audited, when shown
    assert audited() == []
    url = re.search(r'"url":\s?"(/api/survey-pins[^"]*)"', html).group(1)
    pins = client.get(url.replace("\\u0026", "&")).get_json()
    assert len(pins["features"]) > 100 and "_popup" in pins["features"][0]["properties"]
    assert pins["tk"] == {}
    (row,) = audited()
    assert row.role == "police" and row.feature_count > 100 and row.detail == "raw"


def test_survey_answers_are_not_embedded_and_other_roles_get_none(client, auth, demo_db) -> None:
    auth.login("police")
    html = client.get("/").get_data(as_text=True)
    assert len(html.encode()) < 300_000  # was 1.1 MB with the answers inline
    assert "Kommentar" not in html
    client.post("/logout")
    for role in (None, "planner", "partner"):
        if role:
            auth.login(role)
        r = client.get("/api/survey-pins")
        assert r.status_code == 200 and r.get_json()["features"] == []


def test_english_start_page(client, demo_db) -> None:
    html = client.get("/?lang=en").get_data(as_text=True)
    assert "Incidents per cell" in html and "Legend" in html and "Vandalism" in html


def test_k_suppression_on_the_page(client, auth, db) -> None:
    incidents(db, 4, X0, Y0)
    incidents(db, 5, X0 + 1000, Y0)
    html = client.get("/?layers=incidents").get_data(as_text=True)
    assert re.findall(r'"count":\s?(\d+)', html) == ["5"]
    auth.login("police")
    html = client.get("/?layers=incidents").get_data(as_text=True)
    assert sorted(re.findall(r'"count":\s?(\d+)', html)) == ["4", "5"]


def test_filters_change_the_cells(client, auth, db) -> None:
    """Ad-hoc filters are for raw-detail roles (police here)."""
    incidents(db, 6, X0, Y0, "klotter")
    incidents(db, 7, X0 + 1000, Y0, "brand")
    auth.login("police")

    def counts(url):
        return sorted(re.findall(r'"count":\s?(\d+)', client.get(url).get_data(as_text=True)))  # noqa: E731

    assert counts("/?layers=incidents") == ["6", "7"]
    assert counts("/?layers=incidents&cat=brand") == ["7"]
    assert counts("/?layers=incidents&from=2026-04-01") == []
    assert counts("/?layers=incidents&weekday=4&hour=21") == ["6", "7"]  # Friday 21:00 Stockholm


def test_names_and_descriptions_are_escaped(client, auth, db) -> None:
    add(db, "areas", [{"name": EVIL, "kind": "district"}], [box(X0, Y0, X0 + 500, Y0 + 500)])
    add(
        db,
        "projects",
        [
            {
                "name": EVIL,
                "description": EVIL,
                "kind": "park",
                "status": "planerad",
                "start_date": "2026-01-01",
                "end_date": "2026-12-31",
            }
        ],
        [box(X0, Y0, X0 + 200, Y0 + 200)],
    )
    add(
        db,
        "survey",
        [
            {
                "rating": 1,
                "reasons": "belysning",
                "comment": EVIL,
                "answered_at": datetime(2026, 3, 1, tzinfo=UTC),
            }
        ],
        [Point(X0, Y0)],
    )
    auth.login("police")
    html = client.get("/").get_data(as_text=True)
    assert "<script>alert" not in html
    assert html.count("\\u0026lt;script\\u0026gt;") >= 4  # popups (escaped, then JSON-encoded)
    assert "&lt;script&gt;alert" in html  # the district search <option>


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "from=2026-05-01&to=2026-01-01",
            "Datumintervallet är baklänges: &#39;från&#39; (2026-05-01) ligger efter &#39;till&#39; (2026-01-01).",
        ),
        ("cat=bilbrand", "Okänd kategori: bilbrand."),
        (
            "from=1%2F2%202026",
            "Ogiltigt datum i &#39;from&#39;: 1/2 2026. Skriv datum som ÅÅÅÅ-MM-DD.",
        ),
        ("bbox=2.0,48.0,2.5,48.5", "Området (bbox) ligger utanför Sverige."),
        ("weekday=fredag", "Ogiltigt värde i &#39;weekday&#39;: fredag. Tillåtet: 0–6."),
    ],
)
def test_bad_filters_give_400_with_a_swedish_sentence(client, query: str, message: str) -> None:
    response = client.get(f"/?{query}")
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert message in body and "Traceback" not in body


def test_vendor_assets_are_served_with_cache_headers(client) -> None:
    response = client.get("/vendor/leaflet/leaflet.js")
    assert response.status_code == 200 and b"Leaflet" in response.data[:400]
    assert "max-age=2592000" in response.headers["Cache-Control"]
    assert client.get("/vendor/font-awesome/css/all.min.css").status_code == 200
    assert client.get("/vendor/leaflet/..%2F..%2F..%2Fsetup.py").status_code == 404
    assert client.get("/vendor/unknown/x.js").status_code == 404


def test_start_page_shows_the_forecast_layer_with_its_pai(sqlite_app):
    """Once computed, the default hotspot layer is on the page from the start and says its method and PAI."""
    from tests.demodata import demo_into
    from tryggkarta.services.forecast import forecast_layer
    from tryggkarta.store import Filters

    db = sqlite_app.extensions["tryggkarta.db"]
    demo_into(db)
    client = sqlite_app.test_client()

    def text(path: str) -> str:  # the legend sits in JSON-escaped script text
        import re

        raw = client.get(path).get_data(as_text=True)
        return re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), raw)

    before = text("/")
    assert "PAI" not in before  # not computed yet: the layer loads on demand
    assert "Brännpunkter (prognos)" in before
    layer = forecast_layer(db, Filters())
    page = text("/")
    assert "Brännpunkter (prognos)" in page
    pai = f"{layer.summary['pai']:.1f}".replace(".", ",")
    assert f"PAI {pai}" in page
    english = text("/?lang=en")
    assert f"PAI {layer.summary['pai']:.1f}" in english


def test_public_filters_are_fixed_releases(client, db) -> None:
    """Below raw detail the page shows the fixed release: ad-hoc filters change nothing and
    say so; counts are rounded; the category group and period choices do work."""
    incidents(db, 6, X0, Y0, "klotter")
    incidents(db, 7, X0 + 1000, Y0, "brand")
    incidents(db, 12, X0 + 2000, Y0, "narkotika")

    def counts(url):
        return sorted(re.findall(r'"count":\s?(\d+)', client.get(url).get_data(as_text=True)))  # noqa: E731

    assert counts("/?layers=incidents") == ["10", "5", "5"]  # 6 → 5, 7 → 5, 12 → 10
    html = client.get("/?layers=incidents&cat=brand&from=2026-03-01").get_data(as_text=True)
    assert sorted(re.findall(r'"count":\s?(\d+)', html)) == ["10", "5", "5"]
    assert "finns bara för polis och kommun" in html
    assert counts("/?layers=incidents&grupp=ordning") == ["10"]
    assert counts("/?layers=incidents&grupp=skadegorelse") == ["5", "5"]
    assert counts("/?layers=incidents&period=2024") == []
    assert client.get("/?period=2099").status_code == 400


def test_the_legend_names_records_left_out_of_hot_spots(client, auth, db) -> None:
    """A pile on one coordinate (a police station): the police legend gives its count, the
    public legend says the same without numbers (counts only through the disclosure step)."""
    import numpy as np

    rng = np.random.default_rng(2)
    rows = [
        {
            "occurred_at": datetime(2026, 3, 6, tzinfo=UTC),
            "category": "klotter",
            "source_id": f"r{i}",
        }
        for i in range(300)
    ]
    pts = [Point(X0 + dx, Y0 + dy) for dx, dy in rng.uniform(0, 3000, (300, 2))]
    pile = [
        {
            "occurred_at": datetime(2026, 3, 6, tzinfo=UTC),
            "category": "klotter",
            "source_id": f"p{i}",
        }
        for i in range(80)
    ]
    add(db, "incidents", rows + pile, pts + [Point(X0 + 1500, Y0 + 1500)] * 80)

    def text(path: str) -> str:
        raw = client.get(path).get_data(as_text=True)
        return re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), raw)

    auth.login("police")
    police = text("/")
    assert "Datakvalitet: 80 händelser ligger på 1 enskild(a) koordinat(er)" in police
    assert "Data quality: 80 records" in text("/?lang=en")
    auth.logout()
    public = text("/?lang=sv")
    if "Gi*" in public:  # public roles that see a hot-spot method get the sentence only
        assert "Datakvalitet: händelser som ligger staplade" in public
    assert "Datakvalitet: 80" not in public
