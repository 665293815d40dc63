"""Printable maps on the report pages (issue #13.2): the survey campaign, the project and the
citizen-promise follow-ups and a measure's evaluation areas — server-side SVG with a legend,
and no raw point for a role the policy gives less than raw detail."""

from __future__ import annotations

import re

import numpy as np
import pytest
import shapely
from sqlalchemy import select

from tests.test_survey_service import TOWN, lonlat
from tests.test_survey_web import answer, opened
from tryggkarta import policy
from tryggkarta.domain import Detail, Layer, Role
from tryggkarta.store import AuditLog

#: The colour of an unsafe raw pin / an incident dot after the cut (tryggkarta/web/pagemaps.py).
PIN_UNSAFE = 'stroke="#a4161a" stroke-width="5"'
ROLES = [r.value for r in Role]


def _svg(page: str, ident: str) -> str:
    """The ``<svg>`` of the page map ``ident`` (empty when the page has none)."""
    m = re.search(
        rf'<svg class="static-map page-map-svg"[^>]*aria-labelledby="{ident}-t.*?</svg>', page, re.S
    )
    return m.group(0) if m else ""


def _answers(client, slug: str) -> None:
    here = lonlat((TOWN[0] + 10, TOWN[1] + 10))
    far = lonlat((TOWN[0] + 2000, TOWN[1] + 2000))
    for i in range(7):
        data = answer(
            here[1],
            here[0],
            submission_id=f"pagemap-answer-{i:04d}",
            **{"pin-0-rating": "1" if i < 5 else "5"},
        )
        assert client.post(f"/enkat/{slug}", data=data).status_code == 303
    data = answer(far[1], far[0], submission_id="pagemap-answer-far1")
    assert client.post(f"/enkat/{slug}", data=data).status_code == 303


def test_the_campaign_page_maps_its_area_cells_and_pins(client, auth, db) -> None:
    c = opened(client, auth, db)
    _answers(client, c.slug)
    auth.login("municipality")
    page = client.get(f"/enkater/{c.id}").get_data(as_text=True)
    svg = _svg(page, "campaign-map")
    assert svg, page[:3000]
    assert '<title id="campaign-map-t">Karta: otrygghet i enkätens område</title>' in svg
    # one published cell (7 answers; the far pin's cell is suppressed), share band 50–100 %
    # → its middle 75 % → the 60–80 % colour; no grey cell
    assert svg.count('fill="#fdae61"') == 1 and "#bdbdbd" not in svg
    assert "60–80 % otrygga svar" in page
    # raw detail (municipality): the pins, red for unsafe, and the view is audit-logged
    assert PIN_UNSAFE in svg and 'stroke="#1d4e89" stroke-width="5"' in svg
    assert "Otrygg plats (betyg 1–2), ett svar" in page
    with db.session() as s:
        logged = s.scalar(
            select(AuditLog).where(AuditLog.action == "view_raw", AuditLog.detail == "pins")
        )
        assert logged is not None and logged.feature_count == 8
    en = client.get(f"/enkater/{c.id}?lang=en").get_data(as_text=True)
    assert "Map: insecurity in the survey area" in en and "60–80 % unsafe answers" in en


def test_a_campaign_without_answers_has_no_map(client, auth, db) -> None:
    c = opened(client, auth, db)
    auth.login("municipality")
    page = client.get(f"/enkater/{c.id}").get_data(as_text=True)
    assert _svg(page, "campaign-map") == "" and "Inga svar ännu." in page


@pytest.mark.parametrize("role", ROLES)
def test_the_campaign_map_draws_pins_only_at_raw_survey_detail(app, role: str) -> None:
    """Every role: the map builder gets the role's detail from the policy and draws a pin
    only where that is raw; the cells are the release whatever the role."""
    from tryggkarta.web import pagemaps

    area = shapely.box(TOWN[0] - 500, TOWN[1] - 500, TOWN[0] + 500, TOWN[1] + 500)
    cells = [{"x": TOWN[0], "y": TOWN[1], "size": 250.0, "n": 5, "band": (0.5, 1.0)}]
    pins = (np.array([TOWN[0] + 5.0]), np.array([TOWN[1] + 5.0]), np.array([1.0]))
    with app.test_request_context("/"):
        pm = pagemaps.campaign_map(
            area, cells, pins, level=policy.detail(role, Layer.SURVEY), min_count=5, lang="sv"
        )
    raw = policy.allowed(role, Layer.SURVEY, Detail.RAW)
    assert (PIN_UNSAFE in str(pm.svg)) is raw
    assert 'fill="#fdae61"' in str(pm.svg)
