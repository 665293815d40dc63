"""Map and API query parameters: parsed and checked, with a sentence for every mistake.

``?from=2026-01-01&to=2026-03-31&cat=klotter&cat=skadegorelse&weekday=4&hour=20
&layers=incidents,survey&bbox=13.3,58.3,13.5,58.4&district=Centrum&cell=250&limit=1000``

Dates are local (Europe/Stockholm) calendar days, ``to`` inclusive; weekdays 0 = Monday;
``bbox`` is WGS84 lon/lat and must overlap the installation's region. Errors raise
:class:`tryggkarta.errors.BadInput` with a message in the caller's language (``t``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from tryggkarta.domain import INCIDENT_CATEGORIES
from tryggkarta.errors import BadInput
from tryggkarta.geo import Region, from_wgs84
from tryggkarta.i18n import TIMEZONE
from tryggkarta.store.queries import Filters

Translate = Callable[..., str]
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MIN_CELL, MAX_CELL, DEFAULT_CELL = 50, 2000, 250
MAX_LIMIT = 5000


@dataclass(frozen=True)
class MapQuery:
    """A checked query: store filters (working CRS, UTC) plus what to show."""

    filters: Filters
    start_day: date | None = None
    end_day: date | None = None
    categories: tuple[str, ...] = ()
    weekdays: tuple[int, ...] = ()
    hours: tuple[int, ...] = ()
    layers: tuple[str, ...] | None = None
    bbox_wgs84: tuple[float, float, float, float] | None = None
    district: str = ""
    cell: int = DEFAULT_CELL
    limit: int = MAX_LIMIT
    args: dict[str, list[str]] = field(default_factory=dict)


def _getlist(args: Any, key: str) -> list[str]:
    if hasattr(args, "getlist"):
        values = args.getlist(key)
    else:
        raw = args.get(key)
        values = raw if isinstance(raw, list) else ([] if raw is None else [raw])
    out: list[str] = []
    for value in values:
        out.extend(v.strip() for v in str(value).split(",") if v.strip())
    return out


def _day(value: str, name: str, t: Translate) -> date:
    if not _DATE.match(value):
        raise BadInput(
            t(
                "Ogiltigt datum i '%(name)s': %(value)s. Skriv datum som ÅÅÅÅ-MM-DD.",
                name=name,
                value=value[:40],
            )
        )
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadInput(
            t(
                "Ogiltigt datum i '%(name)s': %(value)s. Skriv datum som ÅÅÅÅ-MM-DD.",
                name=name,
                value=value,
            )
        ) from None


def _ints(values: list[str], name: str, lo: int, hi: int, t: Translate) -> tuple[int, ...]:
    out = []
    for value in values:
        if not re.fullmatch(r"\d{1,2}", value) or not lo <= int(value) <= hi:
            raise BadInput(
                t(
                    "Ogiltigt värde i '%(name)s': %(value)s. Tillåtet: %(lo)s–%(hi)s.",
                    name=name,
                    value=value[:20],
                    lo=lo,
                    hi=hi,
                )
            )
        out.append(int(value))
    return tuple(sorted(set(out)))


def _dataset_ids(values: list[str], t: Translate) -> tuple[int, ...]:
    """``dataset=12`` (repeatable): only rows of these imports (the import result's map link)."""
    bad = [v for v in values if not re.fullmatch(r"[1-9]\d{0,9}", v)]
    if bad:
        raise BadInput(
            t("Ogiltig datamängd i 'dataset': %(value)s (ett import-id).", value=bad[0][:20])
        )
    return tuple(sorted({int(v) for v in values}))[:50]


def _int(value: str | None, name: str, lo: int, hi: int, default: int, t: Translate) -> int:
    if value in (None, ""):
        return default
    if not re.fullmatch(r"\d{1,7}", str(value)) or not lo <= int(value) <= hi:
        raise BadInput(
            t(
                "Ogiltigt värde i '%(name)s': %(value)s. Tillåtet: %(lo)s–%(hi)s.",
                name=name,
                value=str(value)[:20],
                lo=lo,
                hi=hi,
            )
        )
    return int(value)


def _local_midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=TIMEZONE)


def parse_bbox(value: str, region: Region, t: Translate) -> tuple[float, float, float, float]:
    """``minlon,minlat,maxlon,maxlat`` overlapping ``region`` (clipped to it)."""
    parts = value.split(",")
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError:
        raise BadInput(
            t("Ogiltig bbox: ange minlon,minlat,maxlon,maxlat i WGS84 (t.ex. 13.3,58.3,13.5,58.4).")
        ) from None
    if not (minx < maxx and miny < maxy):
        raise BadInput(
            t("Ogiltig bbox: ange minlon,minlat,maxlon,maxlat i WGS84 (t.ex. 13.3,58.3,13.5,58.4).")
        )
    rx0, ry0, rx1, ry1 = region.bbox
    if maxx < rx0 or minx > rx1 or maxy < ry0 or miny > ry1:
        raise BadInput(t("Området (bbox) ligger utanför %(region)s.", region=t(region.name)))
    return max(minx, rx0), max(miny, ry0), min(maxx, rx1), min(maxy, ry1)


def parse_query(
    args: Mapping[str, Any],
    *,
    region: Region,
    srid: int,
    t: Translate,
    known_layers: tuple[str, ...],
) -> MapQuery:
    """Check ``args`` (a request's query string) and build store filters."""
    start = _day(args.get("from"), "from", t) if args.get("from") else None
    end = _day(args.get("to"), "to", t) if args.get("to") else None
    if start and end and end < start:
        raise BadInput(
            t(
                "Datumintervallet är baklänges: 'från' (%(start)s) ligger efter 'till' (%(end)s).",
                start=start,
                end=end,
            )
        )
    cats = tuple(dict.fromkeys(_getlist(args, "cat")))
    unknown = [c for c in cats if c not in INCIDENT_CATEGORIES]
    if unknown:
        raise BadInput(
            t(
                "Okänd kategori: %(cat)s. Giltiga: %(valid)s.",
                cat=unknown[0][:40],
                valid=", ".join(INCIDENT_CATEGORIES),
            )
        )
    datasets = _dataset_ids(_getlist(args, "dataset"), t)
    weekdays = _ints(_getlist(args, "weekday"), "weekday", 0, 6, t)
    hours = _ints(_getlist(args, "hour"), "hour", 0, 23, t)
    layers = None
    if "layers" in args:
        layers = tuple(dict.fromkeys(_getlist(args, "layers")))
        bad = [name for name in layers if name not in known_layers]
        if bad:
            raise BadInput(
                t(
                    "Okänt lager: %(layer)s. Giltiga: %(valid)s.",
                    layer=bad[0][:40],
                    valid=", ".join(known_layers),
                )
            )
    bbox = parse_bbox(args["bbox"], region, t) if args.get("bbox") else None
    bbox_m = None
    if bbox:
        xs, ys = from_wgs84(
            [bbox[0], bbox[2], bbox[0], bbox[2]], [bbox[1], bbox[1], bbox[3], bbox[3]], srid
        )
        bbox_m = (float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys)))
    filters = Filters(
        bbox=bbox_m,
        start=_local_midnight_utc(start) if start else None,
        end=_local_midnight_utc(end + timedelta(days=1)) if end else None,
        categories=cats or None,
        weekdays=weekdays or None,
        hours=hours or None,
        municipality_code=region.municipality_code,
        dataset_ids=datasets or None,
    )
    return MapQuery(
        filters=filters,
        start_day=start,
        end_day=end,
        categories=cats,
        weekdays=weekdays,
        hours=hours,
        layers=layers,
        bbox_wgs84=bbox,
        district=str(args.get("district") or "")[:200],
        cell=_int(args.get("cell"), "cell", MIN_CELL, MAX_CELL, DEFAULT_CELL, t),
        limit=_int(args.get("limit"), "limit", 1, MAX_LIMIT, MAX_LIMIT, t),
        args={
            k: _getlist(args, k)
            for k in ("from", "to", "cat", "weekday", "hour", "layers", "district", "dataset")
        },
    )
