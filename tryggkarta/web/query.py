"""Map and API query parameters: parsed and checked, with a sentence for every mistake.

``?from=2026-01-01&to=2026-03-31&cat=klotter&cat=skadegorelse&weekday=4&hour=20
&layers=incidents,survey&bbox=13.3,58.3,13.5,58.4&district=Centrum&cell=250&limit=1000``

Values are parsed by :mod:`tryggkarta.params`. Dates are local (``TRYGGKARTA_TIMEZONE``)
calendar days, ``to`` inclusive; weekdays 0 = Monday; ``bbox`` is WGS84 lon/lat and must overlap the installation's region. Errors raise
:class:`tryggkarta.errors.BadInput` with a message in the caller's language (``t``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tryggkarta import params
from tryggkarta.domain import INCIDENT_CATEGORIES
from tryggkarta.errors import BadInput
from tryggkarta.geo import Region, from_wgs84
from tryggkarta.services import municipalities
from tryggkarta.store.queries import Filters

Translate = Callable[..., str]
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
    #: the one municipality asked for (``?kommun=1471``); None = all the user may see
    municipality: str | None = None
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


def _dataset_ids(values: list[str], t: Translate) -> tuple[int, ...]:
    """``dataset=12`` (repeatable): only rows of these imports (the import result's map link)."""
    bad = [
        v for v in values if not (v.isascii() and v.isdigit() and 0 < len(v) <= 10 and v[0] != "0")
    ]
    if bad:
        raise BadInput(
            t("Ogiltig datamängd i 'dataset': %(value)s (ett import-id).", value=bad[0][:20])
        )
    return tuple(sorted({int(v) for v in values}))[:50]


def parse_bbox(value: str, region: Region, t: Translate) -> tuple[float, float, float, float]:
    """``minlon,minlat,maxlon,maxlat`` overlapping ``region`` (clipped to it)."""
    minx, miny, maxx, maxy = params.parse_bbox(value, t)  # type: ignore[misc]
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
    scope: tuple[str, ...] | None = None,
) -> MapQuery:
    """Check ``args`` (a request's query string) and build store filters.

    ``scope`` is the municipalities whose records the user may read (their EST group; ``None``
    = the whole installation): the filters never reach outside it, whatever ``kommun`` asks.
    """
    start, end = params.parse_day_range(args.get("from"), args.get("to"), t)
    cats = tuple(dict.fromkeys(_getlist(args, "cat")))
    unknown = [c for c in cats if c not in INCIDENT_CATEGORIES]
    if unknown:
        raise BadInput(
            t(
                "Okänd kategori: %(cat)s. Giltiga: %(valid)s.",
                cat=params.shown(unknown[0]),
                valid=", ".join(INCIDENT_CATEGORIES),
            )
        )
    datasets = _dataset_ids(_getlist(args, "dataset"), t)
    weekdays = params.parse_ints(_getlist(args, "weekday"), "weekday", 0, 6, t)
    hours = params.parse_ints(_getlist(args, "hour"), "hour", 0, 23, t)
    layers = None
    if "layers" in args:
        layers = tuple(dict.fromkeys(_getlist(args, "layers")))
        bad = [name for name in layers if name not in known_layers]
        if bad:
            raise BadInput(
                t(
                    "Okänt lager: %(layer)s. Giltiga: %(valid)s.",
                    layer=params.shown(bad[0]),
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
    first, after_last = params.day_bounds(start, end)
    chosen = municipalities.choose(args.get("kommun"), region.municipality_codes, scope, t)
    where = municipalities.scope_filters(region, scope, chosen)
    filters = Filters(
        bbox=bbox_m,
        start=first,
        end=after_last,
        categories=cats or None,
        weekdays=weekdays or None,
        hours=hours or None,
        municipality_code=where.municipality_code,
        municipality_codes=where.municipality_codes,
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
        municipality=chosen,
        cell=params.parse_int(args.get("cell"), "cell", MIN_CELL, MAX_CELL, DEFAULT_CELL, t),
        limit=params.parse_int(args.get("limit"), "limit", 1, MAX_LIMIT, MAX_LIMIT, t),
        args={
            k: _getlist(args, k)
            for k in (
                "from",
                "to",
                "cat",
                "weekday",
                "hour",
                "layers",
                "district",
                "dataset",
                "kommun",
            )
        },
    )
