"""Hot-spot popups read as a user reads them: no Python reprs, the right noun, one trend
vocabulary (domain.Trend) with Swedish and English labels."""

from __future__ import annotations

import html
import re

import pytest

from tryggkarta.domain import TREND_LABELS, Trend, trend_key, trend_label
from tryggkarta.i18n import translate
from tryggkarta.maps.hotspots import hotspot_layer

SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[13.43, 58.38], [13.44, 58.38], [13.44, 58.39], [13.43, 58.39], [13.43, 58.38]]
    ],
}


def visible_text(popup: str) -> str:
    """The popup as its reader sees it: table rows as "label: value", list items on lines."""
    text = re.sub(r"<svg.*?</svg>", "[chart]", popup, flags=re.S)
    text = re.sub(r"</th>\s*<td>", ": ", text)
    text = re.sub(r"<[^>]+>", "\n", text)
    return "\n".join(line for line in html.unescape(text).replace("\xa0", " ").split("\n") if line)


def layer_popup(method: str, props: dict, lang: str = "sv") -> str:
    fc = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": SQUARE, "properties": props}],
    }
    ml = hotspot_layer(fc, method, "Titel", lambda s, **k: translate(s, lang, **k), lang)
    return visible_text(ml.layer.data["features"][0]["properties"]["_popup"])


#: A design hot spot as services.targets.design_layer writes it.
DESIGN = {
    "key": "D1_2",
    "name": "Centrum",
    "n_answers": 142,
    "n_unsafe": 98,
    "unsafe_share": 0.69,
    "reasons": [["folktomt", 0.58], ["grupper", 0.5], ["belysning", 0.01]],
    "incidents": {"klotter": 12, "narkotika": 30},
    "measures": [
        {
            "key": "belysning",
            "evidence_sv": "12 svar anger mörker",
            "evidence_en": "12 answers cite darkness",
            "strength": 0.4,
        }
    ],
    "count": 142,
}

#: A patrol hot spot as services.targets writes it.
PATROL = {
    "key": "P1_2",
    "name": "Öster",
    "count": 181,
    "trend": "up",
    "trend_label_sv": "ökar",
    "trend_label_en": "increasing",
    "peak_sv": "tor 16–22, lör 19–22",
    "peak_en": "Thu 16–22, Sat 19–22",
    "profile": [[0] * 24 for _ in range(7)],
}


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_design_popup_lists_measures_by_name_and_counts_survey_answers(lang: str) -> None:
    text = layer_popup("design", DESIGN, lang)
    assert "{" not in text and "'key'" not in text and "evidence" not in text
    if lang == "sv":
        assert "Antal enkätsvar: 142" in text and "Antal händelser" not in text
        assert "Bättre belysning" in text or "belysning" in text.lower()
        assert "12 svar anger mörker" in text
        assert "Narkotika: 30" in text and "69 %" in text
    else:
        assert "Survey answers: 142" in text and "incidents:" not in text.lower()
        assert "12 answers cite darkness" in text


@pytest.mark.parametrize(
    ("lang", "word", "when"), [("sv", "ökar", "tor 16–22"), ("en", "increasing", "Thu 16–22")]
)
def test_patrol_popup_shows_its_trend_and_when(lang: str, word: str, when: str) -> None:
    text = layer_popup("patrol", PATROL, lang)
    assert f"Trend: {word}" in text
    assert when in text


@pytest.mark.parametrize("old", ["okar", "ökar", "increasing", "rising", "up"])
def test_every_trend_word_in_use_maps_to_one_key(old: str) -> None:
    assert trend_key(old) is Trend.UP
    assert trend_label(old, "sv") == "ökar" and trend_label(old, "en") == "increasing"
    assert trend_key("minskar") is Trend.DOWN and trend_key("oforandrad") is Trend.FLAT
    assert trend_key("banan") is None and trend_label(None) == ""
    assert set(TREND_LABELS) == set(Trend)


def test_patrol_analysis_and_cells_share_the_vocabulary() -> None:
    from tryggkarta.analysis import patrol
    from tryggkarta.maps.builders import TREND_TEXT
    from tryggkarta.services.grids import trend_label as cell_trend

    assert set(TREND_TEXT) == {str(t) for t in Trend}
    assert {cell_trend(20, 10), cell_trend(5, 12), cell_trend(10, 11)} <= set(TREND_TEXT)
    assert patrol.TREND_LABELS is TREND_LABELS


def test_real_patrol_and_design_layers_read_well(sqlite_db) -> None:
    """The services' own output, through the map layer, as the map page shows it."""
    from tests.demodata import demo_into
    from tryggkarta.services.targets import design_layer, patrol_layer

    demo_into(sqlite_db)
    t = lambda s, **k: translate(s, "sv", **k)  # noqa: E731
    patrol = hotspot_layer(patrol_layer(sqlite_db).geojson, "patrol", "Patrull", t, "sv")
    for feature in patrol.layer.data["features"]:
        text = visible_text(feature["properties"]["_popup"])
        assert re.search(r"^Trend: (ökar|minskar|oförändrad)$", text, re.M), text
        assert re.search(r"^När: \w", text, re.M), text
    design = hotspot_layer(design_layer(sqlite_db).geojson, "design", "Gestaltning", t, "sv")
    assert design.layer.data["features"]
    for feature in design.layer.data["features"]:
        text = visible_text(feature["properties"]["_popup"])
        assert "{" not in text and "Antal händelser" not in text
        assert re.search(r"^Antal enkätsvar: \d", text, re.M), text


def test_published_reason_bands_read_as_text() -> None:
    """Roles below raw detail get reasons as (key, band middle, band text): shown as the band."""
    from tryggkarta.maps.hotspots import _reason_items

    items = _reason_items([["belysning", 0.35, "30–40 %"], ["folktomt", None, None]], "sv")
    assert items == ["Dålig belysning (30–40 %)", "Folktomt"]
