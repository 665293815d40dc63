"""tryggkarta.maps: local assets, escaping, k-suppression, grids, query parsing (no Flask)."""

from __future__ import annotations

import re

import folium
import numpy as np
import pytest
from folium.plugins import HeatMap

from tryggkarta.errors import BadInput
from tryggkarta.geo import parse_region
from tryggkarta.maps import areas, build_map, hotspot_layer, incident_cells, projects, render_parts
from tryggkarta.maps.assets import localize, resolve
from tryggkarta.maps.popups import profile_svg
from tryggkarta.services.grids import (
    cells_geojson,
    grid_for_extent,
    top_reasons_per_cell,
    trend_label,
)
from tryggkarta.store.grid import GridSpec
from tryggkarta.web.query import parse_query

TILE = "https://tile.example.org/{z}/{x}/{y}.png"
EVIL = "<script>alert('x')</script>"


def t(text: str, **params: object) -> str:
    return text % params if params else text


def square(lon: float, lat: float, d: float = 0.002) -> dict:
    ring = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def fc(*features: tuple[dict, dict]) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": g, "properties": p} for g, p in features],
    }


def remote_urls(html: str) -> set[str]:
    return set(re.findall(r"""(?:src|href)=["'](https?:)?//[^"']+""", html))


def test_map_header_has_only_local_assets() -> None:
    layer = incident_cells(
        fc((square(13.43, 58.38), {"count": 7, "trend": "up", "categories": {"klotter": 7}})),
        t,
        "sv",
    )
    parts = render_parts(
        build_map(
            [layer], bounds=(13.4, 58.37, 13.46, 58.4), tile_url=TILE, tile_attribution="x", t=t
        ),
        [layer],
    )
    page = parts.header + parts.html + parts.script
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", page)
    assert "/vendor/leaflet/leaflet.js" in parts.header
    assert "bootstrap" not in page.lower()
    # the only absolute URL left is the tile template
    assert set(re.findall(r"https?://[^\"' ]+", page)) == {TILE}


def test_localize_replaces_plugin_cdns_and_refuses_unknown_ones() -> None:
    m = folium.Map(tiles=None)
    HeatMap([[58.38, 13.43, 1.0]]).add_to(m)
    localize(m)
    html = m.get_root().render()
    assert "/vendor/leaflet-heat/leaflet-heat.js" in html
    assert not re.search(r"""(?:src|href)=["']https?://""", html)

    class Plugin(folium.MacroElement):
        default_js = [("unknown", "https://cdn.example.org/x.js")]

    m2 = folium.Map(tiles=None)
    Plugin().add_to(m2)
    with pytest.raises(ValueError, match="No local copy"):
        localize(m2)


def test_vendor_paths_stay_inside_the_package() -> None:
    assert resolve("leaflet", "leaflet.js") is not None
    assert resolve("leaflet", "../../../../etc/passwd") is None
    assert resolve("leaflet", "/etc/passwd") is None
    assert resolve("nope", "x.js") is None


def test_popups_escape_names_and_descriptions() -> None:
    proj = projects(
        fc(
            (
                square(13.43, 58.38),
                {"name": EVIL, "description": EVIL, "kind": "park", "status": "planerad"},
            )
        ),
        t,
        "sv",
    )
    area = areas(fc((square(13.43, 58.38), {"name": EVIL, "kind": "district"})), t, "sv")
    for layer in (proj, area):
        props = layer.layer.data["features"][0]["properties"]
        assert "<script>" not in props["_popup"] and "&lt;script&gt;" in props["_popup"]
        assert "<script>" not in props["_tip"]
    parts = render_parts(
        build_map([proj, area], bounds=None, tile_url=TILE, tile_attribution="x", t=t)
    )
    assert "<script>alert" not in parts.script


def test_hotspot_popup_has_profile_chart_measures_and_drops_insignificant_cells() -> None:
    profile = [[0] * 24 for _ in range(7)]
    profile[4][21] = 9
    profile[5][22] = 3
    data = fc(
        (
            square(13.43, 58.38),
            {
                "class": 3,
                "z": 3.4,
                "count": 12,
                "profile": profile,
                "measures": ["belysning"],
                "name": EVIL,
            },
        ),
        (square(13.44, 58.38), {"class": 0, "z": 0.1, "count": 2}),
    )
    layer = hotspot_layer(data, "gistar", "Gi*", t, "sv")
    feats = layer.layer.data["features"]
    assert len(feats) == 1
    popup = feats[0]["properties"]["_popup"]
    assert popup.count("<rect") == 2 and "<svg" in popup
    assert "Bättre belysning" in popup and "&lt;script&gt;" in popup
    assert [label for _, label in layer.legend.items] == ["Het punkt, 99 %"]


def test_hotspot_k_filter_for_aggregated_roles() -> None:
    data = fc(
        (square(13.43, 58.38), {"class": 3, "count": 4}),
        (square(13.44, 58.38), {"class": 2, "count": 5}),
    )
    assert hotspot_layer(data, "gistar", "Gi*", t, "sv", min_count=5).features == 1
    assert hotspot_layer(data, "gistar", "Gi*", t, "sv", min_count=1).features == 2


def test_profile_svg_rejects_wrong_shapes() -> None:
    assert profile_svg([[1] * 24] * 6) == ""
    assert profile_svg([[0] * 24] * 7).count("<rect") == 0


def test_cells_geojson_suppresses_cells_below_k() -> None:
    grid = GridSpec(400_000.0, 6_470_000.0, 250.0, 3, 2)
    counts = np.array([[4, 5, 0], [0, 0, 1]])
    public = cells_geojson(counts, grid, 3006, min_count=5)
    assert [f["properties"]["count"] for f in public["features"]] == [5]
    police = cells_geojson(counts, grid, 3006, min_count=1)
    assert sorted(f["properties"]["count"] for f in police["features"]) == [1, 4, 5]
    ring = public["features"][0]["geometry"]["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1] and 10 < ring[0][0] < 25 and 55 < ring[0][1] < 70


def test_grid_for_extent_snaps_and_caps() -> None:
    grid = grid_for_extent((400_010.0, 6_470_020.0, 401_000.0, 6_471_000.0), 250)
    assert (grid.x0, grid.y0, grid.cell_size) == (400_000.0, 6_470_000.0, 250.0)
    assert grid.x0 + grid.nx * grid.cell_size > 401_000.0
    big = grid_for_extent((0.0, 0.0, 1_000_000.0, 1_000_000.0), 50, max_cells=10_000)
    assert big.nx * big.ny <= 10_000


def test_top_reasons_and_trend() -> None:
    grid = GridSpec(0.0, 0.0, 100.0, 2, 1)
    top = top_reasons_per_cell(
        grid,
        np.array([10, 20, 30, 150]),
        np.array([5, 5, 5, 5]),
        ["belysning,folktomt", "belysning", "", "trafik"],
    )
    assert top == {0: [("belysning", 2), ("folktomt", 1)], 1: [("trafik", 1)]}
    assert (trend_label(20, 10), trend_label(5, 12), trend_label(10, 11)) == ("up", "down", "flat")


REGION = parse_region("SE")


def q(**args: object):
    return parse_query(args, region=REGION, srid=3006, t=t, known_layers=("incidents", "areas"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"from": "2026-13-01"},
            "Ogiltigt datum i 'from': 2026-13-01. Skriv datum som ÅÅÅÅ-MM-DD.",
        ),
        ({"to": "igår"}, "Ogiltigt datum i 'to': igår. Skriv datum som ÅÅÅÅ-MM-DD."),
        (
            {"from": "2026-05-01", "to": "2026-01-01"},
            "Datumintervallet är baklänges: 'från' (2026-05-01) ligger efter 'till' (2026-01-01).",
        ),
        ({"cat": "bilbrand"}, "Okänd kategori: bilbrand. Giltiga: "),
        ({"weekday": "7"}, "Ogiltigt värde i 'weekday': 7. Tillåtet: 0–6."),
        ({"hour": "-1"}, "Ogiltigt värde i 'hour': -1. Tillåtet: 0–23."),
        ({"bbox": "1,2,3"}, "Ogiltig bbox: ange minlon,minlat,maxlon,maxlat i WGS84"),
        ({"bbox": "2.0,48.0,2.5,48.5"}, "Området (bbox) ligger utanför Sverige."),
        ({"layers": "incidents,secret"}, "Okänt lager: secret. Giltiga: incidents, areas."),
        ({"cell": "10"}, "Ogiltigt värde i 'cell': 10. Tillåtet: 50–2000."),
    ],
)
def test_bad_query_parameters(args: dict, message: str) -> None:
    with pytest.raises(BadInput) as err:
        q(**args)
    assert err.value.message.startswith(message)
    assert err.value.http_status == 400


def test_good_query_builds_store_filters() -> None:
    query = q(
        **{
            "from": "2026-01-01",
            "to": "2026-01-31",
            "cat": "klotter,skadegorelse",
            "weekday": "4",
            "hour": "20",
            "bbox": "13.3,58.3,13.5,58.45",
        }
    )
    f = query.filters
    assert f.categories == ("klotter", "skadegorelse") and f.weekdays == (4,) and f.hours == (20,)
    assert f.start.isoformat().startswith("2026-01-01T00:00") and f.end.isoformat().startswith(
        "2026-02-01T00:00"
    )
    assert (
        380_000 < f.bbox[0] < f.bbox[2] < 420_000 and 6_460_000 < f.bbox[1] < f.bbox[3] < 6_490_000
    )


def test_count_legend_has_non_overlapping_integer_ranges() -> None:
    data = fc(
        *[
            (square(13.43 + i * 0.003, 58.38), {"count": n})
            for i, n in enumerate([1, 1, 1, 2, 3, 4, 6, 9, 20, 50])
        ]
    )
    labels = [label for _, label in incident_cells(data, t, "sv").legend.items]
    lows = [int(label.split("–")[0]) for label in labels]
    highs = [int(label.split("–")[-1]) for label in labels]
    assert lows[0] == 1 and highs[-1] == 50
    assert all(lo == hi + 1 for lo, hi in zip(lows[1:], highs[:-1], strict=False))
