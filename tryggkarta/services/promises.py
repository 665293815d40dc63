"""Citizen promises (medborgarlöften) and their follow-up for the council, without Flask.

A promise belongs to a year and holds commitments — *kommunen lovar*, *polisen lovar*,
*tillsammans lovar vi* — and each commitment activities (owner organisation, due date,
status). Measures of the register (``interventions.activity_id``) carry activities out.

The follow-up says, per activity, what was done (status, its measures and their periods) and
what happened where it was done: incidents and survey insecurity (share of answers rating
1–2) in the measures' places, in the period after the first measure started against as many
days just before. Counts and shares go through :mod:`tryggkarta.disclosure`: below raw detail
(the council report is public) counts are suppressed below *k* and rounded, shares given as
bands. Messages are Swedish source text passed through ``t``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tryggkarta import disclosure
from tryggkarta.config import local_timezone
from tryggkarta.domain import (
    MEASURE_STATUSES,
    PROMISE_PARTIES,
    UNSAFE_MAX_RATING,
    Detail,
    measure_kind_label,
)
from tryggkarta.errors import BadInput, NotFound
from tryggkarta.params import Translate, shown, swedish
from tryggkarta.policy import NON_PUBLIC_MEASURE_KINDS
from tryggkarta.services.measures import TARGET_RADIUS, place_of
from tryggkarta.store import (
    Filters,
    Intervention,
    Organisation,
    Promise,
    PromiseActivity,
    PromiseCommitment,
    layer_frame,
)
from tryggkarta.store.engine import Database

MAX_TITLE, MAX_TEXT = 300, 4000
YEARS = (2000, 2100)


def _title(value: str | None, t: Translate) -> str:
    text = (value or "").strip()
    if not text:
        raise BadInput(t("Skriv en rubrik."))
    if len(text) > MAX_TITLE:
        raise BadInput(t("Rubriken får vara högst %(n)s tecken.", n=MAX_TITLE))
    return text


def _text(value: str | None, t: Translate) -> str:
    text = (value or "").strip()
    if len(text) > MAX_TEXT:
        raise BadInput(t("Beskrivningen får vara högst %(n)s tecken.", n=MAX_TEXT))
    return text


def create_promise(
    session: Session,
    *,
    year: int | None,
    title: str,
    description: str = "",
    municipality_code: str | None = None,
    owner_org_id: int | None = None,
    t: Translate = swedish,
) -> Promise:
    """A new promise of ``year``."""
    if year is None or not YEARS[0] <= year <= YEARS[1]:
        raise BadInput(t("Ange året löftet gäller (%(lo)s–%(hi)s).", lo=YEARS[0], hi=YEARS[1]))
    row = Promise(
        year=year,
        title=_title(title, t),
        description=_text(description, t),
        municipality_code=municipality_code,
        owner_org_id=owner_org_id,
        status="pagaende",
    )
    session.add(row)
    session.flush()
    return row


def get_promise(session: Session, promise_id: int, t: Translate = swedish) -> Promise:
    row = session.scalars(
        select(Promise)
        .where(Promise.id == promise_id)
        .options(selectinload(Promise.commitments).selectinload(PromiseCommitment.activities))
    ).first()
    if row is None:
        raise NotFound(t("Medborgarlöftet %(id)s finns inte.", id=promise_id))
    return row


def list_promises(session: Session, within: Any = None) -> list[Promise]:
    """Every promise, newest year first; ``within``: a SQL condition on their municipality
    (the reader's EST group, see :meth:`~tryggkarta.services.municipalities.Reach.where`)."""
    stmt = select(Promise).order_by(Promise.year.desc(), Promise.id)
    if within is not None:
        stmt = stmt.where(within)
    return list(session.scalars(stmt).all())


def add_commitment(
    session: Session,
    promise: Promise,
    *,
    party: str,
    title: str,
    description: str = "",
    t: Translate = swedish,
) -> PromiseCommitment:
    """A commitment of ``promise``: ``party`` is kommunen, polisen or tillsammans."""
    if party not in PROMISE_PARTIES:
        raise BadInput(t("Välj vem som lovar: kommunen, polisen eller tillsammans."))
    row = PromiseCommitment(
        promise_id=promise.id,
        party=party,
        title=_title(title, t),
        description=_text(description, t),
        position=len(promise.commitments),
    )
    session.add(row)
    session.flush()
    return row


def add_activity(
    session: Session,
    commitment_id: int,
    *,
    title: str,
    owner_org_id: int | None = None,
    due: date | None = None,
    status: str = "planerad",
    note: str = "",
    measure_ids: list[int] | None = None,
    t: Translate = swedish,
) -> PromiseActivity:
    """An activity of a commitment, carried out by the measures ``measure_ids``."""
    commitment = session.get(PromiseCommitment, commitment_id)
    if commitment is None:
        raise NotFound(t("Åtagandet finns inte."))
    if status not in MEASURE_STATUSES:
        raise BadInput(t("Okänd status: %(value)s.", value=shown(status)))
    if owner_org_id is not None and session.get(Organisation, owner_org_id) is None:
        raise BadInput(t("Den ansvariga organisationen finns inte."))
    row = PromiseActivity(
        commitment_id=commitment.id,
        title=_title(title, t),
        owner_org_id=owner_org_id,
        due_date=due,
        status=status,
        note=_text(note, t),
        updated_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    link_measures(session, row, measure_ids or [], t=t)
    return row


def link_measures(
    session: Session, activity: PromiseActivity, measure_ids: list[int], t: Translate = swedish
) -> None:
    """Let the measures ``measure_ids`` carry out ``activity`` (each carries out one)."""
    if not measure_ids:
        return
    rows = session.scalars(select(Intervention).where(Intervention.id.in_(measure_ids))).all()
    if len(rows) != len(set(measure_ids)):
        raise BadInput(t("En vald insats finns inte."))
    promise_id = session.scalar(
        select(PromiseCommitment.promise_id).where(PromiseCommitment.id == activity.commitment_id)
    )
    for row in rows:
        row.activity_id = activity.id
        row.promise_id = promise_id
    session.flush()


def set_activity_status(
    session: Session, activity_id: int, status: str, note: str | None = None, t: Translate = swedish
) -> PromiseActivity:
    row = session.get(PromiseActivity, activity_id)
    if row is None:
        raise NotFound(t("Aktiviteten finns inte."))
    if status not in MEASURE_STATUSES:
        raise BadInput(t("Okänd status: %(value)s.", value=shown(status)))
    row.status = status
    if note is not None:
        row.note = _text(note, t)
    row.updated_at = datetime.now(UTC)
    session.flush()
    return row


# --------------------------------------------------------------------------- follow-up


@dataclass
class ActivityFollowUp:
    """One activity in the follow-up: what was done and what happened where it was done."""

    party: str
    commitment: str
    title: str
    owner: str
    due: date | None
    status: str
    note: str
    overdue: bool
    measures: list[dict[str, Any]] = field(default_factory=list)
    period: tuple[date, date] | None = None  # first and last local day of "after"
    incidents_before: int | None = None
    incidents_after: int | None = None
    unsafe_before: tuple[float, float] | None = None  # share band (raw: the share twice)
    unsafe_after: tuple[float, float] | None = None
    answers_before: int | None = None
    answers_after: int | None = None
    #: The measures' places for the follow-up's map (working CRS), police tactics left out
    #: below raw detail (counted in ``hidden_places``).
    places: list[Any] = field(default_factory=list)
    hidden_places: int = 0


@dataclass
class FollowUp:
    promise: Promise
    level: Detail
    rule: disclosure.Rule
    activities: list[ActivityFollowUp]
    today: date

    @property
    def done(self) -> int:
        return sum(a.status == "klar" for a in self.activities)

    @property
    def overdue(self) -> int:
        return sum(a.overdue for a in self.activities)


def _area(places: list[Any]) -> Any:
    """The measures' places as one area: polygons as they are, points and lines buffered."""
    geoms = np.array(places, dtype=object)
    areal = shapely.area(geoms) > 0
    grown = np.where(areal, geoms, shapely.buffer(geoms, TARGET_RADIUS))
    return shapely.union_all(grown)


def _window(measures: list[Intervention], now: datetime) -> tuple[datetime, datetime] | None:
    starts = [m.started_at for m in measures if m.started_at is not None]
    if not starts:
        return None
    start = min(s if s.tzinfo else s.replace(tzinfo=UTC) for s in starts)
    ends = [m.ended_at for m in measures]
    end = now
    if ends and all(e is not None for e in ends):
        end = min(now, max(e if e.tzinfo else e.replace(tzinfo=UTC) for e in ends))
    end = max(end, start + timedelta(days=1))
    return start, end


def _counts(
    db: Database,
    area: Any,
    start: datetime,
    mid: datetime,
    end: datetime,
    scope: Filters | None = None,
) -> tuple:
    """Incidents before/after ``mid`` and survey answers (all, unsafe) before/after, in
    ``area`` between ``start`` and ``end`` (and in the municipalities of ``scope``)."""
    cut = mid.timestamp()
    where = (scope or Filters()).replace(polygon=area, start=start, end=end)
    inc = layer_frame(
        db,
        "incidents",
        where,
        columns=["t_epoch", "geom_wkb"],
        geometry=False,
    )
    inc_after = inc["t_epoch"].to_numpy(float) >= cut if len(inc) else np.zeros(0, dtype=bool)
    sur = layer_frame(
        db,
        "survey",
        where,
        columns=["t_epoch", "rating", "geom_wkb"],
        geometry=False,
    )
    if len(sur):
        after = sur["t_epoch"].to_numpy(float) >= cut
        unsafe = sur["rating"].to_numpy(int) <= UNSAFE_MAX_RATING
    else:
        after = unsafe = np.zeros(0, dtype=bool)
    return (
        int((~inc_after).sum()),
        int(inc_after.sum()),
        int((~after).sum()),
        int((~after & unsafe).sum()),
        int(after.sum()),
        int((after & unsafe).sum()),
    )


def _measure_row(m: Intervention, rule: disclosure.Rule, lang: str) -> dict[str, Any]:
    """A measure as the follow-up lists it. Below raw detail a police-tactics measure (a
    patrol) is named by a neutral kind only: no title, no period."""
    tz = local_timezone()
    if not rule.raw and m.measure in NON_PUBLIC_MEASURE_KINDS:
        label = "Polisiär insats" if lang != "en" else "Police measure"
        return {
            "id": m.id,
            "title": "",
            "kind": label,
            "status": m.status,
            "start": None,
            "end": None,
        }
    return {
        "id": m.id,
        "title": m.title,
        "kind": measure_kind_label(m.measure, lang),
        "status": m.status,
        "start": m.started_at.astimezone(tz).date() if m.started_at else None,
        "end": m.ended_at.astimezone(tz).date() if m.ended_at else None,
    }


def follow_up(
    db: Database,
    promise_id: int,
    *,
    level: Detail,
    min_count: int,
    today: date | None = None,
    lang: str = "sv",
    scope: Filters | None = None,
) -> FollowUp:
    """The follow-up of a promise at ``level`` (RAW: counts as they are; below: released).
    ``scope``: the reader's municipalities; incidents and answers elsewhere are not counted."""
    rule = disclosure.rule_for(level, min_count)
    tz = local_timezone()
    now = datetime.now(UTC)
    today = today or now.astimezone(tz).date()
    out: list[ActivityFollowUp] = []
    with db.session() as s:
        promise = get_promise(s, promise_id)
        orgs = dict(s.execute(select(Organisation.id, Organisation.name)).all())
        act_ids = [a.id for c in promise.commitments for a in c.activities]
        by_activity: dict[int, list[Intervention]] = {}
        if act_ids:
            for m in s.scalars(
                select(Intervention)
                .where(Intervention.activity_id.in_(act_ids))
                .order_by(Intervention.id)
            ).all():
                by_activity.setdefault(m.activity_id, []).append(m)
        for c in promise.commitments:
            for a in c.activities:
                measures = by_activity.get(a.id, [])
                item = ActivityFollowUp(
                    party=c.party,
                    commitment=c.title,
                    title=a.title,
                    owner=orgs.get(a.owner_org_id, "") if a.owner_org_id else "",
                    due=a.due_date,
                    status=a.status,
                    note=a.note,
                    overdue=bool(
                        a.due_date and a.due_date < today and a.status not in ("klar", "installd")
                    ),
                    measures=[_measure_row(m, rule, lang) for m in measures],
                )
                places = [p for p in (place_of(m) for m in measures) if p is not None]
                for m in measures:
                    where = place_of(m)
                    if where is None:
                        continue
                    if not rule.raw and m.measure in NON_PUBLIC_MEASURE_KINDS:
                        item.hidden_places += 1  # where the police patrol is police tactics
                    else:
                        item.places.append(where)
                window = _window(measures, now)
                if places and window is not None:
                    mid, end = window
                    start = mid - (end - mid)
                    area = _area(places)
                    ib, ia, nb, ub, na, ua = _counts(db, area, start, mid, end, scope)
                    item.period = (mid.astimezone(tz).date(), end.astimezone(tz).date())
                    item.incidents_before = rule.value(ib)
                    item.incidents_after = rule.value(ia)
                    item.answers_before = rule.value(nb)
                    item.answers_after = rule.value(na)
                    item.unsafe_before = rule.band(ub, nb) if nb else None
                    item.unsafe_after = rule.band(ua, na) if na else None
                out.append(item)
        s.expunge_all()
    return FollowUp(promise, level, rule, out, today)


def follow_up_csv(fu: FollowUp, lang: str = "sv", t: Translate = swedish) -> str:
    """The follow-up as CSV (semicolon-separated, for a spreadsheet), one row per activity."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(
        [
            t("Vem lovar"),
            t("Åtagande"),
            t("Aktivitet"),
            t("Ansvarig"),
            t("Klart senast"),
            t("Status"),
            t("Insatser"),
            t("Period efter"),
            t("Händelser före"),
            t("Händelser efter"),
            t("Andel otrygga före"),
            t("Andel otrygga efter"),
        ]
    )

    def num(v: int | None) -> str:
        return "" if v is None else str(v)

    for a in fu.activities:
        status = MEASURE_STATUSES.get(a.status)
        w.writerow(
            [
                PROMISE_PARTIES[a.party].get(lang) if a.party in PROMISE_PARTIES else a.party,
                a.commitment,
                a.title,
                a.owner,
                a.due.isoformat() if a.due else "",
                status.get(lang) if status else a.status,
                " | ".join(
                    f"{m['kind']}: {m['title']}" if m["title"] else m["kind"] for m in a.measures
                ),
                f"{a.period[0].isoformat()}–{a.period[1].isoformat()}" if a.period else "",
                num(a.incidents_before),
                num(a.incidents_after),
                disclosure.band_text(a.unsafe_before, lang) or "",
                disclosure.band_text(a.unsafe_after, lang) or "",
            ]
        )
    return buf.getvalue()
