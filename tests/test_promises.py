"""Citizen promises (/medborgarloften): commitments, activities, the measures that carry them
out, and the follow-up for the council (released values by default, CSV, printable)."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from tests.test_services_measures import demo_measure
from tryggkarta.demo import DEMO_PASSWORD
from tryggkarta.domain import Detail
from tryggkarta.errors import BadInput
from tryggkarta.services import promises as svc
from tryggkarta.store import Intervention, Promise, PromiseActivity, PromiseCommitment


def _login(client, username: str) -> None:
    r = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302


def _promise_id(db) -> int:
    with db.session() as s:
        return s.scalar(select(Promise.id).order_by(Promise.id).limit(1))


def test_follow_up_released_and_raw(demo_db) -> None:
    pid = _promise_id(demo_db)
    raw = svc.follow_up(demo_db, pid, level=Detail.RAW, min_count=5)
    released = svc.follow_up(demo_db, pid, level=Detail.AGGREGATED, min_count=5)
    assert len(raw.activities) == 5 and raw.done == 2
    assert raw.overdue == 1  # the cleaning on Stora torget was due three days ago
    assert [a.party for a in raw.activities][:1] == ["kommunen"]
    skola = next(a for a in raw.activities if a.title.startswith("Fältassistenter"))
    assert skola.period is not None and skola.incidents_before > 0
    assert isinstance(skola.incidents_after, int)
    for r, p in zip(raw.activities, released.activities, strict=True):
        for name in ("incidents_before", "incidents_after", "answers_before", "answers_after"):
            exact, shown = getattr(r, name), getattr(p, name)
            if exact is None:
                continue
            if exact < 5:
                assert shown is None, (name, exact)  # suppressed below k, zero included
            else:
                assert shown % 5 == 0 and abs(shown - exact) <= 2.5, (name, exact, shown)
        for name in ("unsafe_before", "unsafe_after"):
            band = getattr(p, name)
            assert band is None or band[1] - band[0] >= 0.1 - 1e-9


def test_promise_bad_input(demo_db) -> None:
    with demo_db.session() as s:
        promise = s.get(Promise, _promise_id(demo_db))
        with pytest.raises(BadInput, match="året"):
            svc.create_promise(s, year=1900, title="x")
        with pytest.raises(BadInput, match="året"):
            svc.create_promise(s, year=None, title="x")
        with pytest.raises(BadInput, match="rubrik"):
            svc.create_promise(s, year=2026, title="  ")
        with pytest.raises(BadInput, match="Välj vem"):
            svc.add_commitment(s, promise, party="regionen", title="x")
        with pytest.raises(BadInput, match="högst 300"):
            svc.add_commitment(s, promise, party="polisen", title="x" * 301)
        c = promise.commitments[0]
        with pytest.raises(BadInput, match="Okänd status"):
            svc.add_activity(s, c.id, title="x", status="kanske")
        with pytest.raises(BadInput, match="insats finns inte"):
            svc.add_activity(s, c.id, title="x", measure_ids=[987654])
        with pytest.raises(BadInput, match="organisationen finns inte"):
            svc.add_activity(s, c.id, title="x", owner_org_id=987654)
        s.rollback()


def test_promise_pages_and_csv(client, demo_db) -> None:
    _login(client, "kommun")
    index = client.get("/medborgarloften/").get_data(as_text=True)
    assert "Tryggare Skara" in index
    pid = _promise_id(demo_db)
    page = client.get(f"/medborgarloften/{pid}").get_data(as_text=True)
    assert "Kommunen lovar" in page and "Polisen lovar" in page and "Tillsammans lovar vi" in page
    fu = client.get(f"/medborgarloften/{pid}/uppfoljning").get_data(as_text=True)
    assert "2 av 5 aktiviteter är genomförda" in fu and "En aktivitet är försenad." in fu
    assert "Synlig polis" not in fu and "Polisiär insats" in fu  # police tactics: no title
    assert "Synlig polis" in client.get(f"/medborgarloften/{pid}/uppfoljning?niva=raw").get_data(
        as_text=True
    )
    assert "avrundade till jämna 5" in fu
    raw = client.get(f"/medborgarloften/{pid}/uppfoljning?niva=raw").get_data(as_text=True)
    assert "exakta och får inte lämnas ut" in raw
    assert client.get(f"/medborgarloften/{pid}/uppfoljning?niva=allt").status_code == 400
    r = client.get(f"/medborgarloften/{pid}/uppfoljning.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:3] == ["Vem lovar", "Åtagande", "Aktivitet"] and len(rows) == 6
    assert "Synlig polis" not in r.get_data(as_text=True)
    # create a promise, a commitment, an activity carried out by a measure, set its status
    r = client.post("/medborgarloften/", data={"year": "2027", "title": "Löfte 2027"})
    assert r.status_code == 303
    with demo_db.session() as s:
        new = s.scalar(select(Promise.id).where(Promise.title == "Löfte 2027"))
        measure = demo_measure(s)
    assert (
        client.post(
            f"/medborgarloften/{new}/ataganden", data={"party": "polisen", "title": "Fler möten"}
        ).status_code
        == 303
    )
    with demo_db.session() as s:
        cid = s.scalar(select(PromiseCommitment.id).where(PromiseCommitment.promise_id == new))
        other_cid = s.scalar(
            select(PromiseCommitment.id).where(PromiseCommitment.promise_id == pid).limit(1)
        )
    ok = client.post(
        f"/medborgarloften/{new}/aktiviteter",
        data={
            "commitment_id": str(cid),
            "title": "Medborgardialog",
            "due": "2027-03-01",
            "measure_ids": [str(measure)],
        },
    )
    assert ok.status_code == 303
    with demo_db.session() as s:
        act = s.scalar(select(PromiseActivity).where(PromiseActivity.commitment_id == cid))
        assert s.get(Intervention, measure).activity_id == act.id
        act_id = act.id
    assert (
        client.post(
            f"/medborgarloften/{new}/aktiviteter/{act_id}", data={"status": "klar"}
        ).status_code
        == 303
    )
    # bad input: clear 400s
    bad = [
        ("/medborgarloften/", {"year": "tjugo", "title": "x"}),
        ("/medborgarloften/", {"year": "2027", "title": ""}),
        (f"/medborgarloften/{new}/ataganden", {"party": "", "title": "x"}),
        (f"/medborgarloften/{new}/aktiviteter", {"commitment_id": str(other_cid), "title": "x"}),
        (f"/medborgarloften/{new}/aktiviteter", {"commitment_id": "", "title": "x"}),
        (
            f"/medborgarloften/{new}/aktiviteter",
            {"commitment_id": str(cid), "title": "x", "due": "31/12"},
        ),
        (f"/medborgarloften/{new}/aktiviteter/{act_id}", {"status": "kanske"}),
    ]
    for url, data in bad:
        assert client.post(url, data=data).status_code == 400, (url, data)
    assert client.get("/medborgarloften/987654").status_code == 404
