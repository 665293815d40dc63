"""Form answers reach the hotspot layers: a cached run is not reused once a campaign's
dataset has grown (answers arrive one by one into the same dataset, not as new imports)."""

from __future__ import annotations

from sqlalchemy import select

from tests.test_survey_service import TOWN, lonlat, make_campaign, parse, pin_form
from tryggkarta.services import survey as sv
from tryggkarta.services.layers import HotspotLayer, cached_run
from tryggkarta.store import SurveyCampaign
from tryggkarta.store.queries import Filters


def test_a_cached_survey_run_is_recomputed_after_new_form_answers(db) -> None:
    calls: list[int] = []

    def compute() -> HotspotLayer:
        calls.append(1)
        fc = {"type": "FeatureCollection", "features": []}
        return HotspotLayer("design", "Design", "Design", fc, {"n": len(calls)})

    def run() -> HotspotLayer | None:
        return cached_run(db, "design", {"k": 1}, Filters(), ("survey",), compute)

    def answer(submission: str) -> None:
        with db.session() as s:
            c = s.scalar(select(SurveyCampaign))
            lon, lat = lonlat(TOWN)
            form = pin_form({"lat": lat, "lon": lon, "rating": 1})
            form["submission_id"] = submission
            sv.store_answer(s, c, parse(s, c, form))
            s.commit()

    with db.session() as s:
        make_campaign(s)
        s.commit()
    answer("first-answer-000001")
    assert run().summary["cached"] is False
    assert run().summary["cached"] is True and len(calls) == 1
    answer("second-answer-00002")
    assert run().summary["cached"] is False and len(calls) == 2
