"""EST reports filed from a phone (``/rapport``), without Flask.

A reporter (property staff, youth workers, a housing company, guards — each user in an
organisation), the police or the municipality files a report: a place (a map pin or the
phone's position), a category, a time (default now) and a short description. It is stored at
once as an incident of its organisation's *form dataset* (``datasets.source = 'form'``), so
the weekly picture and every map see it on the next request (the dataset's checksum changes
with each report, which keys the derived-data caches).

The browser generates the report's id (``client_id``); it is the incident's ``source_id`` and,
as ``form:<client_id>``, its unique ``dedup_key``: a report re-sent by the offline queue, a
double tap or a replayed request is stored once.

A reporter reads and corrects only its own organisation's reports
(:func:`tryggkarta.policy.may_correct_report`); staff with raw incident detail read them all.
Messages are Swedish source text (the blueprint translates them); :class:`ReportInputError`
maps form fields to messages so the page can tie each to its field.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tryggkarta import policy
from tryggkarta.config import local_timezone
from tryggkarta.domain import INCIDENT_CATEGORIES
from tryggkarta.errors import BadInput, Forbidden, NotFound
from tryggkarta.geo import from_wgs84
from tryggkarta.store import Dataset, Incident, Organisation, User

#: A client report id: what ``crypto.randomUUID()`` makes, or any 8–64 ASCII letters/digits/-.
CLIENT_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
#: Longest description and address (a short report, typed on a phone).
MAX_DESCRIPTION, MAX_ADDRESS = 1000, 300
#: A report may lie this far in the future (a phone clock a little ahead).
CLOCK_SKEW = timedelta(minutes=10)
#: Oldest report the form takes (older events come by import).
MAX_AGE = timedelta(days=365)
#: How the form spells a local time (``<input type="datetime-local">``).
_LOCAL_TIME = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?\s*$")
_NUMBER = re.compile(r"^\s*-?\d{1,3}(?:\.\d{1,12})?\s*$")


class ReportInputError(BadInput):
    """Bad input in a report; ``errors`` maps form fields to Swedish messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class Report:
    """A parsed, valid report (place in the working CRS, time in UTC)."""

    client_id: str
    x: float
    y: float
    category: str
    occurred_at: datetime
    description: str
    address: str
    #: The municipality the report lies in (one of the reporting area's), if known.
    municipality_code: str | None = None


@dataclass(frozen=True)
class ReportingArea:
    """Where an organisation's reporters may report: the municipalities of its EST group
    inside the installation (``codes``; ``()`` = the installation's region, for an
    organisation bound to no municipality) and their outline in the working CRS."""

    geometry: BaseGeometry
    codes: tuple[str, ...]

    @property
    def several(self) -> bool:
        return len(self.codes) > 1

    @property
    def outside_message(self) -> str:
        if self.several:
            return "Platsen ligger utanför EST-gruppens kommuner. Flytta markeringen."
        return "Platsen ligger utanför kommunen. Flytta markeringen."

    def code_at(self, x: float, y: float, srid: int) -> str | None:
        """The municipality of ``codes`` at a point inside :attr:`geometry`."""
        if len(self.codes) <= 1:
            return self.codes[0] if self.codes else None
        from tryggkarta import geo

        found = geo.municipality_codes_at(np.array([x]), np.array([y]), srid)[0]
        return str(found) if found is not None and str(found) in self.codes else None


def new_client_id() -> str:
    """A report id for the form without JavaScript (the browser makes its own)."""
    return str(uuid.uuid4())


def wgs84_of(row: Incident, srid: int) -> tuple[float, float]:
    """``(lat, lon)`` of an incident."""
    from tryggkarta.geo import to_wgs84

    lon, lat = to_wgs84(np.array([row.x]), np.array([row.y]), srid)
    return float(lat[0]), float(lon[0])


def parse_local_time(value: str | None) -> datetime | None:
    """``2026-11-30T08:15`` (local wall time) as an aware UTC datetime; ``None`` if unreadable."""
    m = _LOCAL_TIME.match(value or "")
    if not m:
        return None
    year, month, day, hour, minute = (int(g) for g in m.groups()[:5])
    try:
        local = datetime(year, month, day, hour, minute, tzinfo=local_timezone())
    except ValueError:
        return None
    return local.astimezone(UTC)


def local_time_value(when: datetime) -> str:
    """The value of a ``datetime-local`` input for ``when``."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(local_timezone()).strftime("%Y-%m-%dT%H:%M")


def parse_report(
    form: Any,
    *,
    area: BaseGeometry | ReportingArea,
    srid: int,
    now: datetime | None = None,
    need_client_id: bool = True,
) -> Report:
    """Validate a posted report (``form``: anything with ``get``) against ``area`` (a
    :class:`ReportingArea`, or a bare outline, working CRS). Raises
    :class:`ReportInputError` naming each bad field."""
    now = now or datetime.now(UTC)
    where = area if isinstance(area, ReportingArea) else ReportingArea(area, ())
    errors: dict[str, str] = {}
    client_id = (form.get("client_id") or "").strip()
    if need_client_id and not CLIENT_ID.match(client_id):
        errors["form"] = "Formuläret är ogiltigt. Ladda om sidan och försök igen."
    lat_text = (form.get("lat") or "").replace(",", ".")
    lon_text = (form.get("lon") or "").replace(",", ".")
    x = y = float("nan")
    if not lat_text.strip() or not lon_text.strip():
        errors["place"] = "Markera platsen på kartan eller använd telefonens position."
    elif not (_NUMBER.match(lat_text) and _NUMBER.match(lon_text)):
        errors["place"] = "Platsen går inte att läsa. Markera den på kartan igen."
    else:
        lat, lon = float(lat_text), float(lon_text)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            errors["place"] = "Platsen går inte att läsa. Markera den på kartan igen."
        else:
            xs, ys = from_wgs84(np.array([lon]), np.array([lat]), srid)
            x, y = float(xs[0]), float(ys[0])
            inside = np.isfinite(x) and np.isfinite(y)
            if not inside or not shapely.contains_xy(where.geometry, x, y):
                errors["place"] = where.outside_message
    category = (form.get("category") or "").strip()
    if not category:
        errors["category"] = "Välj en kategori."
    elif category not in INCIDENT_CATEGORIES:
        errors["category"] = "Okänd kategori. Välj en i listan."
    when_text = (form.get("occurred_at") or "").strip()
    occurred = now if not when_text else parse_local_time(when_text)
    if occurred is None:
        errors["occurred_at"] = "Tiden går inte att läsa. Skriv datum och klockslag."
    elif occurred > now + CLOCK_SKEW:
        errors["occurred_at"] = "Tiden ligger i framtiden. Ange när det hände."
    elif occurred < now - MAX_AGE:
        errors["occurred_at"] = "Händelsen är äldre än ett år. Äldre händelser läses in som fil."
    description = (form.get("description") or "").strip()
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = "Beskrivningen får vara högst 1000 tecken."
    address = (form.get("address") or "").strip()
    if len(address) > MAX_ADDRESS:
        errors["address"] = "Adressen får vara högst 300 tecken."
    if errors:
        raise ReportInputError(errors)
    assert occurred is not None
    code = where.code_at(x, y, srid)
    return Report(client_id, x, y, category, occurred, description, address, code)


def reporting_area(
    session: Session, organisation_id: int | None, srid: int, region: str
) -> ReportingArea:
    """Where the organisation reports: its municipality and every municipality of its EST
    group that the installation holds; the installation's region for an organisation
    bound to no municipality."""
    from tryggkarta import geo
    from tryggkarta.services.municipalities import group_codes, installation_codes

    code = None
    if organisation_id is not None:
        code = session.scalar(
            select(Organisation.municipality_code).where(Organisation.id == organisation_id)
        )
    if not code:
        return ReportingArea(geo.region_polygon(geo.parse_region(region), srid), ())
    installed = installation_codes(region)
    codes = tuple(c for c in group_codes(session, code) if not installed or c in installed)
    codes = codes or (code,)
    if len(codes) == 1:
        return ReportingArea(geo.municipality(codes[0], srid), codes)
    return ReportingArea(shapely.union_all([geo.municipality(c, srid) for c in codes]), codes)


def form_dataset(session: Session, org: Organisation) -> Dataset:
    """The organisation's dataset of form reports, created on its first report."""
    ds = session.scalars(
        select(Dataset)
        .where(Dataset.layer == "incidents", Dataset.source == "form")
        .where(Dataset.organisation_id == org.id)
        .order_by(Dataset.id)
        .limit(1)
    ).first()
    if ds is None:
        ds = Dataset(
            layer="incidents",
            name=f"EST-rapporter: {org.name}",
            source="form",
            format="form",
            sensitivity="internal",
            checksum=_checksum(org.id, 0, datetime.now(UTC)),
            organisation_id=org.id,
            municipality_code=org.municipality_code,
        )
        session.add(ds)
        session.flush()
    return ds


def _checksum(org_id: int, rows: int, when: datetime) -> str:
    return hashlib.sha256(f"form:{org_id}:{rows}:{when.isoformat()}".encode()).hexdigest()


def _touch(ds: Dataset, added: int) -> None:
    """Count a new or corrected report: the new checksum keys the derived-data caches."""
    ds.rows_read += added
    ds.rows_imported += added
    ds.checksum = _checksum(ds.organisation_id or 0, ds.rows_imported, datetime.now(UTC))


def _apply(row: Incident, report: Report) -> None:
    local = report.occurred_at.astimezone(local_timezone())
    row.occurred_at = report.occurred_at
    row.t_epoch = int(report.occurred_at.timestamp())
    row.hour_local = local.hour
    row.weekday_local = local.weekday()
    row.category = report.category
    row.description = report.description or None
    row.address = report.address or None
    row.x, row.y = report.x, report.y
    row.geom_wkb = shapely.to_wkb(shapely.Point(report.x, report.y))


def store_report(session: Session, org: Organisation, report: Report) -> tuple[Incident, bool]:
    """Store ``report`` for ``org``; returns the incident and whether it is new (a re-sent
    report returns the stored one, unchanged)."""
    key = f"form:{report.client_id}"
    existing = session.scalars(select(Incident).where(Incident.dedup_key == key)).first()
    if existing is not None:
        return existing, False
    ds = form_dataset(session, org)
    row = Incident(
        dataset_id=ds.id,
        dedup_key=key,
        source_id=report.client_id,
        source_type="form",
        reporter_org=org.name,
        precision="exact",
        municipality_code=report.municipality_code or org.municipality_code or ds.municipality_code,
    )
    _apply(row, report)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # the same report raced in at the same moment: the other one stays
        session.rollback()
        again = session.scalars(select(Incident).where(Incident.dedup_key == key)).first()
        if again is None:
            raise
        return again, False
    _touch(ds, 1)
    return row, True


def report_organisation(session: Session, incident: Incident) -> int | None:
    """The organisation of a form report (``None`` for an imported incident)."""
    return session.scalar(
        select(Dataset.organisation_id).where(
            Dataset.id == incident.dataset_id, Dataset.source == "form"
        )
    )


def get_report(session: Session, report_id: int, user: Any, reach: Any = None) -> Incident:
    """A form report ``user`` may read and correct; another organisation's is refused. With
    ``reach`` (:class:`~tryggkarta.services.municipalities.Reach`, the user's EST group) a
    report of another municipality is :class:`NotFound` like a missing one."""
    row = session.get(Incident, report_id)
    if row is None or row.source_type != "form":
        raise NotFound("Rapporten finns inte.")
    if reach is not None and not reach.admits(row.municipality_code):
        raise NotFound("Rapporten finns inte.")
    org = report_organisation(session, row)
    if not policy.may_correct_report(user, org):
        raise Forbidden(
            "Rapporten hör till en annan organisation. Du kan bara se och rätta "
            "din egen organisations rapporter."
        )
    return row


def correct_report(session: Session, row: Incident, report: Report) -> Incident:
    """Store a correction of ``row`` (its place, category, time, description, address)."""
    _apply(row, report)
    if report.municipality_code:
        row.municipality_code = report.municipality_code
    ds = session.get(Dataset, row.dataset_id)
    if ds is not None:
        _touch(ds, 0)
    session.flush()
    return row


def list_reports(
    session: Session,
    organisation_id: int | None,
    *,
    since: datetime,
    limit: int = 200,
    within: Any = None,
) -> list[dict[str, Any]]:
    """Form reports since ``since``, newest first: one organisation's, or all (``None``);
    ``within``: a SQL condition on their municipality (the reader's EST group, see
    :meth:`~tryggkarta.services.municipalities.Reach.where`)."""
    stmt = (
        select(
            Incident.id,
            Incident.occurred_at,
            Incident.category,
            Incident.description,
            Incident.address,
            Incident.reporter_org,
            Incident.municipality_code,
        )
        .join(Dataset, Dataset.id == Incident.dataset_id)
        .where(Dataset.source == "form", Incident.occurred_at >= since)
        .order_by(Incident.occurred_at.desc(), Incident.id.desc())
        .limit(limit)
    )
    if organisation_id is not None:
        stmt = stmt.where(Dataset.organisation_id == organisation_id)
    if within is not None:
        stmt = stmt.where(within)
    keys = ("id", "occurred_at", "category", "description", "address", "organisation", "kommun")
    return [dict(zip(keys, row, strict=True)) for row in session.execute(stmt).all()]


def reporting_organisations(session: Session, within: Any = None) -> list[tuple[int, str]]:
    """Organisations with at least one active reporter: those expected to report weekly.
    ``within``: a SQL condition on the organisation's municipality (the reader's EST group,
    see :meth:`~tryggkarta.services.municipalities.Reach.where`)."""
    stmt = (
        select(Organisation.id, Organisation.name)
        .join(User, User.organisation_id == Organisation.id)
        .where(User.role.in_(sorted(str(r) for r in policy.FIELD_REPORTERS)), User.active.is_(True))
        .group_by(Organisation.id, Organisation.name)
        .order_by(Organisation.name)
    )
    if within is not None:
        stmt = stmt.where(within)
    return [(int(i), str(n)) for i, n in session.execute(stmt).all()]


def silent_organisations(
    session: Session, start: datetime, end: datetime, within: Any = None
) -> list[dict[str, Any]]:
    """Reporting organisations (of ``within``, see :func:`reporting_organisations`) without
    a form report in ``[start, end)``, with the day of their latest report (``None`` if they
    never reported)."""
    expected = reporting_organisations(session, within)
    if not expected:
        return []
    ids = [i for i, _ in expected]
    in_week = set(
        session.scalars(
            select(Dataset.organisation_id)
            .join(Incident, Incident.dataset_id == Dataset.id)
            .where(Dataset.source == "form", Dataset.organisation_id.in_(ids))
            .where(Incident.occurred_at >= start, Incident.occurred_at < end)
            .distinct()
        ).all()
    )
    latest = dict(
        session.execute(
            select(Dataset.organisation_id, func.max(Incident.occurred_at))
            .join(Incident, Incident.dataset_id == Dataset.id)
            .where(Dataset.source == "form", Dataset.organisation_id.in_(ids))
            .where(Incident.occurred_at < end)
            .group_by(Dataset.organisation_id)
        ).all()
    )
    out = []
    for org_id, name in expected:
        if org_id in in_week:
            continue
        last = latest.get(org_id)
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        last_day: date | None = last.astimezone(local_timezone()).date() if last else None
        out.append({"id": org_id, "name": name, "last": last_day})
    return out
