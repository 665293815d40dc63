"""The survey service: campaigns, answer validation, personal-data screening, replays, review."""

from __future__ import annotations

from datetime import date

import pytest
import shapely
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from tryggkarta.geo import to_wgs84
from tryggkarta.services import survey as sv
from tryggkarta.store import Area, Dataset, SurveyCampaign, SurveyResponse

#: Skara (kommunkod 1495), EPSG:3006 metres: the town centre and a point in Falköping.
TOWN = (408_672.0, 6_472_746.0)
OUTSIDE = (420_000.0, 6_450_000.0)


def lonlat(xy: tuple[float, float]) -> tuple[float, float]:
    lon, lat = to_wgs84([xy[0]], [xy[1]], 3006)
    return float(lon[0]), float(lat[0])


def add_district(s, name: str, centre: tuple[float, float], half: float = 400.0) -> Area:
    poly = shapely.box(centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)
    area = Area(
        dedup_key=f"test:{name}",
        name=name,
        kind="district",
        municipality_code="1495",
        geom_wkb=shapely.to_wkb(poly),
        minx=poly.bounds[0],
        miny=poly.bounds[1],
        maxx=poly.bounds[2],
        maxy=poly.bounds[3],
    )
    s.add(area)
    s.flush()
    return area


def make_campaign(s, **kw) -> SurveyCampaign:
    args = dict(
        title="Trygg i Skara 2026",
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
        municipality_code="1495",
        area_ids=[],
        questions={"time_of_day": True, "weekday": True, "age_band": True, "gender": False},
    )
    args.update(kw)
    return sv.create_campaign(s, **args)


def pin_form(*pins: dict, **extra: str) -> MultiDict:
    data: list[tuple[str, str]] = [("submission_id", "abcdefghijklmnopqrstuv"), ("consent", "1")]
    for i, pin in enumerate(pins):
        for key, value in pin.items():
            for v in value if isinstance(value, list) else [value]:
                data.append((f"pin-{i}-{key}", str(v)))
    data.extend(extra.items())
    return MultiDict(data)


def parse(s, campaign, form, srid=3006):
    return sv.parse_answer(
        form,
        campaign,
        polygon=sv.area_polygon(s, campaign, srid),
        place_points={p.id: (p.x, p.y) for p in sv.places(s, campaign, srid)},
        srid=srid,
    )


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("Min granne 850709-9805 bråkar här", ["personnummer"]),
        ("198507099805 stod där", ["personnummer"]),
        ("Ring mig 070-123 45 67", ["phone"]),
        ("+46 70 123 45 67 eller anna@example.se", ["email", "phone"]),
        ("Bilen ABC 123 står alltid här", ["plate"]),
        ("Bilen ABC12D kör fort", ["plate"]),
        ("Dålig belysning vid 19-tiden, ca 100 meter från busshållplatsen", []),
        ("850709-9806 är inget personnummer (fel kontrollsiffra)", []),
        ("Vid kiosken och 123 trappsteg", []),
    ],
)
def test_personal_data_is_found(text: str, kinds: list[str]) -> None:
    assert sorted(sv.personal_data(text)) == sorted(kinds)


def test_client_hash_is_salted_per_day_and_hides_the_address() -> None:
    a = sv.client_hash("192.0.2.1", "secret", date(2026, 3, 1))
    assert a == sv.client_hash("192.0.2.1", "secret", date(2026, 3, 1))
    assert a != sv.client_hash("192.0.2.1", "secret", date(2026, 3, 2))
    assert a != sv.client_hash("192.0.2.2", "secret", date(2026, 3, 1))
    assert "192" not in a


def test_campaign_gets_its_own_dataset_and_a_slug(db) -> None:
    with db.session() as s:
        c = make_campaign(s)
        s.commit()
        dataset = s.get(Dataset, c.dataset_id)
        assert dataset.layer == "survey" and dataset.source == "form"
        assert c.status == "draft" and len(c.slug) >= 12
        assert c.questions == {
            "time_of_day": True,
            "weekday": True,
            "age_band": True,
            "gender": False,
        }


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"title": "  "}, "title"),
        ({"ends_on": date(2025, 1, 1)}, "ends_on"),
        ({"starts_on": None}, "starts_on"),
        ({"municipality_code": None}, "area"),
        ({"area_ids": [999_999]}, "area"),
    ],
)
def test_campaign_input_errors_name_the_field(db, kw, field) -> None:
    with db.session() as s, pytest.raises(sv.SurveyInputError) as info:
        make_campaign(s, **kw)
    assert field in info.value.errors


def test_a_campaign_of_districts_takes_their_municipality(db) -> None:
    """Layers are filtered by municipality code: answers of a district campaign need one."""
    with db.session() as s:
        district = add_district(s, "Centrum", TOWN)
        c = make_campaign(s, municipality_code=None, area_ids=[district.id])
        assert c.municipality_code == "1495"
        lon, lat = lonlat(TOWN)
        sv.store_answer(s, c, parse(s, c, pin_form({"lat": lat, "lon": lon, "rating": 2})))
        assert s.scalar(select(SurveyResponse.municipality_code)) == "1495"


def test_campaign_closes_itself_after_its_end_date(db) -> None:
    with db.session() as s:
        c = make_campaign(s, ends_on=date(2026, 3, 31))
        sv.set_status(c, "open")
        assert sv.effective_status(c, date(2026, 3, 31)) == "open"
        assert sv.effective_status(c, date(2026, 4, 1)) == "closed"
        assert sv.close_expired(s, date(2026, 4, 1)) == 1
        assert c.status == "closed"


def test_a_map_pin_and_a_listed_place_are_stored_with_the_campaign(db) -> None:
    with db.session() as s:
        district = add_district(s, "Centrum", TOWN)
        c = make_campaign(s)
        lon, lat = lonlat((TOWN[0] + 50, TOWN[1] + 20))
        form = pin_form(
            {"lat": lat, "lon": lon, "rating": 2, "reasons": ["belysning", "folktomt"]},
            {"place": district.id, "rating": 4, "time_of_day": "kvall", "weekday": "helg"},
            age_band="25-44",
        )
        answer = parse(s, c, form)
        assert sv.store_answer(s, c, answer) == 2
        s.commit()
        rows = s.scalars(select(SurveyResponse).order_by(SurveyResponse.id)).all()
        assert [r.campaign_id for r in rows] == [c.id, c.id]
        assert rows[0].reasons == "belysning,folktomt" and rows[0].rating == 2
        assert rows[0].x == pytest.approx(TOWN[0] + 50, abs=0.01)
        assert rows[1].time_of_day == "kvall" and rows[1].weekday == "helg"
        assert rows[1].age_band == "25-44" and rows[1].municipality_code == "1495"
        inner = shapely.point_on_surface(shapely.from_wkb(district.geom_wkb))
        assert (rows[1].x, rows[1].y) == pytest.approx((inner.x, inner.y))
        assert s.get(Dataset, c.dataset_id).rows_imported == 2


def test_a_repeat_from_the_same_browser_is_kept_and_flagged(db) -> None:
    with db.session() as s:
        c = make_campaign(s)
        lon, lat = lonlat(TOWN)
        first = pin_form({"lat": lat, "lon": lon, "rating": 1})
        again = pin_form({"lat": lat, "lon": lon, "rating": 1}, repeat="1")
        again["submission_id"] = "another-submission-0001"
        sv.store_answer(s, c, parse(s, c, first))
        sv.store_answer(s, c, parse(s, c, again))
        flags = s.scalars(select(SurveyResponse.repeat_answer).order_by(SurveyResponse.id)).all()
        assert flags == [False, True]


def test_a_replayed_submission_stores_nothing(db) -> None:
    with db.session() as s:
        c = make_campaign(s)
        lon, lat = lonlat(TOWN)
        form = pin_form({"lat": lat, "lon": lon, "rating": 1})
        assert sv.store_answer(s, c, parse(s, c, form)) == 1
        s.commit()
        assert sv.store_answer(s, c, parse(s, c, form)) == 0
        s.commit()
        assert s.scalar(select(func.count()).select_from(SurveyResponse)) == 1


def _error(s, c, form) -> dict[str, str]:
    with pytest.raises(sv.SurveyInputError) as info:
        parse(s, c, form)
    return info.value.errors


def test_bad_answers_get_a_message_per_field(db) -> None:
    with db.session() as s:
        c = make_campaign(s, questions={"time_of_day": False})
        lon, lat = lonlat(TOWN)
        olon, olat = lonlat(OUTSIDE)
        errors = _error(
            s,
            c,
            pin_form(
                {"lat": olat, "lon": olon, "rating": 3},
                {"lat": lat, "lon": lon, "rating": 9, "reasons": ["nonsense"]},
                {"lat": lat, "lon": lon, "rating": 2, "time_of_day": "kvall"},
                {"lat": lat, "lon": lon, "rating": 2, "comment": "x" * 2001},
                {"lat": lat, "lon": lon, "rating": 2, "comment": "<script>alert(1)</script>"},
                {"lat": "nan", "lon": lon, "rating": 2},
                {"rating": 2},
                gender="kvinna",
            ),
        )
        assert "utanför enkätens område" in errors["pin-0-place"]
        assert "1–5" in errors["pin-1-rating"]
        assert "pin-1-reasons" in errors
        assert "pin-2-time_of_day" in errors  # the campaign does not ask it
        assert "2000" in errors["pin-3-comment"]
        assert "skript" in errors["pin-4-comment"]
        assert "kunde inte läsas" in errors["pin-5-place"]
        assert "Markera platsen" in errors["pin-6-place"]
        assert "gender" in errors


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (MultiDict({"submission_id": "short"}), "Ladda om sidan"),
        (
            MultiDict({"submission_id": "a" * 20, "website": "http://spam", "consent": "1"}),
            "kunde inte tas emot",
        ),
        (MultiDict({"submission_id": "a" * 20, "campaign": "forged"}), "annan enkät"),
        (MultiDict({"submission_id": "a" * 20, "consent": "1"}), "minst en plats"),
        (MultiDict({"submission_id": "a" * 20, "pin-0-rating": "2"}), "läst hur svaren"),
        (MultiDict({"submission_id": "a" * 20, "pin-0-rating": "²"}), "1–5"),
        (MultiDict({"submission_id": "a" * 20, "pin-0-place": "²"}), "Välj en plats i listan."),
    ],
)
def test_forms_without_a_valid_shape_are_refused(db, form, message) -> None:
    with db.session() as s:
        c = make_campaign(s)
        errors = _error(s, c, form)
        assert any(message in m for m in errors.values()), errors


def test_more_than_twenty_pins_are_refused(db) -> None:
    with db.session() as s:
        c = make_campaign(s)
        lon, lat = lonlat(TOWN)
        errors = _error(s, c, pin_form(*[{"lat": lat, "lon": lon, "rating": 2}] * 21))
        assert errors == {"pins": "Du kan markera högst 20 platser per svar."}


def test_districts_limit_the_area_and_the_places(db) -> None:
    with db.session() as s:
        inside = add_district(s, "Centrum", TOWN)
        add_district(s, "Norr", (TOWN[0], TOWN[1] + 3000))
        c = make_campaign(s, area_ids=[inside.id])
        assert [p.name for p in sv.places(s, c, 3006)] == ["Centrum"]
        lon, lat = lonlat((TOWN[0], TOWN[1] + 3000))
        errors = _error(s, c, pin_form({"lat": lat, "lon": lon, "rating": 2}))
        assert "utanför" in errors["pin-0-place"]


def test_a_comment_with_personal_data_is_held_for_review(db) -> None:
    with db.session() as s:
        c = make_campaign(s)
        lon, lat = lonlat(TOWN)
        form = pin_form(
            {"lat": lat, "lon": lon, "rating": 1, "comment": "Han med 850709-9805 langar här"},
            {"lat": lat, "lon": lon, "rating": 2, "comment": "Mörkt under bron"},
        )
        sv.store_answer(s, c, parse(s, c, form))
        s.commit()
        held, plain = s.scalars(select(SurveyResponse).order_by(SurveyResponse.id)).all()
        assert held.comment is None and held.review_status == "review"
        assert "850709-9805" in held.held_comment
        assert plain.comment == "Mörkt under bron" and plain.review_status is None

        sv.review(s, held.id, approve=False)
        assert held.held_comment is None and held.comment is None
        assert held.review_status == "rejected"
        with pytest.raises(sv.NotFound):
            sv.review(s, held.id, approve=True)


def test_an_approved_comment_becomes_the_answers_comment(db) -> None:
    with db.session() as s:
        c = make_campaign(s)
        lon, lat = lonlat(TOWN)
        form = pin_form({"lat": lat, "lon": lon, "rating": 1, "comment": "Bil ABC 123 kör fort"})
        sv.store_answer(s, c, parse(s, c, form))
        row = s.scalar(select(SurveyResponse))
        sv.review(s, row.id, approve=True)
        assert row.comment == "Bil ABC 123 kör fort" and row.review_status == "approved"
