"""Survey results as published: reasons and times of day by district through the disclosure
rule, the comparison with the previous campaign in the same area, and the exports."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
import shapely
from openpyxl import load_workbook
from sqlalchemy import select

from tests.test_survey_service import TOWN, add_district, lonlat, make_campaign, parse, pin_form
from tryggkarta.disclosure import Rule
from tryggkarta.services import survey as sv
from tryggkarta.services import survey_exports, survey_results
from tryggkarta.store import SurveyResponse

RULE = Rule(5, 5)


def answer_many(s, campaign, points, *, rating=1, reasons=("belysning",), tod="kvall", tag="a"):
    """One stored answer (one pin) per point."""
    for i, xy in enumerate(points):
        lon, lat = lonlat(xy)
        form = pin_form(
            {"lat": lat, "lon": lon, "rating": rating, "reasons": list(reasons), "time_of_day": tod}
        )
        form["submission_id"] = f"{tag}-answer-{i:012d}"
        sv.store_answer(s, campaign, parse(s, campaign, form))
    s.flush()


def near(centre, n, step=10.0):
    return [(centre[0] + step * (i % 5), centre[1] + step * (i // 5)) for i in range(n)]


WEST = (TOWN[0] - 1000, TOWN[1])
#: Inside one 250 m release cell of the town centre (the grid is anchored at 0/0).
CELL = (408_625.0, 6_472_625.0)
EAST = (TOWN[0] + 1000, TOWN[1])


def test_reasons_and_times_by_district_are_published_values(db) -> None:
    with db.session() as s:
        west = add_district(s, "Väster", WEST)
        add_district(s, "Öster", EAST)
        c = make_campaign(s)
        answer_many(s, c, near(WEST, 8), tag="w1")  # 8 unsafe, lighting, evening
        answer_many(s, c, near(WEST, 3), rating=5, reasons=(), tod="dag", tag="w2")
        answer_many(s, c, near(EAST, 3), reasons=("vegetation",), tod="natt", tag="e")
        parts = survey_results.breakdown(s, c, RULE, 3006)
        s.commit()
    assert parts.total == 15  # 14 answers rounded to a multiple of 5
    assert parts.unsafe == 10  # 11 → 10
    assert parts.reasons["belysning"] == 10 and parts.reasons["vegetation"] is None
    assert parts.times["kvall"] == (10, 10, (0.5, 1.0))  # 8 of 8: the rest (0) is below k
    assert parts.times["natt"] == (None, None, None)
    by_name = {d.name: d for d in parts.districts}
    assert list(by_name) == ["Väster", "Öster"]
    w = by_name["Väster"]
    assert w.area_id == west.id and w.n == 10  # 11 → 10
    assert w.band == (0.5, 1.0)  # 8 unsafe of 11: only the unsafe side reaches k
    assert w.reasons["belysning"] == 10 and w.reasons["vegetation"] is None
    assert w.times == {"dag": None, "kvall": 10, "natt": None}
    e = by_name["Öster"]  # three answers: nothing published, zero included
    assert e.n is None and e.band is None and set(e.reasons.values()) == {None}


def test_a_raw_rule_gives_the_counts_as_they_are(db) -> None:
    with db.session() as s:
        add_district(s, "Väster", WEST)
        c = make_campaign(s)
        answer_many(s, c, near(WEST, 3), tag="w")
        parts = survey_results.breakdown(s, c, Rule(1, 1), 3006)
    assert parts.total == 3 and parts.districts[0].n == 3
    assert parts.districts[0].band == (1.0, 1.0)


def test_the_previous_campaign_in_the_same_area_is_compared_in_published_values(db) -> None:
    with db.session() as s:
        add_district(s, "Väster", WEST)
        add_district(s, "Öster", EAST)
        before = make_campaign(
            s, title="Trygg 2025", starts_on=date(2025, 3, 1), ends_on=date(2025, 4, 1)
        )
        answer_many(s, before, near(WEST, 12), tag="b")
        other = make_campaign(  # later, but another municipality's: not compared
            s,
            title="Falköping 2025",
            starts_on=date(2025, 9, 1),
            ends_on=date(2025, 10, 1),
            municipality_code="1499",
        )
        now = make_campaign(s, title="Trygg 2026")
        answer_many(s, now, near(WEST, 6), tag="n")
        answer_many(s, now, near(EAST, 7), tag="ne")
        assert survey_results.previous_campaign(s, now, 3006).id == before.id
        assert survey_results.previous_campaign(s, before, 3006) is None
        assert other.id != before.id
        rows = survey_results.comparison(
            survey_results.breakdown(s, now, RULE, 3006),
            survey_results.breakdown(s, before, RULE, 3006),
        )
    assert rows == [
        {
            "name": "Väster",
            "now": 5,
            "before": 10,
            "change": -5,
            "band_now": (0.5, 1.0),
            "band_before": (0.5, 1.0),
        },
        {
            "name": "Öster",
            "now": 5,
            "before": None,
            "change": None,
            "band_now": (0.5, 1.0),
            "band_before": None,
        },
    ]


def test_a_campaign_elsewhere_is_not_the_previous_one(db) -> None:
    with db.session() as s:
        west = add_district(s, "Väster", WEST)
        east = add_district(s, "Öster", EAST)
        make_campaign(
            s,
            title="Öster 2025",
            area_ids=[east.id],
            starts_on=date(2025, 3, 1),
            ends_on=date(2025, 4, 1),
        )
        now = make_campaign(s, title="Väster 2026", area_ids=[west.id])
        assert survey_results.previous_campaign(s, now, 3006) is None


def test_answers_geojson_has_pins_and_routes_without_held_comments_age_or_gender(db) -> None:
    with db.session() as s:
        c = make_campaign(s)
        lon, lat = lonlat(TOWN)
        lon2, lat2 = lonlat((TOWN[0] + 300, TOWN[1] + 100))
        form = pin_form(
            {"lat": lat, "lon": lon, "rating": 1, "comment": "Ring 070-123 45 67"},
            {"lat": lat2, "lon": lon2, "rating": 2, "comment": "Mörkt vid tunneln"},
            age_band="45-64",
            route=json.dumps([[lat, lon], [lat2, lon2]]),
        )
        sv.store_answer(s, c, parse(s, c, form))
        s.flush()
        frame = survey_results.campaign_frame(s, c)
        data = survey_exports.answers_geojson(frame, survey_exports.routes(s, c), 3006)
    kinds = [f["properties"]["kind"] for f in data["features"]]
    assert kinds == ["pin", "pin", "route"]
    text = json.dumps(data, ensure_ascii=False)
    assert "070-123" not in text and "Mörkt vid tunneln" in text
    assert "45-64" not in text and "age_band" not in text and "gender" not in text
    route = data["features"][2]["geometry"]
    assert route["type"] == "LineString"
    assert route["coordinates"][0] == pytest.approx([lon, lat], abs=1e-6)


def test_answers_xlsx_keeps_numbers_and_is_formula_safe(db) -> None:
    with db.session() as s:
        c = make_campaign(s)
        lon, lat = lonlat(TOWN)
        form = pin_form({"lat": lat, "lon": lon, "rating": 2, "comment": "=HYPERLINK(1)"})
        sv.store_answer(s, c, parse(s, c, form))
        s.flush()
        frame = survey_results.campaign_frame(s, c)
    body = survey_exports.answers_xlsx(survey_results.answers_csv(frame, 3006, _tz()))
    ws = load_workbook(io.BytesIO(body)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:3] == ("id", "svarat", "betyg")
    header = list(rows[0])
    row = dict(zip(header, rows[1], strict=True))
    assert row["betyg"] == 2 and isinstance(row["lat"], float)
    assert row["lat"] == pytest.approx(lat, abs=1e-6)
    assert row["kommentar"] == "'=HYPERLINK(1)"  # text, never a formula
    cell = ws.cell(row=2, column=header.index("kommentar") + 1)
    assert cell.data_type == "s"


def test_result_geojson_holds_only_published_cells(db) -> None:
    with db.session() as s:
        c = make_campaign(s)
        answer_many(s, c, near(CELL, 7, step=5.0), tag="c")
        answer_many(s, c, [(TOWN[0] + 3000, TOWN[1])], tag="far")
        frame = survey_results.campaign_frame(s, c)
    cells, suppressed = survey_results.released_cells(frame, RULE, 3006)
    data = survey_exports.result_geojson(cells, 3006)
    assert suppressed == 1 and len(data["features"]) == 1
    props = data["features"][0]["properties"]
    assert props == {"answers": 5, "unsafe_share": "50–100 %"}
    square = shapely.geometry.shape(data["features"][0]["geometry"])
    assert square.geom_type == "Polygon" and len(square.exterior.coords) == 5


def _tz():
    from tryggkarta.config import local_timezone

    return local_timezone()


def test_routes_are_stored_once_per_answer(db) -> None:
    with db.session() as s:
        c = make_campaign(s)
        lon, lat = lonlat(TOWN)
        lon2, lat2 = lonlat((TOWN[0] + 200, TOWN[1]))
        form = pin_form(
            {"lat": lat, "lon": lon, "rating": 1},
            {"lat": lat2, "lon": lon2, "rating": 3},
            route=json.dumps([[lat, lon], [lat2, lon2]]),
        )
        sv.store_answer(s, c, parse(s, c, form))
        s.flush()
        stored = s.scalars(select(SurveyResponse.route_wkb).order_by(SurveyResponse.id)).all()
    assert stored[1] is None
    line = shapely.from_wkb(stored[0])
    assert line.geom_type == "LineString" and line.length == pytest.approx(200.0, abs=0.5)


def test_a_campaign_without_answers_publishes_nothing(db) -> None:
    with db.session() as s:
        add_district(s, "Väster", WEST)
        c = make_campaign(s)
        parts = survey_results.breakdown(s, c, RULE, 3006)
        cells = survey_results.released_cells(survey_results.campaign_frame(s, c), RULE, 3006)
    assert parts.total is None and parts.band is None and parts.times["dag"] == (None, None, None)
    assert [(d.name, d.n) for d in parts.districts] == [("Väster", None)]
    assert cells == ([], 0)
