"""The EST weekly picture (lägesbild) without Flask: weeks, tables, hotspots, decisions.

A *week* is an ISO week in the installation's time zone (``2026-W47``). The picture
compares the week with the weeks before it: hotspots from :mod:`tryggkarta.services.hotspots` (patrol and
emerging), incidents per category and per district (counted by the store), and the actions
the group decided per hotspot (table ``decisions``). Last week's decisions are followed up by
counting incidents around the hotspot in the decision's week and in the week after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from sqlalchemy import select

from tryggkarta.config import local_timezone
from tryggkarta.domain import INCIDENT_CATEGORIES, Trend, category_label
from tryggkarta.errors import BadInput
from tryggkarta.geo import transform
from tryggkarta.store import Decision, Filters, User, category_counts, count, layer_frame
from tryggkarta.store.engine import Database

WEEK_RE = re.compile(r"^(\d{4})-W(\d{1,2})$")
#: Weeks in the "recent" window of the patrol hotspots (the week itself).
RECENT_WEEKS = 1
BASELINE_WEEKS = 12
#: Radius (m) around a hotspot's centre used to follow a decision up.
FOLLOW_UP_RADIUS = 200.0
#: Emerging categories shown as "new or intensifying".
EMERGING_SHOWN = ("new", "consecutive", "intensifying")
#: An emerging cell needs at least this many incidents in the last four weeks to be listed.
MIN_EMERGING_RECENT = 3
#: The note of a weekly picture without any incident up to its week (Swedish source text).
NO_INCIDENTS_NOTE = (
    "Det finns inga händelser fram till den här veckan i de valda kommunerna, så det finns "
    "inga brännpunkter att visa."
)


@dataclass(frozen=True)
class _Features:
    """A list of GeoJSON features in the shape ``hotspots_from_layer`` reads."""

    features: list[dict[str, Any]]

    @property
    def geojson(self) -> dict[str, Any]:
        return {"features": self.features}


@dataclass(frozen=True)
class Week:
    """An ISO week; ``start``/``end`` are aware UTC datetimes of Monday 00:00 local time."""

    year: int
    number: int

    @property
    def key(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.monday, datetime.min.time(), local_timezone()).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return (self + 1).start

    def __add__(self, weeks: int) -> Week:
        return week_of(datetime.combine(self.monday + timedelta(weeks=weeks), datetime.min.time()))

    def __sub__(self, weeks: int) -> Week:
        return self + (-weeks)


def week_of(moment: datetime) -> Week:
    """The ISO week of ``moment`` (naive = local time, ``TRYGGKARTA_TIMEZONE``)."""
    local = moment.astimezone(local_timezone()) if moment.tzinfo else moment
    year, number, _ = local.isocalendar()
    return Week(year, number)


def last_complete_week(now: datetime | None = None) -> Week:
    """The last ISO week that has ended (in the installation's time zone)."""
    return week_of(now or datetime.now(UTC)) - 1


def parse_week(value: str | None, now: datetime | None = None) -> Week:
    """``2026-W47`` → :class:`Week`; empty → the last complete week.

    Raises :class:`BadInput` (Swedish message) for an unknown format or a future week.
    """
    now = now or datetime.now(UTC)
    if not value:
        return last_complete_week(now)
    match = WEEK_RE.match(value.strip())
    if not match:
        raise BadInput(f"Okänd vecka ”{value[:20]}”: skriv till exempel 2026-W47.")
    year, number = int(match.group(1)), int(match.group(2))
    try:
        week = Week(year, number)
        week.monday  # noqa: B018 - validates the week number for that year
    except ValueError:
        raise BadInput(f"Vecka {number} finns inte år {year}.") from None
    if week.start > now:
        raise BadInput(f"Vecka {week.key} har inte börjat än.")
    return week


# --- tables -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeRow:
    """One row of a "this week vs before" table."""

    key: str
    label: str
    count: int
    mean4: float
    mean12: float

    @property
    def change(self) -> float:
        return self.count - self.mean4

    @property
    def arrow(self) -> Trend:
        if self.count > self.mean4 * 1.25 + 0.5:
            return Trend.UP
        if self.count < self.mean4 * 0.75 - 0.5:
            return Trend.DOWN
        return Trend.FLAT


def category_table(
    db: Database, week: Week, lang: str = "sv", scope: Filters | None = None
) -> list[ChangeRow]:
    """Incidents per category: the week, and the weekly mean of the 4 and 12 weeks before.
    ``scope``: the reader's municipalities (see :func:`services.municipalities.scope_filters`)."""
    base = scope or Filters()
    now = category_counts(db, base.replace(start=week.start, end=week.end))
    four = category_counts(db, base.replace(start=(week - 4).start, end=week.start))
    twelve = category_counts(db, base.replace(start=(week - 12).start, end=week.start))
    rows = [
        ChangeRow(
            key,
            category_label(key, lang),
            now.get(key, 0),
            four.get(key, 0) / 4,
            twelve.get(key, 0) / 12,
        )
        for key in INCIDENT_CATEGORIES
        if now.get(key) or four.get(key) or twelve.get(key)
    ]
    rows = [r for r in rows if r.count or r.arrow != Trend.FLAT]  # nothing to say: left out
    return sorted(rows, key=lambda r: (-r.count, -r.mean4, r.key))


def area_table(db: Database, week: Week, scope: Filters | None = None) -> list[ChangeRow]:
    """Incidents per district (areas of kind ``district``) with the same comparison."""
    base = scope or Filters()
    areas = layer_frame(db, "areas", _area_scope(base), columns=["id", "name", "kind"])
    areas = areas[areas["kind"] == "district"]
    rows = []
    for _, area in areas.iterrows():
        where = base.replace(polygon=area.geometry)
        now = count(db, "incidents", where.replace(start=week.start, end=week.end))
        four = count(db, "incidents", where.replace(start=(week - 4).start, end=week.start))
        twelve = count(db, "incidents", where.replace(start=(week - 12).start, end=week.start))
        rows.append(ChangeRow(str(area["id"]), str(area["name"]), now, four / 4, twelve / 12))
    rows = [r for r in rows if r.count or r.arrow != Trend.FLAT]  # nothing to say: left out
    return sorted(rows, key=lambda r: (-r.count, r.label))


def _area_scope(scope: Filters) -> Filters:
    """Areas of the reader's municipalities (areas carry their municipality code too)."""
    return Filters(
        municipality_code=scope.municipality_code, municipality_codes=scope.municipality_codes
    )


# --- hotspots ---------------------------------------------------------------------------


@dataclass
class Hotspot:
    """A hotspot as the page shows it (from a HotspotLayer feature)."""

    key: str
    name: str
    source: str  # "patrol" | "emerging"
    count: int
    baseline: float | None
    trend: str
    trend_label: str
    category: str | None
    profile: list[list[int]]
    peak: str
    top_categories: list[tuple[str, int]]
    x: float | None
    y: float | None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    previous: list[dict[str, Any]] = field(default_factory=list)
    #: The hot spot's cells (WGS84 GeoJSON geometry), for its small map and weekly counts.
    shape: dict[str, Any] | None = None


def centre_in_crs(geometry: dict[str, Any] | None, srid: int) -> tuple[float, float] | None:
    """Centre of a WGS84 GeoJSON geometry in the working CRS (metres)."""
    if not geometry:
        return None
    geom = shape(geometry)
    if geom.is_empty:
        return None
    c = geom.centroid
    x, y = transform([c.x], [c.y], 4326, srid)
    return float(x[0]), float(y[0])


def hotspots_from_layer(layer: Any, source: str, srid: int, lang: str = "sv") -> list[Hotspot]:
    """Turn a ``HotspotLayer`` (duck-typed: ``.geojson``) into :class:`Hotspot` rows."""
    out = []
    for i, feat in enumerate((layer.geojson or {}).get("features", [])):
        p = feat.get("properties") or {}
        xy = centre_in_crs(feat.get("geometry"), srid)
        profile = p.get("profile") or [[0] * 24 for _ in range(7)]
        out.append(
            Hotspot(
                key=str(p.get("key") or f"{source}-{i}"),
                name=str(p.get("name") or p.get("key") or f"{source} {i + 1}"),
                source=source,
                count=int(
                    p.get("recent")
                    if source == "emerging" and p.get("recent") is not None
                    else p.get("count") or 0
                ),
                baseline=p.get("baseline"),
                trend=str(p.get("trend") or ""),
                trend_label=str(
                    p.get("trend_label_en" if lang == "en" else "trend_label_sv")
                    or p.get("label_en" if lang == "en" else "label_sv")
                    or p.get("trend")
                    or ""
                ),
                category=p.get("category"),
                profile=[list(map(int, row)) for row in profile],
                peak=str(p.get("peak_en" if lang == "en" else "peak_sv") or ""),
                top_categories=[(str(k), int(n)) for k, n in (p.get("top_categories") or [])],
                x=xy[0] if xy else None,
                y=xy[1] if xy else None,
                shape=feat.get("geometry"),
            )
        )
    return out


def week_hotspots(
    db: Database, week: Week, lang: str = "sv", scope: Filters | None = None
) -> tuple[list[Hotspot], list[str]]:
    """New and intensifying hotspots of ``week``: patrol hotspots first, then emerging ones
    that are not already covered. Returns (hotspots, notes about missing analyses)."""
    from tryggkarta.services.hotspots import emerging_layer, patrol_layer

    filters = (scope or Filters()).replace(end=week.end)
    try:
        layer = patrol_layer(
            db, filters, now=week.end, recent_weeks=RECENT_WEEKS, baseline_weeks=BASELINE_WEEKS
        )
        found = hotspots_from_layer(layer, "patrol", db.srid, lang)
        layer = emerging_layer(db, filters, step="week", now=week.end - timedelta(seconds=1))
    except BadInput:  # the analyses refuse an empty selection: say why in a sentence
        if count(db, "incidents", filters) == 0:  # a new municipality of the group, say
            return [], [NO_INCIDENTS_NOTE]
        raise
    # Emerging cells worth a line in the meeting: new/consecutive/intensifying, rising, and
    # with incidents in the last four weeks (Gi* alone can flag an empty cell next to a
    # busy one). Busiest first; one line per place (cells near a listed hotspot are merged).
    candidates = [
        f
        for f in layer.features
        if f["properties"].get("category") in EMERGING_SHOWN
        and (f["properties"].get("trend_z") or 0) > 0
        and (f["properties"].get("recent") or 0) >= MIN_EMERGING_RECENT
    ]
    candidates.sort(key=lambda f: (-f["properties"]["recent"], f["properties"].get("key", "")))
    for hs in hotspots_from_layer(_Features(candidates), "emerging", db.srid, lang):
        if not _near_any(hs, found):
            found.append(hs)
    # rows with nothing to say (no incidents, no change) are left out of the meeting
    found = [hs for hs in found if hs.count > 0 or hs.trend not in ("", Trend.FLAT)]
    from tryggkarta.services.weekmaps import name_hotspots

    name_hotspots(db, found, lang, scope)  # a real place, never a cell key
    return found, []


def _near_any(hs: Hotspot, others: list[Hotspot], radius: float = FOLLOW_UP_RADIUS) -> bool:
    if hs.x is None:
        return False
    return any(
        o.x is not None and (o.x - hs.x) ** 2 + (o.y - hs.y) ** 2 <= radius**2 for o in others
    )


# --- decisions --------------------------------------------------------------------------


def add_decision(
    session: Any,
    week: Week,
    hotspot_key: str,
    text: str,
    *,
    title: str = "",
    x: float | None = None,
    y: float | None = None,
    user_id: int | None = None,
    municipality_code: str | None = None,
) -> Decision:
    """Store a decided action for a hotspot; the text is kept as typed (escaped on output).
    ``municipality_code``: the municipality the hot spot lies in (see :func:`decision_place`),
    whose EST group sees the decision."""
    text = (text or "").strip()
    if not text:
        raise BadInput("Skriv vilken åtgärd som beslutades.")
    if len(text) > 2000:
        raise BadInput("Åtgärden får vara högst 2000 tecken.")
    if not hotspot_key or len(hotspot_key) > 100:
        raise BadInput("Okänd brännpunkt.")
    row = Decision(
        week=week.key,
        hotspot_key=hotspot_key,
        title=title[:300],
        text=text,
        x=x,
        y=y,
        municipality_code=municipality_code,
        created_by=user_id,
    )
    session.add(row)
    session.flush()
    return row


def decision_place(
    x: float | None, y: float | None, srid: int, prefer: tuple[str, ...] = ()
) -> str | None:
    """The municipality a decision at ``(x, y)`` belongs to: the one its point lies in, or
    one of ``prefer`` (the deciding user's) when the point is within 1 km of it, as a hot
    spot on the border street belongs to whoever acts on it. ``None`` without a point."""
    if x is None or y is None:
        return None
    from tryggkarta import geo

    found = geo.municipality_codes_at(np.array([x], float), np.array([y], float), srid)[0]
    code = None if found is None else str(found)
    if code not in prefer:
        point = shapely.Point(x, y)
        near = [c for c in prefer if geo.municipality(c, srid).buffer(1000.0).covers(point)]
        code = near[0] if near else code
    return code


def decisions_for(session: Any, week: Week, within: Any = None) -> list[dict[str, Any]]:
    """Decisions noted in ``week`` with who made the note (``within``: a SQL condition from
    :meth:`~tryggkarta.services.municipalities.Reach.where`)."""
    stmt = (
        select(Decision, User.display_name, User.username)
        .outerjoin(User, User.id == Decision.created_by)
        .where(Decision.week == week.key)
        .order_by(Decision.created_at, Decision.id)
    )
    if within is not None:
        stmt = stmt.where(within)
    return [
        {
            "id": d.id,
            "week": d.week,
            "hotspot_key": d.hotspot_key,
            "title": d.title,
            "text": d.text,
            "x": d.x,
            "y": d.y,
            "municipality_code": d.municipality_code,
            "created_at": d.created_at,
            "who": display or username or "",
        }
        for d, display, username in session.execute(stmt).all()
    ]


def follow_up(
    db: Database, decision: dict[str, Any], week: Week, scope: Filters | None = None
) -> dict[str, Any]:
    """Incidents around the decision's hotspot in the week it was decided and the week after."""
    out = dict(decision)
    if decision.get("x") is None or decision.get("y") is None:
        out.update(before=None, after=None, went_down=None)
        return out
    area = shapely.Point(decision["x"], decision["y"]).buffer(FOLLOW_UP_RADIUS)
    where = (scope or Filters()).replace(polygon=area)
    before = count(db, "incidents", where.replace(start=(week - 1).start, end=(week - 1).end))
    after = count(db, "incidents", where.replace(start=week.start, end=week.end))
    out.update(before=before, after=after, went_down=after < before)
    return out


def attach_decisions(
    db: Database,
    session: Any,
    week: Week,
    hotspots: list[Hotspot],
    scope: Filters | None = None,
    within: Any = None,
) -> list[dict[str, Any]]:
    """Put this week's decisions on their hotspots and follow up last week's.

    Returns last week's decisions (each with ``before``/``after`` counts) that match no
    hotspot of this week, so the page can still show how they went. Only the decisions of
    the reader's municipalities are shown (``within``: a condition from
    :meth:`~tryggkarta.services.municipalities.Reach.where`), and their follow-up counts
    only incidents there (``scope``).
    """
    by_key = {h.key: h for h in hotspots}
    for d in decisions_for(session, week, within):
        target = by_key.get(d["hotspot_key"]) or _nearest(hotspots, d)
        if target is not None:
            target.decisions.append(d)
    unmatched = []
    for d in decisions_for(session, week - 1, within):
        followed = follow_up(db, d, week, scope)
        target = by_key.get(d["hotspot_key"]) or _nearest(hotspots, d)
        if target is not None:
            target.previous.append(followed)
        else:
            unmatched.append(followed)
    return unmatched


def _nearest(hotspots: list[Hotspot], decision: dict[str, Any]) -> Hotspot | None:
    if decision.get("x") is None:
        return None
    best, best_d = None, FOLLOW_UP_RADIUS**2
    for h in hotspots:
        if h.x is None:
            continue
        d2 = (h.x - decision["x"]) ** 2 + (h.y - decision["y"]) ** 2
        if d2 <= best_d:
            best, best_d = h, d2
    return best


def profile_max(profile: list[list[int]]) -> int:
    return max((max(row) for row in profile if row), default=0)
