"""One registry of hot-spot methods (issue #12.5): every module reads the same list, and
every method renders in the legend, the popup, the API and — when published — OGC."""

from __future__ import annotations

import pytest

from tryggkarta import hotspot_methods, policy
from tryggkarta.hotspot_methods import KEYS, METHODS, TRENDS
from tryggkarta.i18n import catalogue, translate

SAMPLE = {
    "count": 12,
    "score": 3.5,
    "rank": 1,
    "class": 3,
    "z": 3.2,
    "density": 0.4,
    "hotspot": True,
    "category": "intensifying",
    "trend": "up",
    "name": "Centrum",
    "profile": [[0] * 24 for _ in range(7)],
    "peak_sv": "fre 22–02",
    "peak_en": "Fri 22–02",
    "top_category": "klotter",
    "n_answers": 14,
    "unsafe_share": 0.6,
    "reasons": [["morkt", 0.5]],
    "incidents": {"klotter": 6},
    "measures": ["belysning"],
}
SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[13.43, 58.38], [13.44, 58.38], [13.44, 58.39], [13.43, 58.39], [13.43, 58.38]]
    ],
}


def test_every_module_reads_the_one_list():
    from tryggkarta.maps.hotspots import METHODS as MAP_METHODS
    from tryggkarta.web.mapview import HOTSPOT_METHODS

    assert KEYS == ("forecast", "gistar", "kde", "emerging", "patrol", "design")
    assert MAP_METHODS == HOTSPOT_METHODS == KEYS == tuple(policy.HOTSPOT_LAYERS)
    assert policy.RAW_ONLY_METHODS == {"patrol"}
    assert TRENDS == ("up", "down", "flat")
    english = catalogue("en")
    for m in METHODS.values():
        assert m.legend == "" or m.legend in english, m.key
        assert set(m.popup_fields) <= set(SAMPLE), m.key
    from tryggkarta.analysis.forecasting import default_candidates

    assert {c.method for c in default_candidates(gbm=True)} <= set(hotspot_methods.CANDIDATES)
    with pytest.raises(ValueError, match="choose one of forecast, gistar"):
        hotspot_methods.method("nope")


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_every_method_renders_in_the_legend_and_the_popup(key, lang):
    from tryggkarta.maps import builders, hotspot_layer, lazy_hotspot_layer

    def t(text: str, **params: object) -> str:
        return translate(text, lang, **params)

    m = METHODS[key]
    title = m.title(lang)
    fc = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": SQUARE, "properties": dict(SAMPLE)}],
    }
    layer = hotspot_layer(fc, key, title, t, lang)
    assert layer.legend.title == title and layer.legend.items
    assert all(label for _, label in layer.legend.items)
    if m.legend:
        assert layer.legend.items[0][1] == t(m.legend)
    props = layer.layer.payload()["features"][0]["properties"]
    popup = props.get("_popup", "")
    assert popup or "_c" in props
    if m.trend:  # one vocabulary: the popup says the trend
        trend = t(builders.TREND_TEXT["up"])
        assert trend in popup or props.get("trend") == "up"
    lazy = lazy_hotspot_layer(key, title, f"/api/hotspots/{key}", t, note="N")
    assert lazy.legend.title == title and lazy.legend.note.endswith("N")


def test_every_method_is_served_by_the_api_and_published_ones_by_ogc(client, auth, demo_db):
    from tryggkarta.services.forecast import forecast_layer

    forecast_layer(demo_db)  # the API would compute it on demand; done here once
    auth.login("police")
    for key in KEYS:
        body = client.get(f"/api/hotspots/{key}?lang=en").get_json()
        assert body["tk"]["popup"]["title"] == METHODS[key].title_en, key
    published = [m for m in METHODS.values() if m.collection]
    assert {m.key for m in published} == {"forecast", "gistar", "patrol", "design"}
    for m in published:
        info = client.get(f"/ogc/collections/{m.collection}")
        assert info.status_code == 200, m.key
        assert info.json["title"] in (m.title_sv, m.title_en)
        assert client.get(f"/ogc/collections/{m.collection}/items?limit=5").status_code == 200


def test_no_module_spells_the_trends_itself():
    """Trends are :class:`tryggkarta.domain.Trend` members (the registry's ``TRENDS``): no
    module returns or compares the bare words, so a renamed trend cannot drift apart."""
    import re
    from pathlib import Path

    root = Path(hotspot_methods.__file__).resolve().parent
    spelled = re.compile(r"(return|==|!=|in \(|: )\s*[\"'](up|down|flat)[\"']")
    offenders = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if p.name != "domain.py" and spelled.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
