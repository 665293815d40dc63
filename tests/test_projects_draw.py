"""Nytt projekt: an area drawn in the browser, checked on the server, saved with its dates."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from sqlalchemy import select

from tryggkarta.errors import BadInput
from tryggkarta.services import projectdraw
from tryggkarta.store import AuditLog, Project

#: A 200 m square in Skara's centre (WGS84), well inside the municipality.
SQUARE = [
    [13.435, 58.385],
    [13.4385, 58.385],
    [13.4385, 58.3868],
    [13.435, 58.3868],
    [13.435, 58.385],
]


def fc(*rings: list) -> str:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {},
                    "geometry": {"type": "Polygon", "coordinates": [r]},
                }
                for r in rings
            ],
        }
    )


@pytest.fixture
def demo(db):
    from tests.demodata import demo_into

    demo_into(db)
    return db


def _form(**extra: str) -> dict[str, str]:
    form = {
        "name": "Ny park vid stationen",
        "case_number": "SBN 2026/77",
        "kind": "park",
        "status": "planerad",
        "start": "2027-03-01",
        "end": "2027-10-31",
        "geometry": fc(SQUARE),
    }
    form.update(extra)
    return form


def test_a_drawn_project_is_saved_with_its_dates_and_checked(client, auth, demo) -> None:
    auth.login("planner")
    page = client.get("/projekt/nytt").get_data(as_text=True)
    assert 'id="draw-map"' in page and "leaflet-geoman.min.js" in page
    r = client.post("/projekt/nytt", data=_form())
    assert r.status_code == 302 and "/kontroll" in r.headers["Location"]
    with demo.session() as s:
        p = s.scalar(select(Project).where(Project.name == "Ny park vid stationen"))
        assert p.start_date.isoformat() == "2027-03-01" and p.end_date.isoformat() == "2027-10-31"
        assert p.kind == "park" and p.case_number == "SBN 2026/77" and p.dataset_id is None
        area = shapely.from_wkb(p.geom_wkb).area
        assert 40_000 < area < 45_000  # ~205 m × 200 m in SWEREF 99 TM
        assert s.scalar(select(AuditLog).where(AuditLog.action == "project_create"))
    check = client.get(r.headers["Location"])
    assert check.status_code == 200 and "Ny park vid stationen" in check.get_data(as_text=True)
    assert "Ny park vid stationen" in client.get("/projekt/").get_data(as_text=True)


BOWTIE = [
    [13.435, 58.385],
    [13.4385, 58.3868],
    [13.4385, 58.385],
    [13.435, 58.3868],
    [13.435, 58.385],
]
STOCKHOLM = [[18.0, 59.3], [18.01, 59.3], [18.01, 59.31], [18.0, 59.3]]
HALF_OUT = [[13.43, 58.38], [14.6, 58.38], [14.6, 58.39], [13.43, 58.38]]


def _circle(n: int) -> list:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.column_stack([13.437 + 0.003 * np.cos(a), 58.386 + 0.0015 * np.sin(a)]).tolist()
    return [*ring, ring[0]]


#: Skara's surroundings as a stand-in boundary (SWEREF 99 TM): the web test uses the real one.
BOX = shapely.box(420_000, 6_450_000, 450_000, 6_490_000)


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ("", "Rita projektets yta på kartan innan du sparar."),
        ("{not json", "Ritningen kunde inte läsas. Rita ytan igen."),
        (
            '{"type": "Polygon", "coordinates": [[[NaN, 1], [2, 3], [4, 5], [NaN, 1]]]}',
            "Ritningen kunde inte läsas",
        ),
        ('{"type": "Polygon", "coordinates": "x"}', "Ritningen kunde inte läsas"),
        ('{"type": "FeatureCollection", "features": []}', "Rita projektets yta"),
        ("[1, 2]", "Projektet ska vara en yta"),
        (
            json.dumps({"type": "LineString", "coordinates": SQUARE}),
            "Projektet ska vara en yta (polygon), inte en linje eller punkt.",
        ),
        (fc(BOWTIE), "Ytans kanter korsar varandra."),
        (fc(_circle(2100)), "Ytan har för många hörn (2100; högst 2000)."),
        (fc(STOCKHOLM), "Ytan ligger utanför kommunen."),
        (fc(HALF_OUT), "Ytan sträcker sig utanför kommunen."),
        (
            fc([[400000, 6470000], [400100, 6470000], [400100, 6470100], [400000, 6470000]]),
            "Ritningen ska vara i grader",
        ),
        (fc([[13.435, 58.385]] * 4), "Ytan"),
    ],
)
def test_bad_drawings_are_refused_with_a_sentence(geometry: str, message: str) -> None:
    with pytest.raises(BadInput) as err:
        projectdraw.parse_drawn_area(geometry, 3006, BOX)
    assert message in err.value.message


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"name": " "}, "Ge projektet ett namn."),
        ({"name": "x" * 301}, "Namnet får vara högst 300 tecken."),
        ({"kind": "slott"}, "Okänd projekttyp: slott."),
        ({"status": "<b>"}, "Okänd status: <b>."),
        ({"start": "2027-11-01", "end": "2027-10-31"}, "baklänges"),
        ({"end": "9999-12-31"}, "9999-12-31"),
        ({"start": "2027-02-30"}, "Ogiltigt datum"),
        ({"case_number": "1" * 101}, "Diarienumret får vara högst 100 tecken."),
    ],
)
def test_bad_fields_are_refused_with_a_sentence(extra: dict, message: str) -> None:
    with pytest.raises(BadInput) as err:
        projectdraw.parse_fields(_form(**extra))
    assert message in err.value.message


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"geometry": fc(BOWTIE)}, "Ytans kanter korsar varandra."),
        ({"geometry": fc(HALF_OUT)}, "Ytan sträcker sig utanför kommunen."),
        ({"kind": "slott"}, "Okänd projekttyp: slott."),
    ],
)
def test_the_form_answers_400_and_keeps_what_was_typed(client, auth, demo, extra, message) -> None:
    auth.login("planner")
    r = client.post("/projekt/nytt", data=_form(**extra))
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and message in html
    assert 'role="alert"' in html and 'value="Ny park vid stationen"' in html
    with demo.session() as s:
        assert s.scalar(select(Project).where(Project.dedup_key.like("drawn:%"))) is None


def test_messages_in_english_and_only_editors_may_draw(client, auth, demo) -> None:
    auth.login("planner")
    r = client.post("/projekt/nytt?lang=en", data=_form(geometry=fc(BOWTIE)))
    assert "The area&#39;s edges cross each other" in r.get_data(as_text=True) or (
        "The area's edges cross each other" in r.get_data(as_text=True)
    )
    auth.logout()
    auth.login("police")  # reads projects, does not edit them
    assert client.get("/projekt/nytt").status_code == 403
    assert client.post("/projekt/nytt", data=_form()).status_code == 403


def test_parse_drawn_area_without_a_boundary_and_multipolygons() -> None:
    geom = projectdraw.parse_drawn_area(
        json.dumps({"type": "MultiPolygon", "coordinates": [[SQUARE]]}), 3006, None
    )
    assert geom.geom_type == "MultiPolygon" and geom.area > 40_000
    two = projectdraw.parse_drawn_area(
        fc(SQUARE, [[c[0] + 0.01, c[1]] for c in SQUARE]), 3006, None
    )
    assert shapely.get_num_geometries(two) == 2
    with pytest.raises(BadInput, match="för stor"):
        projectdraw.parse_drawn_area(" " * 100_001 + "{}", 3006, None)
