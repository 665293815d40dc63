"""The EST cycle on the demo data: form reports from two reporting organisations, measures
(planned, ongoing, done — one with an effect to evaluate) and a citizen promise whose
activities the measures carry out. Idempotent: nothing is added twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from tryggkarta.config import local_timezone
from tryggkarta.geo import to_wgs84
from tryggkarta.services import measures, promises, reports
from tryggkarta.store import Intervention, Promise

#: Where the demo's hot spots lie (SWEREF 99 TM, see tryggkarta.demo.generate.PLACES).
RESECENTRUM = (409_022.0, 6_472_326.0)
SKOLOMRADET = (408_872.0, 6_474_046.0)
IDROTTSPLATSEN = (409_972.0, 6_473_046.0)
STORA_TORGET = (408_612.0, 6_472_786.0)

#: (organisation, days ago, hour, offset x/y from Resecentrum, category, description)
FORM_REPORTS = (
    ("Skarabo (bostadsbolag)", 0, 6, (40, 30), "skadegorelse", "Krossad ruta i trapphusets entré."),
    ("Skarabo (bostadsbolag)", 1, 7, (55, 20), "skadegorelse", "Sönderslagen soptunna vid port 4."),
    (
        "Skarabo (bostadsbolag)",
        2,
        22,
        (-60, 10),
        "ungdomar",
        "Ett tiotal unga samlades vid cykelrummet.",
    ),
    ("Skarabo (bostadsbolag)", 8, 9, (20, -40), "klotter", "Klotter på garagelängan."),
    (
        "Skarabo (bostadsbolag)",
        10,
        23,
        (75, 55),
        "belysning_fel",
        "Trasig belysning i gångtunneln.",
    ),
    ("Skarabo (bostadsbolag)", 15, 18, (-30, -20), "nedskrapning", "Nedskräpat vid miljöhuset."),
    (
        "Fritidsgården Skara",
        19,
        20,
        (950, 720),
        "ordningsstorning",
        "Bråk utanför idrottshallen efter träningen.",
    ),
    ("Fritidsgården Skara", 23, 21, (900, 690), "ungdomar", "Grupp unga vid läktaren, lugnt."),
)
SWEREF = 3006
#: Marks every demo form report (its client id starts with it).
DEMO_PREFIX = "demo-form-"


def _here(geom: Any, srid: int) -> Any:
    """A geometry given in SWEREF 99 TM, in the working CRS."""
    if srid == SWEREF:
        return geom
    from tryggkarta.geo import transformer

    tr = transformer(SWEREF, srid)

    def move(c: np.ndarray) -> np.ndarray:
        x, y = tr.transform(c[:, 0], c[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, move)


def _reports(s: Session, orgs: dict[str, Any], srid: int, now: datetime) -> int:
    added = 0
    for i, (org, days, hour, (dx, dy), category, text) in enumerate(FORM_REPORTS):
        local = (now - timedelta(days=days)).astimezone(local_timezone())
        when = local.replace(hour=hour, minute=15, second=0, microsecond=0).astimezone(UTC)
        point = _here(shapely.Point(RESECENTRUM[0] + dx, RESECENTRUM[1] + dy), srid)
        x, y = float(point.x), float(point.y)
        report = reports.Report(
            client_id=f"{DEMO_PREFIX}{i:04d}",
            x=x,
            y=y,
            category=category,
            # a time later today has not come yet: the day before (not "now", which made
            # two loads of the demo differ by the seconds between them after midnight)
            occurred_at=when if when <= now else when - timedelta(days=1),
            description=text,
            address="",
        )
        _, created = reports.store_report(s, orgs[org], report)
        added += created
    return added


def _measures(s: Session, orgs: dict[str, Any], srid: int, now: datetime) -> dict[str, int]:
    today = now.astimezone(local_timezone()).date()
    kommun = orgs["Skara kommun"].id
    polis = orgs["Polisen LPO Västra Skaraborg"].id
    fritid = orgs["Fritidsgården Skara"].id
    plan = {
        "skola": measures.MeasureData(
            kind="fritidsledare",
            title="Fältassistenter på Skolområdet Norr kvällstid",
            description="Två fältassistenter tisdag–fredag 18–23.",
            status="klar",
            start=today - timedelta(weeks=30),
            end=today - timedelta(days=7),
            owner_org_id=fritid,
            place=shapely.Point(*SKOLOMRADET).buffer(180),
            categories=("skadegorelse", "ungdomar", "ordningsstorning", "klotter"),
        ),
        "belysning": measures.MeasureData(
            kind="belysning",
            title="Ny belysning i gångtunneln vid Resecentrum",
            status="klar",
            start=today - timedelta(weeks=10),
            end=today - timedelta(weeks=9),
            owner_org_id=kommun,
            place=shapely.LineString(
                [(RESECENTRUM[0] - 80, RESECENTRUM[1]), (RESECENTRUM[0] + 90, RESECENTRUM[1] + 40)]
            ),
            categories=("belysning_fel", "skadegorelse"),
        ),
        "patrull": measures.MeasureData(
            kind="polisiar_narvaro",
            title="Synlig polis vid Resecentrum fredag och lördag kväll",
            status="pagaende",
            start=today - timedelta(weeks=3),
            due=today + timedelta(weeks=5),
            owner_org_id=polis,
            place=shapely.Point(*RESECENTRUM),
        ),
        "idrott": measures.MeasureData(
            kind="platsaktivering",
            title="Kvällsaktiviteter vid Idrottsplatsen",
            status="planerad",
            due=today + timedelta(weeks=4),
            owner_org_id=fritid,
            place=shapely.Point(*IDROTTSPLATSEN),
        ),
        "torget": measures.MeasureData(
            kind="stadning",
            title="Städning och klottersanering på Stora torget inom 24 timmar",
            status="planerad",
            due=today - timedelta(days=3),
            owner_org_id=kommun,
            place=shapely.Point(*STORA_TORGET),
        ),
    }
    out = {}
    for key, data in plan.items():
        row = s.scalars(select(Intervention).where(Intervention.title == data.title)).first()
        if row is None:
            data.place = _here(data.place, srid)
            row = measures.save_measure(s, data, srid=srid)
        out[key] = row.id
    return out


def _promise(s: Session, orgs: dict[str, Any], ids: dict[str, int], now: datetime) -> bool:
    year = now.astimezone(local_timezone()).year
    title = "Tryggare Skara – medborgarlöfte"
    if s.scalar(select(Promise.id).where(Promise.year == year, Promise.title == title)):
        return False
    kommun = orgs["Skara kommun"]
    polis = orgs["Polisen LPO Västra Skaraborg"].id
    fritid = orgs["Fritidsgården Skara"].id
    today = now.astimezone(local_timezone()).date()
    p = promises.create_promise(
        s,
        year=year,
        title=title,
        description="Kommunen och polisen lovar invånarna i Skara att tillsammans minska "
        "otryggheten kring Resecentrum och skolorna.",
        municipality_code=kommun.municipality_code,
        owner_org_id=kommun.id,
    )
    c1 = promises.add_commitment(
        s, p, party="kommunen", title="Ljusare och renare stråk kring Resecentrum"
    )
    c2 = promises.add_commitment(
        s, p, party="polisen", title="Synlig närvaro när det behövs som mest"
    )
    s.refresh(p)
    c3 = promises.add_commitment(
        s, p, party="tillsammans", title="Vuxna på plats där unga är på kvällarna"
    )
    # (commitment, activity, owner, due, status, the measure that carries it out)
    activities = (
        (c1, "Byta belysningen i gångtunneln", kommun.id, -timedelta(weeks=8), "klar", "belysning"),
        (c1, "Klotter och skräp bort inom ett dygn", kommun.id, -timedelta(days=3), "pagaende", "torget"),
        (c2, "Kvällspatrull vid Resecentrum fredag–lördag", polis, timedelta(weeks=5), "pagaende", "patrull"),
        (c3, "Fältassistenter på Skolområdet Norr", fritid, -timedelta(days=7), "klar", "skola"),
        (c3, "Kvällsaktiviteter vid Idrottsplatsen", fritid, timedelta(weeks=4), "planerad", "idrott"),
    )  # fmt: skip
    for commitment, title, owner, due, status, measure in activities:
        promises.add_activity(
            s,
            commitment.id,
            title=title,
            owner_org_id=owner,
            due=today + due,
            status=status,
            measure_ids=[ids[measure]],
        )
    return True


def load_cycle(s: Session, orgs: dict[str, Any], srid: int, now: datetime) -> list[str]:
    """Form reports, measures and a citizen promise on the demo data (idempotent)."""
    added = _reports(s, orgs, srid, now)
    ids = _measures(s, orgs, srid, now)
    made = _promise(s, orgs, ids, now)
    lon, lat = to_wgs84(np.array([RESECENTRUM[0]]), np.array([RESECENTRUM[1]]), SWEREF)
    return [
        f"form reports {added:3d} new (EST reporters: fastighet, fritid)",
        f"measures     {len(ids):3d}; citizen promise {'created' if made else 'kept'}",
        f"report form: /rapport (around {float(lat[0]):.4f}, {float(lon[0]):.4f})",
    ]
