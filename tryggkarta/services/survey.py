"""The public map survey (digital trygghetsvandring): campaigns, answers, screening, review.

Flask-free: the blueprint :mod:`tryggkarta.web.survey` parses the request, calls these
functions and renders. Messages in :class:`SurveyInputError` are Swedish source strings (the
blueprint translates them); each names the form field it belongs to, so the page can tie the
message to the field (``aria-describedby``).

Privacy: an answer stores no IP address, no user agent and no cookie; the rate limit keys on
:func:`client_hash` (a salted hash that changes every day). A browser that has answered a
campaign before says so itself (``repeat=1``, from its localStorage): the answer is kept and
flagged (``repeat_answer``), not merged or dropped, and no browser identifier is stored. A comment that may hold personal
data (:func:`personal_data`) is kept in ``held_comment`` with ``review_status = "review"``
until a municipality user approves or rejects it; ``comment`` stays empty meanwhile, so no
output of the survey layer can show it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import shapely
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from tryggkarta.domain import SURVEY_REASONS, Label
from tryggkarta.errors import BadInput, NotFound
from tryggkarta.store.models import Area, Dataset, SurveyCampaign, SurveyResponse

__all__ = [
    "AGE_BANDS",
    "GENDERS",
    "MAX_COMMENT",
    "MAX_PINS",
    "QUESTIONS",
    "TIMES_OF_DAY",
    "WEEKDAYS",
    "Answer",
    "CampaignClosed",
    "Pin",
    "SurveyInputError",
    "area_municipality",
    "area_polygon",
    "client_hash",
    "close_expired",
    "create_campaign",
    "effective_status",
    "find_places",
    "parse_answer",
    "parse_area",
    "parse_route",
    "personal_data",
    "places",
    "review",
    "set_status",
    "store_answer",
]

MAX_PINS = 20
MAX_COMMENT = 2000
#: Most corners of a drawn campaign area, and its smallest area (m²): a hectare.
MAX_AREA_VERTICES = 500
MIN_AREA_M2 = 10_000.0
#: Most points of a walking route and its longest length (metres).
MAX_ROUTE_VERTICES = 200
MAX_ROUTE_M = 20_000.0
#: How far (m) a drawn area may reach outside its municipality (boundaries are generalised).
AREA_MARGIN_M = 500.0

TIMES_OF_DAY: dict[str, Label] = {
    "dag": Label("Dagtid", "Daytime"),
    "kvall": Label("Kväll", "Evening"),
    "natt": Label("Natt", "Night"),
}
WEEKDAYS: dict[str, Label] = {
    "vardag": Label("Vardagar", "Weekdays"),
    "helg": Label("Helger", "Weekends"),
}
AGE_BANDS: dict[str, Label] = {
    "-15": Label("Yngre än 16 år", "Under 16"),
    "16-24": Label("16–24 år", "16–24"),
    "25-44": Label("25–44 år", "25–44"),
    "45-64": Label("45–64 år", "45–64"),
    "65+": Label("65 år eller äldre", "65 or older"),
}
GENDERS: dict[str, Label] = {
    "kvinna": Label("Kvinna", "Woman"),
    "man": Label("Man", "Man"),
    "annat": Label("Annat", "Other"),
}
#: Optional questions a campaign may ask (rating, reasons and comment are always asked).
QUESTIONS: dict[str, Label] = {
    "time_of_day": Label("Tid på dygnet", "Time of day"),
    "weekday": Label("Vardag eller helg", "Weekday or weekend"),
    "age_band": Label("Åldersgrupp", "Age group"),
    "gender": Label("Kön", "Gender"),
}
STATUSES = ("draft", "open", "closed")
#: A database id in a form: ASCII digits only ("²".isdigit() is true, int("²") fails).
_ID = re.compile(r"[0-9]{1,12}")
_SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SCRIPT = re.compile(r"<\s*/?\s*[a-z!]|javascript\s*:|\bon[a-z]+\s*=", re.IGNORECASE)


class SurveyInputError(BadInput):
    """Bad input in a survey answer or campaign; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(next(iter(errors.values())), details=errors)
        self.errors = errors


class CampaignClosed(BadInput):
    """The campaign does not take answers (not yet open, closed, or a draft)."""


# --- campaigns -----------------------------------------------------------------------------


def effective_status(campaign: SurveyCampaign, today: date) -> str:
    """The status as the public sees it: an open campaign past its end date is closed."""
    if campaign.status == "open" and campaign.ends_on is not None and today > campaign.ends_on:
        return "closed"
    return campaign.status


def public_campaigns(
    session: Session, today: date, codes: tuple[str, ...] = ()
) -> dict[str, list[SurveyCampaign]]:
    """The campaigns the public may know of (those of municipalities ``codes``; every one
    when empty): ``open`` ones to answer and ``closed`` ones whose result is published,
    newest first. Drafts are nobody's business yet."""
    stmt = select(SurveyCampaign).where(SurveyCampaign.status != "draft")
    if codes:
        stmt = stmt.where(SurveyCampaign.municipality_code.in_(codes))
    found: dict[str, list[SurveyCampaign]] = {"open": [], "closed": []}
    for c in session.scalars(stmt.order_by(SurveyCampaign.id.desc())).all():
        status = effective_status(c, today)
        if status == "open" and (c.starts_on is None or c.starts_on <= today):
            found["open"].append(c)
        elif status == "closed":
            found["closed"].append(c)
    return found


def close_expired(session: Session, today: date) -> int:
    """Close every open campaign whose end date has passed; returns how many were closed."""
    expired = session.scalars(
        select(SurveyCampaign).where(
            SurveyCampaign.status == "open", SurveyCampaign.ends_on < today
        )
    ).all()
    for campaign in expired:
        campaign.status = "closed"
    return len(expired)


def create_campaign(
    session: Session,
    *,
    title: str,
    starts_on: date | None,
    ends_on: date | None,
    municipality_code: str | None,
    area_ids: list[int],
    questions: dict[str, bool],
    description: str = "",
    user_id: int | None = None,
    area_wkb: bytes | None = None,
) -> SurveyCampaign:
    """A new campaign (a draft) with its own dataset for the answers. Its area is the drawn
    polygon ``area_wkb`` (see :func:`parse_area`), else the districts ``area_ids``, else the
    municipality."""
    errors: dict[str, str] = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = "Ge enkäten en rubrik."
    elif len(title) > 200:
        errors["title"] = "Rubriken får vara högst 200 tecken."
    elif session.scalar(select(SurveyCampaign.id).where(SurveyCampaign.name == title)):
        errors["title"] = "Det finns redan en enkät med den rubriken."
    if starts_on is None:
        errors["starts_on"] = "Ange ett startdatum."
    if ends_on is None:
        errors["ends_on"] = "Ange ett slutdatum."
    elif starts_on is not None and ends_on < starts_on:
        errors["ends_on"] = "Slutdatumet kan inte vara före startdatumet."
    if not municipality_code and not area_ids and area_wkb is None:
        errors["area"] = "Välj kommunen eller minst ett område."
    if area_ids:
        found = dict(
            session.execute(
                select(Area.id, Area.municipality_code).where(Area.id.in_(area_ids))
            ).all()
        )
        if set(found) != set(area_ids):
            errors["area"] = "Ett valt område finns inte."
        elif not municipality_code:  # answers need the code: layers are filtered by it
            municipality_code = next((c for c in found.values() if c), None)
    if errors:
        raise SurveyInputError(errors)
    dataset = Dataset(
        layer="survey",
        name=f"Enkät: {title}",
        source="form",
        format="form",
        sensitivity="internal",
        checksum=hashlib.sha256(f"form:{title}".encode()).hexdigest(),
        imported_by=user_id,
        municipality_code=municipality_code,
    )
    session.add(dataset)
    session.flush()
    campaign = SurveyCampaign(
        name=title,
        year=starts_on.year if starts_on else None,
        municipality_code=municipality_code,
        description=description.strip(),
        slug=secrets.token_urlsafe(9),
        status="draft",
        starts_on=starts_on,
        ends_on=ends_on,
        area_ids=[] if area_wkb is not None else sorted(area_ids),
        area_wkb=area_wkb,
        questions={k: bool(questions.get(k)) for k in QUESTIONS},
        dataset_id=dataset.id,
        created_by=user_id,
    )
    session.add(campaign)
    session.flush()
    return campaign


#: Why a closed campaign with answers is not opened again (shown to the municipality).
NO_REOPEN = (
    "Resultatet av en stängd enkät med svar är redan publicerat. Om den öppnades igen skulle "
    "den som jämför resultatet före och efter kunna se var de nya svaren ligger. "
    "Skapa en ny enkät för en ny period."
)


def set_status(campaign: SurveyCampaign, status: str) -> None:
    """Open or close a campaign.

    A closed campaign is opened again only while it has no answers: its public result
    (``/enkat/<slug>/resultat``) is published at closing, and a second version with a few more
    answers would let anyone subtract the two and find where the new ones lie — the
    differencing that fixed releases exist to prevent. A new campaign is a release of its own.
    """
    if status not in ("open", "closed"):
        raise BadInput("Okänd status.")
    if status == "open" and campaign.status == "closed":
        session = object_session(campaign)
        answered = session is not None and session.scalar(
            select(SurveyResponse.id).where(SurveyResponse.campaign_id == campaign.id).limit(1)
        )
        if answered:
            raise BadInput(NO_REOPEN)
    campaign.status = status


def area_polygon(session: Session, campaign: SurveyCampaign, srid: int) -> Any:
    """The campaign's area in the working CRS: its drawn polygon, else its districts, else its
    municipality."""
    if campaign.area_wkb:
        return shapely.from_wkb(campaign.area_wkb)
    if campaign.area_ids:
        wkbs = session.scalars(select(Area.geom_wkb).where(Area.id.in_(campaign.area_ids))).all()
        return shapely.union_all(shapely.from_wkb(np.array(wkbs, dtype=object)))
    from tryggkarta import geo

    return geo.municipality(campaign.municipality_code, srid)


@dataclass(frozen=True)
class Place:
    """A named place a resident may choose instead of placing a pin (keyboard, screen reader):
    a district (``kind``, listed on the form) or an imported named place or street address
    (found by :func:`find_places`)."""

    id: int
    name: str
    x: float
    y: float
    kind: str = "district"


def places(session: Session, campaign: SurveyCampaign, srid: int) -> list[Place]:
    """Districts and named places inside the campaign area, by name (inner points)."""
    polygon = area_polygon(session, campaign, srid)
    minx, miny, maxx, maxy = polygon.bounds
    rows = session.execute(
        select(Area.id, Area.name, Area.geom_wkb)
        .where(Area.kind != "municipality")
        .where(Area.maxx >= minx, Area.minx <= maxx, Area.maxy >= miny, Area.miny <= maxy)
        .order_by(Area.name)
    ).all()
    if not rows:
        return []
    inner = shapely.point_on_surface(shapely.from_wkb(np.array([r[2] for r in rows], dtype=object)))
    inside = shapely.contains(polygon, inner)
    xs, ys = shapely.get_x(inner), shapely.get_y(inner)
    return [
        Place(int(r[0]), r[1], float(xs[i]), float(ys[i])) for i, r in enumerate(rows) if inside[i]
    ]


#: Longest text looked up as an address or a place, and most matches offered.
MAX_LOOKUP = 100
MAX_FOUND = 10


def find_places(
    session: Session,
    polygon: Any,
    text: str,
    districts: Sequence[Place] = (),
    limit: int = MAX_FOUND,
) -> list[Place]:
    """Street addresses, named places (``tryggkarta places import``) and ``districts`` inside
    the campaign area ``polygon`` whose names hold ``text`` (case and spaces ignored): the
    exact name first, then names starting with it, then the rest, shortest first. Empty for
    fewer than two or more than :data:`MAX_LOOKUP` characters.

    The accessible alternative to a pin: a resident types the street address or the place
    instead of tapping the map (keyboard, screen reader, no JavaScript)."""
    from sqlalchemy import case

    from tryggkarta.services.places import fold
    from tryggkarta.store.models import Place as PlaceRow

    key = fold(text or "")
    if not 2 <= len(key) <= MAX_LOOKUP or not key.isprintable():
        return []
    like = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    minx, miny, maxx, maxy = polygon.bounds
    rows = session.execute(
        select(PlaceRow.id, PlaceRow.name, PlaceRow.kind, PlaceRow.x, PlaceRow.y)
        .where(PlaceRow.name_key.like(f"%{like}%", escape="\\"))
        .where(PlaceRow.x.between(minx, maxx), PlaceRow.y.between(miny, maxy))
        .order_by(
            case(
                (PlaceRow.name_key == key, 0),
                (PlaceRow.name_key.like(f"{like}%", escape="\\"), 1),
                else_=2,
            ),
            func.length(PlaceRow.name_key),
            PlaceRow.name_key,
        )
        .limit(limit * 4)  # some may lie in the bounding box but outside the area
    ).all()
    found: list[Place] = []
    if rows:
        xs = np.array([r.x for r in rows], dtype=float)
        ys = np.array([r.y for r in rows], dtype=float)
        inside = shapely.contains_xy(polygon, xs, ys)
        found = [
            Place(int(r.id), r.name, float(r.x), float(r.y), r.kind)
            for r, ok in zip(rows, inside, strict=True)
            if ok
        ]
    names = [fold(d.name) for d in districts]
    rank: dict[int, list[Place]] = {0: [], 1: [], 2: []}
    for d, name in zip(districts, names, strict=True):
        if key in name:
            rank[0 if name == key else 1 if name.startswith(key) else 2].append(d)
    exact = [p for p in found if fold(p.name) == key]
    rest = [p for p in found if fold(p.name) != key]
    return (rank[0] + exact + rank[1] + rank[2] + rest)[:limit]


def resolve_place(
    session: Session,
    polygon: Any,
    text: str,
    districts: Sequence[Place] = (),
) -> Place:
    """The one address, place or district ``text`` names inside the campaign area (the form
    sent without JavaScript, or typed without choosing a suggestion): the exact name, else
    the only match. ``SurveyInputError`` on ``address`` when there is none or several."""
    from tryggkarta.services.places import fold

    if len((text or "").strip()) > MAX_LOOKUP:
        raise SurveyInputError({"address": "Adressen får vara högst 100 tecken."})
    hits = find_places(session, polygon, text, districts, limit=MAX_FOUND)
    key = fold(text or "")
    exact = {(round(p.x), round(p.y)): p for p in hits if fold(p.name) == key}
    if len(exact) == 1:
        return next(iter(exact.values()))
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise SurveyInputError(
            {
                "address": "Vi hittade ingen adress eller plats med det namnet inom enkätens "
                "område. Kontrollera stavningen, välj platsen i listan eller markera den på "
                "kartan."
            }
        )
    raise SurveyInputError(
        {
            "address": "Flera adresser eller platser passar. Skriv hela namnet, med "
            "husnummer för en adress."
        }
    )


_NUMBER = re.compile(r"-?\d{1,3}(?:[.,]\d{1,12})?")


def _lat_lon_pairs(text: str, most: int) -> np.ndarray | None:
    """``[[lat, lon], ...]`` (JSON, from the map) or one ``lat, lon`` per line (typed) as an
    (n, 2) array; ``None`` when the text cannot be read or has more than ``most`` points."""
    import json

    text = (text or "").strip()
    if not text or len(text) > most * 60:
        return None
    if text.startswith("["):
        try:
            data = json.loads(text)
            arr = np.array(data, dtype=float)
        except (ValueError, TypeError):
            return None
    else:
        lines = [ln for ln in re.split(r"[\n;]+", text) if ln.strip()]
        pairs = [[v.replace(",", ".") for v in _NUMBER.findall(ln)] for ln in lines]
        if any(len(p) != 2 for p in pairs):
            return None
        arr = np.array(pairs, dtype=float) if pairs else np.empty((0, 2))
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) > most or not np.isfinite(arr).all():
        return None
    if (np.abs(arr[:, 0]) > 90).any() or (np.abs(arr[:, 1]) > 180).any():
        return None
    return arr


def parse_area(text: str, srid: int, municipality: Any | None) -> bytes:
    """A drawn campaign area (WGS84 corners, see :func:`_lat_lon_pairs`) as WKB in the working
    CRS. Refused (``SurveyInputError`` on ``area_polygon``): unreadable, fewer than 3 or more
    than :data:`MAX_AREA_VERTICES` corners, crossing itself, under a hectare, or reaching
    more than :data:`AREA_MARGIN_M` outside ``municipality`` (working CRS) when given."""
    from tryggkarta.geo import from_wgs84

    def refuse(message: str) -> SurveyInputError:
        return SurveyInputError({"area_polygon": message})

    arr = _lat_lon_pairs(text, MAX_AREA_VERTICES + 1)
    if arr is None:
        raise refuse(
            "Området kunde inte läsas. Rita det på kartan eller skriv högst 500"
            " hörn, ett per rad: latitud, longitud."
        )
    if len(arr) > 1 and (arr[0] == arr[-1]).all():
        arr = arr[:-1]
    if len(arr) < 3:
        raise refuse("Ett område behöver minst tre hörn.")
    xs, ys = from_wgs84(arr[:, 1], arr[:, 0], srid)
    polygon = shapely.polygons(np.column_stack([xs, ys]))
    if not shapely.is_valid(polygon):
        raise refuse("Områdets kant korsar sig själv. Rita om det.")
    if polygon.area < MIN_AREA_M2:
        raise refuse("Området är för litet (minst en hektar).")
    if municipality is not None and not shapely.contains(
        shapely.buffer(municipality, AREA_MARGIN_M), polygon
    ):
        raise refuse("Området måste ligga inom kommunen.")
    return shapely.to_wkb(shapely.orient_polygons(polygon))


def area_municipality(area_wkb: bytes, srid: int) -> str | None:
    """The municipality a drawn area lies in (at its inner point), ``None`` outside Sweden's."""
    from tryggkarta.geo import municipality_codes_at

    inner = shapely.point_on_surface(shapely.from_wkb(area_wkb))
    code = municipality_codes_at(np.array([inner.x]), np.array([inner.y]), srid)[0]
    return None if code is None else str(code)


def parse_route(text: str, polygon: Any, srid: int) -> bytes | None:
    """A walking route drawn on the public form (WGS84 points, see :func:`_lat_lon_pairs`) as
    a line in WKB (working CRS); ``None`` for an empty field. Every point must lie in the
    campaign area ``polygon``; refused (``SurveyInputError`` on ``route``) otherwise."""
    from tryggkarta.geo import from_wgs84

    if not (text or "").strip() or (text or "").strip() == "[]":
        return None
    arr = _lat_lon_pairs(text, MAX_ROUTE_VERTICES)
    if arr is None:
        raise SurveyInputError(
            {"route": "Gångvägen kunde inte läsas (högst 200 punkter). Rita om den."}
        )
    if len(arr) < 2:
        raise SurveyInputError({"route": "En gångväg behöver minst två punkter."})
    xs, ys = from_wgs84(arr[:, 1], arr[:, 0], srid)
    if not shapely.contains_xy(polygon, xs, ys).all():
        raise SurveyInputError(
            {"route": "Gångvägen går utanför enkätens område. Rita den inom området."}
        )
    line = shapely.linestrings(np.column_stack([xs, ys]))
    if line.length > MAX_ROUTE_M:
        raise SurveyInputError({"route": "Gångvägen är för lång (högst 20 km)."})
    return shapely.to_wkb(line)


# --- personal data -------------------------------------------------------------------------


_PNR = re.compile(r"(?<![\d-])(?:(?:19|20)?(\d{6}))[-+ ]?(\d{4})(?![\d-])")
_PHONE = re.compile(r"(?<![\d+])(?:\+46|0046|0)[\s-]?\(?\d{1,3}\)?(?:[\s-]?\d){5,8}(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PLATE = re.compile(r"\b[A-HJ-PR-UW-Z]{3} ?\d{2}[A-HJ-NPR-UW-Z0-9]\b")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(digits):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _personnummer(text: str) -> bool:
    for m in _PNR.finditer(text):
        dob, tail = m.group(1), m.group(2)
        month, day = int(dob[2:4]), int(dob[4:6])
        if not 1 <= month <= 12 or not 1 <= (day - 60 if day > 60 else day) <= 31:
            continue  # day + 60: samordningsnummer
        if _luhn(dob + tail):
            return True
    return False


def personal_data(text: str) -> list[str]:
    """What kinds of personal data ``text`` may hold: ``personnummer``, ``phone``, ``email``,
    ``plate`` (a Swedish registration plate). Empty when none is found."""
    found = []
    if _personnummer(text):
        found.append("personnummer")
    if _EMAIL.search(text):
        found.append("email")
    if _PHONE.search(_EMAIL.sub(" ", text)):
        found.append("phone")
    if _PLATE.search(text):
        found.append("plate")
    return found


def client_hash(address: str | None, secret: str, today: date) -> str:
    """A rate-limit key for a client that cannot be turned back into its address: an HMAC
    with a salt that changes every day (nothing links two days, nothing is stored)."""
    salt = hmac.new(secret.encode(), f"survey:{today.isoformat()}".encode(), "sha256").digest()
    return hmac.new(salt, (address or "-").encode(), "sha256").hexdigest()[:32]


# --- answers -------------------------------------------------------------------------------


@dataclass
class Pin:
    x: float
    y: float
    rating: int
    reasons: list[str]
    time_of_day: str | None = None
    weekday: str | None = None
    comment: str = ""
    flags: list[str] = field(default_factory=list)


@dataclass
class Answer:
    submission_id: str
    pins: list[Pin]
    age_band: str | None = None
    gender: str | None = None
    repeat: bool = False
    route_wkb: bytes | None = None


def _pin_indices(form: Any) -> list[int]:
    indices = set()
    for key in form.keys():
        m = re.fullmatch(r"pin-(\d{1,4})-[a-z_]+", key)
        if m:
            indices.add(int(m.group(1)))
    return sorted(indices)


def parse_answer(
    form: Any,
    campaign: SurveyCampaign,
    *,
    polygon: Any,
    place_points: dict[int, tuple[float, float]],
    srid: int,
    lookup: Callable[[str], Place] | None = None,
) -> Answer:
    """Validate a posted answer (``form``: a MultiDict-like with ``get``/``getlist``/``keys``).

    Pins are ``pin-<i>-place`` (a place id from :func:`places`), else ``pin-<i>-lat``/``-lon``
    (WGS84, from the map or a chosen suggestion), else ``pin-<i>-address`` (a typed street
    address or place name, found by ``lookup``, see :func:`resolve_place`), with
    ``pin-<i>-rating``, ``-reasons``, ``-time_of_day``, ``-weekday`` and ``-comment``. Raises
    :class:`SurveyInputError` with a message per field.
    """
    from tryggkarta.geo import from_wgs84

    errors: dict[str, str] = {}
    submission_id = form.get("submission_id", "")
    if not _SUBMISSION_ID.match(submission_id):
        raise SurveyInputError({"form": "Formuläret är ogiltigt. Ladda om sidan och försök igen."})
    if form.get("website"):  # the honeypot: hidden from people, filled in by bots
        raise SurveyInputError({"form": "Svaret kunde inte tas emot."})
    forged = form.get("campaign")
    if forged is not None and forged != campaign.slug:
        raise SurveyInputError({"form": "Svaret hör till en annan enkät. Ladda om sidan."})
    if not form.get("consent"):
        errors["consent"] = "Kryssa i att du har läst hur svaren används."
    indices = _pin_indices(form)
    if len(indices) > MAX_PINS:
        raise SurveyInputError({"pins": f"Du kan markera högst {MAX_PINS} platser per svar."})
    questions = campaign.questions or {}
    pins: list[Pin] = []
    lonlat: list[tuple[int, float, float]] = []
    for n, i in enumerate(indices):
        p = f"pin-{i}-"
        where = None
        place = form.get(p + "place", "")
        lat, lon = form.get(p + "lat", ""), form.get(p + "lon", "")
        if place:
            if not _ID.fullmatch(place) or int(place) not in place_points:
                errors[p + "place"] = "Välj en plats i listan."
            else:
                where = place_points[int(place)]
        elif lat and lon:
            try:
                flat, flon = float(lat), float(lon)
            except ValueError:
                flat = flon = float("nan")
            if not (np.isfinite(flat) and np.isfinite(flon)) or abs(flat) > 90 or abs(flon) > 180:
                errors[p + "place"] = "Platsen på kartan kunde inte läsas. Markera den igen."
            else:
                lonlat.append((n, flon, flat))
        elif (address := (form.get(p + "address") or "").strip()) and lookup is not None:
            try:
                found = lookup(address)
            except SurveyInputError as exc:
                errors[p + "address"] = exc.errors.get("address", exc.message)
            else:
                where = (found.x, found.y)
        else:
            errors[p + "place"] = (
                "Markera platsen på kartan, välj den i listan eller skriv en adress."
            )
        rating = form.get(p + "rating", "")
        if rating not in {"1", "2", "3", "4", "5"}:
            errors[p + "rating"] = "Välj hur trygg du känner dig på platsen (1–5)."
        reasons = form.getlist(p + "reasons")
        if any(r not in SURVEY_REASONS for r in reasons):
            errors[p + "reasons"] = "Välj skälen i listan."
        tod = form.get(p + "time_of_day") or None
        if tod is not None and (not questions.get("time_of_day") or tod not in TIMES_OF_DAY):
            errors[p + "time_of_day"] = "Välj en tid på dygnet i listan."
        wd = form.get(p + "weekday") or None
        if wd is not None and (not questions.get("weekday") or wd not in WEEKDAYS):
            errors[p + "weekday"] = "Välj vardag eller helg."
        comment = (form.get(p + "comment") or "").strip()
        if len(comment) > MAX_COMMENT:
            errors[p + "comment"] = f"Kommentaren får vara högst {MAX_COMMENT} tecken."
        elif _SCRIPT.search(comment):
            errors[p + "comment"] = "Kommentaren får inte innehålla HTML-kod eller skript."
        x, y = where if where else (np.nan, np.nan)
        pins.append(
            Pin(
                x=x,
                y=y,
                rating=int(rating) if rating in {"1", "2", "3", "4", "5"} else 0,
                reasons=list(dict.fromkeys(reasons)),
                time_of_day=tod,
                weekday=wd,
                comment=comment,
                flags=personal_data(comment) if comment else [],
            )
        )
    if not indices:
        errors["pins"] = "Markera minst en plats."
    if lonlat:  # one projection and one containment test for all map pins
        order = [n for n, _, _ in lonlat]
        xs, ys = from_wgs84(
            np.array([v[1] for v in lonlat]), np.array([v[2] for v in lonlat]), srid
        )
        inside = shapely.contains_xy(polygon, xs, ys)
        for k, n in enumerate(order):
            if not inside[k]:
                errors[f"pin-{indices[n]}-place"] = (
                    "Platsen ligger utanför enkätens område. Flytta markeringen."
                )
            pins[n].x, pins[n].y = float(xs[k]), float(ys[k])
    age = form.get("age_band") or None
    if age is not None and (not questions.get("age_band") or age not in AGE_BANDS):
        errors["age_band"] = "Välj en åldersgrupp i listan."
    gender = form.get("gender") or None
    if gender is not None and (not questions.get("gender") or gender not in GENDERS):
        errors["gender"] = "Välj ett alternativ i listan."
    route = None
    try:
        route = parse_route(form.get("route", ""), polygon, srid)
    except SurveyInputError as exc:
        errors.update(exc.errors)
    if errors:
        raise SurveyInputError(errors)
    return Answer(
        submission_id, pins, age, gender, repeat=form.get("repeat") == "1", route_wkb=route
    )


def _key(campaign: SurveyCampaign, submission_id: str, i: int) -> str:
    return f"form:{campaign.id}:{submission_id}:{i}"


def store_answer(
    session: Session, campaign: SurveyCampaign, answer: Answer, now: datetime | None = None
) -> int:
    """Store an answer's pins (one row each); returns the rows added, 0 for a replay.

    Each row's ``dedup_key`` holds the campaign, the client's submission id and the pin's
    number (unique): a double submit or a replayed request adds nothing.
    """
    if campaign.dataset_id is None:
        raise NotFound("The campaign has no dataset.")
    if session.scalar(
        select(SurveyResponse.id).where(
            SurveyResponse.dedup_key == _key(campaign, answer.submission_id, 0)
        )
    ):
        return 0
    now = now or datetime.now(UTC)
    xs = np.array([p.x for p in answer.pins])
    ys = np.array([p.y for p in answer.pins])
    wkbs = shapely.to_wkb(shapely.points(xs, ys))
    for i, pin in enumerate(answer.pins):
        held = bool(pin.flags)
        session.add(
            SurveyResponse(
                dataset_id=campaign.dataset_id,
                campaign_id=campaign.id,
                dedup_key=_key(campaign, answer.submission_id, i),
                survey=campaign.name,
                answered_at=now,
                t_epoch=int(now.timestamp()),
                rating=pin.rating,
                reasons=",".join(pin.reasons),
                time_of_day=pin.time_of_day,
                weekday=pin.weekday,
                comment=None if held or not pin.comment else pin.comment,
                held_comment=pin.comment if held else None,
                review_status="review" if held else None,
                age_band=answer.age_band,
                gender=answer.gender,
                municipality_code=campaign.municipality_code,
                repeat_answer=answer.repeat,
                route_wkb=answer.route_wkb if i == 0 else None,
                x=float(pin.x),
                y=float(pin.y),
                geom_wkb=wkbs[i],
            )
        )
    try:
        session.flush()
    except IntegrityError:  # the same submission raced in at the same time
        session.rollback()
        return 0
    dataset = session.get(Dataset, campaign.dataset_id)
    if dataset is not None:
        dataset.rows_read += len(answer.pins)
        dataset.rows_imported += len(answer.pins)
    return len(answer.pins)


def review(session: Session, response_id: int, approve: bool) -> SurveyResponse:
    """Approve a held comment (it becomes the answer's comment) or reject it (it is deleted)."""
    row = session.get(SurveyResponse, response_id)
    if row is None or row.review_status != "review":
        raise NotFound("Svaret finns inte eller är redan granskat.")
    if approve:
        row.comment, row.review_status = row.held_comment, "approved"
    else:
        row.review_status = "rejected"
    row.held_comment = None
    return row


def answer_counts(session: Session, campaign_ids: list[int]) -> dict[int, int]:
    """Stored pins per campaign."""
    if not campaign_ids:
        return {}
    rows = session.execute(
        select(SurveyResponse.campaign_id, func.count())
        .where(SurveyResponse.campaign_id.in_(campaign_ids))
        .group_by(SurveyResponse.campaign_id)
    ).all()
    return {int(c): int(n) for c, n in rows}
