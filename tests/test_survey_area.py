"""A campaign's drawn area and a resident's walking route: parsing, validation, the form."""

from __future__ import annotations

import json

import pytest
import shapely

from tests.test_survey_service import TOWN, lonlat, make_campaign, parse, pin_form
from tryggkarta import geo
from tryggkarta.services import survey as sv


def corners(*xys: tuple[float, float]) -> str:
    """Typed corners, one ``lat, lon`` per line (what the textarea holds)."""
    return "\n".join(f"{lonlat(xy)[1]:.6f}, {lonlat(xy)[0]:.6f}" for xy in xys)


def square(centre=TOWN, half=500.0) -> list[tuple[float, float]]:
    x, y = centre
    return [(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half)]


SKARA = geo.municipality("1495", 3006)


def test_a_typed_area_becomes_a_polygon_in_the_working_crs() -> None:
    wkb = sv.parse_area(corners(*square()), 3006, SKARA)
    polygon = shapely.from_wkb(wkb)
    assert polygon.area == pytest.approx(1_000_000, rel=1e-3)
    assert polygon.contains(shapely.Point(TOWN))


def test_map_json_and_decimal_commas_are_read_too() -> None:
    pts = [lonlat(xy) for xy in square()]
    as_json = json.dumps([[lat, lon] for lon, lat in pts])
    commas = "\n".join(
        f"{lat:.5f}".replace(".", ",") + " " + f"{lon:.5f}".replace(".", ",") for lon, lat in pts
    )
    a = shapely.from_wkb(sv.parse_area(as_json, 3006, SKARA))
    b = shapely.from_wkb(sv.parse_area(commas, 3006, SKARA))
    assert a.area == pytest.approx(b.area, rel=1e-3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "kunde inte läsas"),
        ("hej", "kunde inte läsas"),
        ("58.39, 13.44\n58.40", "kunde inte läsas"),
        ("58.39, 13.44\n58.40, 13.45", "minst tre hörn"),
        ('[[58.39, 13.44], [58.4, "x"], [58.41, 13.44]]', "kunde inte läsas"),
        ("[[95, 13.44], [58.4, 13.45], [58.41, 13.44]]", "kunde inte läsas"),
        ("[[NaN, 13.44], [58.4, 13.45], [58.41, 13.44]]", "kunde inte läsas"),
        ("\n".join(["58.39, 13.44"] * 502), "kunde inte läsas"),
        ("x" * 100_000, "kunde inte läsas"),
    ],
)
def test_unreadable_areas_are_refused(text: str, message: str) -> None:
    with pytest.raises(sv.SurveyInputError) as err:
        sv.parse_area(text, 3006, SKARA)
    assert message in err.value.errors["area_polygon"]


def test_a_bow_tie_a_tiny_area_and_one_outside_the_municipality_are_refused() -> None:
    a, b, c, d = square()
    with pytest.raises(sv.SurveyInputError, match="korsar sig själv"):
        sv.parse_area(corners(a, c, b, d), 3006, SKARA)
    with pytest.raises(sv.SurveyInputError, match="för litet"):
        sv.parse_area(corners(*square(half=40)), 3006, SKARA)
    with pytest.raises(sv.SurveyInputError, match="inom kommunen"):
        sv.parse_area(corners(*square((TOWN[0] + 30_000, TOWN[1]))), 3006, SKARA)


def test_pins_and_routes_outside_a_drawn_area_are_refused(db) -> None:
    with db.session() as s:
        c = make_campaign(s, area_wkb=sv.parse_area(corners(*square()), 3006, SKARA))
        assert c.area_ids == []
        lon, lat = lonlat(TOWN)
        far_lon, far_lat = lonlat((TOWN[0] + 800, TOWN[1]))  # in Skara, outside the square
        with pytest.raises(sv.SurveyInputError) as err:
            parse(s, c, pin_form({"lat": far_lat, "lon": far_lon, "rating": 2}))
        assert "utanför enkätens område" in err.value.errors["pin-0-place"]
        route = json.dumps([[lat, lon], [far_lat, far_lon]])
        with pytest.raises(sv.SurveyInputError) as err:
            parse(s, c, pin_form({"lat": lat, "lon": lon, "rating": 2}, route=route))
        assert err.value.errors == {
            "route": "Gångvägen går utanför enkätens område. Rita den inom området."
        }
        answer = parse(s, c, pin_form({"lat": lat, "lon": lon, "rating": 2}))
        assert answer.route_wkb is None


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ("[[58.39, 13.44]]", "minst två punkter"),
        ("[[58.39, 13.44], [58.39]]", "kunde inte läsas"),
        ('{"a": 1}', "kunde inte läsas"),
        ("<script>", "kunde inte läsas"),
        (json.dumps([[58.39, 13.44]] * 201), "kunde inte läsas"),
    ],
)
def test_bad_routes_are_refused(route: str, message: str) -> None:
    with pytest.raises(sv.SurveyInputError) as err:
        sv.parse_route(route, SKARA, 3006)
    assert message in err.value.errors["route"]


def test_an_empty_route_is_no_route_and_a_long_one_is_refused() -> None:
    assert sv.parse_route("", SKARA, 3006) is None
    assert sv.parse_route("[]", SKARA, 3006) is None
    back_and_forth = [lonlat((TOWN[0] + (1500 if i % 2 else 0), TOWN[1])) for i in range(30)]
    text = json.dumps([[lat, lon] for lon, lat in back_and_forth])
    with pytest.raises(sv.SurveyInputError, match="för lång"):
        sv.parse_route(text, SKARA, 3006)
