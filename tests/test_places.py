"""Place search offline: places/addresses import (CSV, GeoJSON/GPKG), search, the JSON route."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tryggkarta.errors import BadInput
from tryggkarta.services import places

PLACES_CSV = """namn;kategori;lat;lon
Stora torget;torg;58,3866;13,4385
Skara domkyrka;kyrka;58,3862;13,4379
Skara resecentrum;station;58,3889;13,4342
Katedralskolan;skola;58,3851;13,4413
;saknar namn;58,38;13,43
Utan plats;;;
Berlin Hbf;station;52,525;13,369
"""


def _addresses(tmp_path: Path) -> Path:
    feats = [
        {
            "type": "Feature",
            "properties": {"addr:street": street, "addr:housenumber": number},
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
        }
        for street, number, lon, lat in (
            ("Storgatan", "12", 13.4391, 58.3871),
            ("Storgatan", "3", 13.4371, 58.3869),
            ("Skaraborgsgatan", "1A", 13.4301, 58.3901),
        )
    ]
    path = tmp_path / "adresser.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), "utf-8")
    return path


@pytest.fixture
def demo(db):
    from tests.demodata import demo_into

    demo_into(db)
    return db


def test_import_places_and_addresses_and_search(demo, tmp_path) -> None:
    csv = tmp_path / "platser.csv"
    csv.write_text(PLACES_CSV, "utf-8")
    result = places.import_places(demo, csv, "place")
    assert result.added == 4
    assert result.skipped.pop("no name") == 1 and result.skipped.pop("no usable coordinates") == 1
    assert [(k.startswith("outside"), n) for k, n in result.skipped.items()] == [(True, 1)]
    assert places.import_places(demo, _addresses(tmp_path), "address").added == 3
    assert places.count_places(demo) == {"place": 4, "address": 3}
    assert places.import_places(demo, csv, "place").added == 4  # re-import replaces
    assert places.count_places(demo)["place"] == 4

    hits = places.search(demo, "  STORA ")
    assert hits[0]["name"] == "Stora torget" and hits[0]["kind"] == "place"
    assert abs(hits[0]["lon"] - 13.4385) < 1e-5 and abs(hits[0]["lat"] - 58.3866) < 1e-5
    street = places.search(demo, "storgatan")
    assert [h["name"] for h in street] == ["Storgatan 3", "Storgatan 12"]
    assert {h["kind"] for h in street} == {"address"}
    skara = [h["name"] for h in places.search(demo, "skara")]
    assert skara.index("Skara domkyrka") < skara.index("Skaraborgsgatan 1A")
    assert places.search(demo, "100%_") == []  # LIKE wildcards are literal


def test_the_demo_town_has_named_places(demo) -> None:
    """The demo's hot-spot places are searchable (the survey's "type a place" and the map's
    search find something on the demo), a second load keeps one of each, and an imported
    file replaces them."""
    from tryggkarta.demo import load_demo
    from tryggkarta.demo.generate import PLACES

    load_demo(demo)  # a real second load
    assert places.count_places(demo)["place"] == len(PLACES)
    hit = places.search(demo, "resecen")[0]
    assert hit["name"] == "Resecentrum" and hit["kind"] == "place"
    assert abs(hit["lon"] - 13.44) < 0.02 and abs(hit["lat"] - 58.38) < 0.02  # in Skara


def test_districts_are_found_without_any_import(demo) -> None:
    from tryggkarta.store import layer_frame

    names = layer_frame(demo, "areas", columns=["name", "kind"])
    district = names[names["kind"] == "district"]["name"].iloc[0]
    hits = places.search(demo, district[:4].lower())
    found = [h for h in hits if h["kind"] == "district"]
    assert found and found[0]["name"].lower().startswith(district[:4].lower())
    w, s, e, n = found[0]["bounds"]
    assert w < found[0]["lon"] < e and s < found[0]["lat"] < n


@pytest.mark.parametrize(
    ("content", "name", "kind", "message"),
    [
        ("foo;bar\n1;2\n", "a.csv", "place", "no name column for places"),
        ("namn;typ\nTorget;torg\n", "a.csv", "place", "no coordinates"),
        ("namn;lat;lon\nTorget;x;y\n", "a.csv", "place", "No row of a.csv is a usable place"),
        ("namn;lat;lon\nTorget;52.5;13.4\n", "a.csv", "place", "1 outside"),
        ("namn;lat;lon\n", "a.csv", "place", "no data rows"),
        ("namn;lat;lon\nTorget;58.38;13.43\n", "a.csv", "house", "Unknown kind of place"),
        ("gata;lat;lon\n;58.38;13.43\n", "a.csv", "address", "no name"),
        ("namn;x;y\nTorget;430000;6470000\n", "a.csv", "address", "no name column for addresses"),
    ],
)
def test_bad_places_files_are_refused(db, tmp_path, content, name, kind, message) -> None:
    path = tmp_path / name
    path.write_text(content, "utf-8")
    with pytest.raises(BadInput) as err:
        places.import_places(db, path, kind)
    assert message in err.value.message


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 400, "Skriv minst 2 tecken"),
        ("a", 400, "Skriv minst 2 tecken"),
        ("x" * 101, 400, "högst 100"),
        ("to\nrg", 400, "högst 100"),
        ("torg&limit=0", 400, "limit"),
        ("torg&limit=51", 400, "limit"),
        ("torg&limit=²", 400, "limit"),
    ],
)
def test_search_route_bad_input(client, query, status, message) -> None:
    r = client.get("/api/platser?q=" + query.replace("\n", "%0A"))
    assert r.status_code == status
    assert message in r.get_json()["description"]


def test_search_route_and_cli(client, demo, tmp_path, monkeypatch) -> None:
    csv = tmp_path / "platser.csv"
    csv.write_text(PLACES_CSV, "utf-8")
    from tryggkarta import cli

    monkeypatch.setattr(cli, "get_database", lambda **kw: demo)
    out = CliRunner().invoke(cli.main, ["places", "import", str(csv), "--kind", "place"])
    assert out.exit_code == 0, out.output
    assert (
        "4 places imported from platser.csv." in out.output and "skipped 1: no name" in out.output
    )
    bad = CliRunner().invoke(cli.main, ["places", "import", str(csv), "--kind", "slott"])
    assert bad.exit_code != 0
    body = client.get("/api/platser?q=torget").get_json()
    assert body["results"][0]["name"] == "Stora torget"
    assert set(body["results"][0]) == {"name", "kind", "category", "lon", "lat"}
    found = CliRunner().invoke(cli.main, ["places", "search", "domkyrka"])
    assert "Skara domkyrka" in found.output
