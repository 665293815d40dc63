"""The survey pages: campaigns for the municipality, the public form, rate limits, review."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from tests.test_survey_service import TOWN, add_district, lonlat
from tryggkarta.store import AuditLog, SurveyCampaign, SurveyResponse


def create(client, **fields) -> SurveyCampaign:
    today = date.today()
    data = {
        "title": "Trygg i Skara",
        "starts_on": (today - timedelta(days=1)).isoformat(),
        "ends_on": (today + timedelta(days=30)).isoformat(),
        "municipality_code": "1495",
        "q_time_of_day": "1",
        "q_age_band": "1",
    }
    data.update(fields)
    response = client.post("/enkater/", data=data)
    assert response.status_code == 302, response.data[:2000]
    return response


def campaign_row(db) -> SurveyCampaign:
    with db.session() as s:
        return s.scalar(select(SurveyCampaign).order_by(SurveyCampaign.id.desc()))


def opened(client, auth, db) -> SurveyCampaign:
    auth.login("municipality")
    create(client)
    c = campaign_row(db)
    assert client.post(f"/enkater/{c.id}/status", data={"status": "open"}).status_code == 302
    auth.logout()
    return campaign_row(db)


def answer(lat: float, lon: float, **extra) -> dict:
    data = {
        "submission_id": "sub-0123456789abcdef",
        "consent": "1",
        "pin-0-lat": f"{lat:.6f}",
        "pin-0-lon": f"{lon:.6f}",
        "pin-0-rating": "2",
        "pin-0-reasons": ["belysning", "vegetation"],
        "pin-0-time_of_day": "kvall",
    }
    data.update(extra)
    return data


def count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(SurveyResponse))


@pytest.mark.parametrize("role", ["police", "planner", "partner"])
def test_campaign_pages_are_for_the_municipality_only(client, auth, role) -> None:
    auth.login(role)
    assert client.get("/enkater/").status_code == 403
    assert client.post("/enkater/", data={"title": "x"}).status_code == 403


def test_anonymous_visitors_cannot_create_campaigns(client) -> None:
    assert client.post("/enkater/", data={"title": "x"}).status_code in (302, 401)
    assert client.get("/enkater/").status_code in (302, 401, 403)


def test_a_municipality_user_creates_opens_and_gets_qr_codes(client, auth, db) -> None:
    auth.login("municipality")
    page = client.get("/enkater/").get_data(as_text=True)
    assert "Ny enkät" in page
    create(client)
    c = campaign_row(db)
    assert c.status == "draft" and c.questions["time_of_day"] and not c.questions["gender"]
    page = client.get(f"/enkater/{c.id}").get_data(as_text=True)
    assert f"/enkat/{c.slug}" in page and "Utkast" in page
    client.post(f"/enkater/{c.id}/status", data={"status": "open"})
    assert campaign_row(db).status == "open"
    png = client.get(f"/enkater/{c.id}/qr.png")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    svg = client.get(f"/enkater/{c.id}/qr.svg")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert client.get(f"/enkater/{c.id}/qr.gif").status_code == 404
    with db.session() as s:
        actions = s.scalars(select(AuditLog.action)).all()
    assert "survey_campaign_create" in actions and "survey_campaign_open" in actions


def test_campaign_form_errors_are_tied_to_their_fields(client, auth) -> None:
    auth.login("municipality")
    response = client.post(
        "/enkater/", data={"title": "", "starts_on": "2026-05-01", "ends_on": "2026-04-01"}
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'aria-describedby="err-title"' in page and 'id="err-title"' in page
    assert "Slutdatumet kan inte vara före startdatumet." in page


def test_a_resident_answers_without_logging_in(client, auth, db) -> None:
    c = opened(client, auth, db)
    page = client.get(f"/enkat/{c.slug}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="submission_id"' in html and "js/survey.js" in html
    assert "<script>" not in html and "style=" not in html
    lon, lat = lonlat(TOWN)
    response = client.post(f"/enkat/{c.slug}", data=answer(lat, lon, age_band="45-64"))
    assert response.status_code == 303 and response.location.endswith(f"/enkat/{c.slug}/tack")
    assert "Tack för ditt svar" in client.get(response.location).get_data(as_text=True)
    with db.session() as s:
        row = s.scalar(select(SurveyResponse))
        assert row.campaign_id == c.id and row.reasons == "belysning,vegetation"
        assert row.age_band == "45-64"
        # no trace of the client: no IP or user agent anywhere in the row
        assert "127.0.0.1" not in repr(
            {col.name: getattr(row, col.name) for col in row.__table__.c}
        )
        public_audit = select(func.count()).select_from(AuditLog).where(AuditLog.role == "public")
        assert s.scalar(public_audit) == 0


def test_a_double_submit_stores_one_answer(client, auth, db) -> None:
    c = opened(client, auth, db)
    lon, lat = lonlat(TOWN)
    for _ in range(3):
        assert client.post(f"/enkat/{c.slug}", data=answer(lat, lon)).status_code == 303
    assert count(db) == 1


def test_errors_in_an_answer_are_shown_in_swedish_and_nothing_is_stored(client, auth, db) -> None:
    c = opened(client, auth, db)
    lon, lat = lonlat((TOWN[0] + 30_000, TOWN[1]))
    response = client.post(
        f"/enkat/{c.slug}",
        data=answer(lat, lon, **{"pin-0-comment": "<img src=x onerror=alert(1)>"}),
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Platsen ligger utanför enkätens område." in page
    assert 'aria-describedby="pin-0-comment-hint err-pin-0-comment"' in page
    assert 'href="#pin-0-place"' in page  # the error summary links to the field
    assert "<img src=x" not in page
    assert count(db) == 0


def test_an_oversized_answer_gets_a_clear_message(client, auth, db) -> None:
    c = opened(client, auth, db)
    lon, lat = lonlat(TOWN)
    response = client.post(
        f"/enkat/{c.slug}", data=answer(lat, lon, **{"pin-0-comment": "å" * 60_000})
    )
    assert response.status_code == 413
    assert "Svaret är för stort" in response.get_data(as_text=True)
    assert count(db) == 0


def test_closed_draft_and_unknown_campaigns_take_no_answers(client, auth, db) -> None:
    auth.login("municipality")
    create(client)
    draft = campaign_row(db)
    auth.logout()
    lon, lat = lonlat(TOWN)
    response = client.post(f"/enkat/{draft.slug}", data=answer(lat, lon))
    assert response.status_code == 403 and "inte öppen ännu" in response.get_data(as_text=True)
    assert client.get("/enkat/doesnotexist").status_code == 404
    assert client.get("/enkat/<script>").status_code == 404
    with db.session() as s:
        s.get(SurveyCampaign, draft.id).status = "open"
        s.get(SurveyCampaign, draft.id).ends_on = date.today() - timedelta(days=1)
        s.commit()
    response = client.post(f"/enkat/{draft.slug}", data=answer(lat, lon))
    assert response.status_code == 410 and "stängd" in response.get_data(as_text=True)
    assert count(db) == 0
    assert campaign_row(db).status == "open"  # closed on the next staff visit
    auth.login("municipality")
    client.get("/enkater/")
    assert campaign_row(db).status == "closed"


def test_the_public_post_is_rate_limited(client, auth, db) -> None:
    c = opened(client, auth, db)
    lon, lat = lonlat(TOWN)
    codes = [
        client.post(
            f"/enkat/{c.slug}", data=answer(lat, lon, submission_id=f"submission-{i:08d}")
        ).status_code
        for i in range(11)
    ]
    assert codes[:10] == [303] * 10 and codes[10] == 429
    assert count(db) == 10


def test_a_district_can_be_chosen_from_the_list(client, auth, db) -> None:
    with db.session() as s:
        district = add_district(s, "Centrum", TOWN)
        s.commit()
        district_id = district.id
    c = opened(client, auth, db)
    page = client.get(f"/enkat/{c.slug}").get_data(as_text=True)
    assert f'<option value="{district_id}">Centrum</option>' in page
    data = {
        "submission_id": "sub-listed-place-0001",
        "consent": "1",
        "pin-0-place": str(district_id),
        "pin-0-rating": "5",
    }
    assert client.post(f"/enkat/{c.slug}", data=data).status_code == 303
    assert count(db) == 1


def test_held_comments_wait_in_the_review_queue(client, auth, db) -> None:
    c = opened(client, auth, db)
    lon, lat = lonlat(TOWN)
    comment = "Ring 070-123 45 67 om du ser honom"
    client.post(f"/enkat/{c.slug}", data=answer(lat, lon, **{"pin-0-comment": comment}))
    auth.login("police")
    assert client.get("/enkater/granska").status_code == 403
    auth.logout()
    auth.login("municipality")
    page = client.get("/enkater/granska").get_data(as_text=True)
    assert comment in page and "telefonnummer" in page
    with db.session() as s:
        rid = s.scalar(select(SurveyResponse.id))
    response = client.post("/enkater/granska", data={"response_id": rid, "decision": "reject"})
    assert response.status_code == 302
    with db.session() as s:
        row = s.get(SurveyResponse, rid)
        assert row.review_status == "rejected" and row.held_comment is None and row.comment is None
    assert comment not in client.get("/enkater/granska").get_data(as_text=True)


def test_english_form(client, auth, db) -> None:
    c = opened(client, auth, db)
    page = client.get(f"/enkat/{c.slug}?lang=en").get_data(as_text=True)
    assert "How safe do you feel at this place?" in page
    assert "Send your answer" in page


def test_campaign_results_follow_the_minimum_count_rule_and_export_csv(client, auth, db) -> None:
    c = opened(client, auth, db)
    here = lonlat((TOWN[0] + 10, TOWN[1] + 10))
    far = lonlat((TOWN[0] + 2000, TOWN[1] + 2000))
    for i in range(7):
        rating = "1" if i < 5 else "5"
        comment = "Ring 070-123 45 67" if i == 0 else "=HYPERLINK(1)" if i == 1 else ""
        data = answer(
            here[1],
            here[0],
            submission_id=f"results-answer-{i:04d}",
            **{"pin-0-rating": rating, "pin-0-comment": comment},
        )
        assert client.post(f"/enkat/{c.slug}", data=data).status_code == 303
    data = answer(far[1], far[0], submission_id="results-answer-far1")
    assert client.post(f"/enkat/{c.slug}", data=data).status_code == 303
    auth.login("municipality")
    page = client.get(f"/enkater/{c.id}").get_data(as_text=True)
    assert "8 platser markerade, varav 6 otrygga" in page
    assert "1 rutor har för få svar." in page
    # one published cell: 7 answers rounded to 5; 5 unsafe but only 2 others → the upper half
    assert '<td class="num">5</td><td class="num">50–100 %</td>' in page
    assert "Dålig belysning" in page
    response = client.get(f"/enkater/{c.id}/svar.csv")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("id;svarat;betyg") and len(lines) == 9
    assert "070-123" not in text  # a held comment is not exported
    assert "'=HYPERLINK(1)" in text  # no formula injection in Excel
    auth.logout()
    auth.login("planner")
    assert client.get(f"/enkater/{c.id}/svar.csv").status_code == 403


def test_the_form_works_with_csrf_protection_on(db, client, auth) -> None:
    """In production CSRF is on: an anonymous resident's form carries its token."""
    import re

    from tryggkarta.web import create_app

    c = opened(client, auth, db)
    app = create_app({"settings": db.settings, "TESTING": True})
    app.extensions["tryggkarta.db"] = db
    resident = app.test_client()
    page = resident.get(f"/enkat/{c.slug}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    lon, lat = lonlat(TOWN)
    assert resident.post(f"/enkat/{c.slug}", data=answer(lat, lon)).status_code == 400
    data = answer(lat, lon, csrf_token=token)
    assert resident.post(f"/enkat/{c.slug}", data=data).status_code == 303
    assert count(db) == 1
