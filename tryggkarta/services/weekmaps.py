"""Maps, names and trend lines for the weekly picture (lägesbild), without Flask.

* :func:`name_hotspots` names each hot spot by a real place: the nearest named place (the
  places imported with ``tryggkarta places import --kind place``, or areas of a kind in
  :data:`PLACE_KINDS`) within
  :data:`PLACE_RADIUS`, else the district it lies in (or the nearest one), with the part of
  the district ("Centrum – norra delen") when two hot spots share a district. Never a key.
* :func:`week_picture` gathers what the static maps draw: the areas, this week's incidents
  and each hot spot's cells (working CRS), and a weekly count per hot spot for its sparkline.
* :func:`overview_map` / :func:`hotspot_map` draw them with :mod:`tryggkarta.maps.svg`.

The weekly picture is a staff page (raw incident detail, audit-logged by the caller).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from markupsafe import Markup

from tryggkarta.domain import Trend
from tryggkarta.geo import from_wgs84
from tryggkarta.maps import svg
from tryggkarta.services.layers import street_level
from tryggkarta.store import Filters, layer_frame
from tryggkarta.store.engine import Database

#: Area kinds read as named places (a places layer: squares, stations, schools, parks).
PLACE_KINDS = ("place",)
#: A named place further than this (m) from a hot spot's centre does not name it.
PLACE_RADIUS = 400.0
#: A hot spot outside every district takes the nearest district within this distance (m).
DISTRICT_RADIUS = 1500.0
#: Half the side (m) of a hot spot's small map.
SMALL_MAP_HALF = 450.0

_PARTS = {
    "sv": ("östra", "nordöstra", "norra", "nordvästra", "västra", "sydvästra", "södra", "sydöstra"),
    "en": (
        "east",
        "north-east",
        "north",
        "north-west",
        "west",
        "south-west",
        "south",
        "south-east",
    ),
}


def _part(dx: float, dy: float, lang: str) -> str:
    """The compass part of a district a point lies in, from the district's centre."""
    sector = int(np.round(np.arctan2(dy, dx) / (np.pi / 4))) % 8
    word = _PARTS.get(lang, _PARTS["sv"])[sector]
    return f"{word} delen" if lang != "en" else f"{word} part"


def _areas(db: Database, scope: Filters | None = None) -> Any:
    where = Filters(
        municipality_code=scope.municipality_code if scope else None,
        municipality_codes=scope.municipality_codes if scope else None,
        bbox=scope.bbox if scope else None,
    )
    frame = layer_frame(db, "areas", where, columns=["name", "kind"])
    return frame[frame.geometry.notna()] if len(frame) else frame


def outlines(
    db: Database,
    scope: Filters | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> list[svg.Area]:
    """The municipality and its districts as static-map outlines (the report pages' maps
    draw them under what they show, so a reader can tell where it is); with ``bbox`` only
    those that reach into it (a county or national installation has thousands)."""
    areas = _areas(db, (scope or Filters()).replace(bbox=bbox) if bbox else scope)
    if not len(areas):
        return []
    return [
        svg.Area(g, str(n), k == "municipality")
        for g, n, k in zip(areas.geometry.to_numpy(), areas["name"], areas["kind"], strict=True)
        if k in ("municipality", "district")
    ]


def _named_places(db: Database, areas: Any) -> tuple[np.ndarray, np.ndarray]:
    """(geometries, names) of the named places: imported places (``tryggkarta places import
    --kind place``, points) and areas of a kind in :data:`PLACE_KINDS`."""
    from sqlalchemy import select

    from tryggkarta.store import Place

    with db.session() as s:
        rows = s.execute(select(Place.x, Place.y, Place.name).where(Place.kind == "place")).all()
    geoms = [shapely.points([r[0] for r in rows], [r[1] for r in rows])] if rows else []
    names = [np.array([r[2] for r in rows], dtype=object)] if rows else []
    if len(areas):
        mask = np.isin(areas["kind"].to_numpy(), PLACE_KINDS)
        geoms.append(areas.geometry.to_numpy()[mask])
        names.append(areas["name"].to_numpy()[mask].astype(object))
    if not geoms:
        return np.empty(0, dtype=object), np.empty(0, dtype=object)
    return np.concatenate(geoms), np.concatenate(names)


def name_hotspots(
    db: Database, hotspots: list[Any], lang: str = "sv", scope: Filters | None = None
) -> None:
    """Give every hot spot (``.x``, ``.y``, ``.name``) a place name, in place."""
    located = [h for h in hotspots if h.x is not None]
    if not located:
        return
    areas = _areas(db, scope)
    xs = np.array([h.x for h in located], float)
    ys = np.array([h.y for h in located], float)
    pts = shapely.points(xs, ys)
    names = np.full(len(located), None, dtype=object)
    district_of = np.full(len(located), -1)
    place_geoms, place_names = _named_places(db, areas)
    if len(place_geoms):
        dist = shapely.distance(pts[:, None], place_geoms[None, :])
        best = dist.argmin(axis=1)
        near = dist[np.arange(len(located)), best] <= PLACE_RADIUS
        names[near] = place_names[best[near]]
    if len(areas):
        kinds = areas["kind"].to_numpy()
        geoms = areas.geometry.to_numpy()
        districts = np.flatnonzero(kinds == "district")
        if len(districts):
            dist = shapely.distance(pts[:, None], geoms[districts][None, :])
            best = dist.argmin(axis=1)
            near = dist[np.arange(len(located)), best] <= DISTRICT_RADIUS
            district_of[near] = districts[best[near]]
            fill = (names == None) & near  # noqa: E711 - elementwise on objects
            names[fill] = areas["name"].to_numpy()[districts[best[fill]]]
        munis = np.flatnonzero(kinds == "municipality")
        if len(munis):
            names[names == None] = str(areas["name"].to_numpy()[munis[0]])  # noqa: E711
    for h, name in zip(located, names.tolist(), strict=True):
        if name:
            h.name = str(name)
    # two hot spots in one district: name the part of the district each lies in
    counts: dict[str, int] = {}
    for h in located:
        counts[h.name] = counts.get(h.name, 0) + 1
    if len(areas):
        centres = shapely.centroid(areas.geometry.to_numpy())
        for i, h in enumerate(located):
            if counts[h.name] > 1 and district_of[i] >= 0:
                c = centres[district_of[i]]
                h.name = f"{h.name} – {_part(h.x - c.x, h.y - c.y, lang)}"
    seen: dict[str, int] = {}
    for h in hotspots:  # still the same: number them
        seen[h.name] = seen.get(h.name, 0) + 1
        if seen[h.name] > 1:
            h.name = f"{h.name} ({seen[h.name]})"


def _to_crs(geometry: dict[str, Any] | None, srid: int) -> shapely.Geometry | None:
    if not geometry:
        return None
    geom = shapely.geometry.shape(geometry)

    def fn(coords: np.ndarray) -> np.ndarray:
        x, y = from_wgs84(coords[:, 0], coords[:, 1], srid)
        return np.column_stack([x, y])

    return shapely.transform(geom, fn)


@dataclass
class WeekPicture:
    """What the weekly picture's maps draw (working CRS)."""

    areas: list[svg.Area]
    x: np.ndarray
    y: np.ndarray
    shapes: dict[str, shapely.Geometry] = field(default_factory=dict)
    #: Hot spot key -> incidents per week in its cells, oldest first, this week last.
    series: dict[str, list[int]] = field(default_factory=dict)
    weeks: list[str] = field(default_factory=list)


def week_picture(
    db: Database, week: Any, hotspots: list[Any], weeks: int = 12, scope: Filters | None = None
) -> WeekPicture:
    """Areas, this week's incidents, hot-spot cells and weekly counts for ``week`` and the
    ``weeks`` before it (one query; counting is vectorised), inside the reader's ``scope``."""
    areas = _areas(db, scope)
    outlines = [
        svg.Area(g, str(n), k == "municipality")
        for g, n, k in zip(areas.geometry.to_numpy(), areas["name"], areas["kind"], strict=True)
        if k in ("municipality", "district")
    ]
    shapes = {
        h.key: g for h in hotspots if (g := _to_crs(getattr(h, "shape", None), db.srid)) is not None
    }
    edges_w = [week - k for k in range(weeks, -1, -1)]
    edges = np.array([w.start.timestamp() for w in edges_w] + [week.end.timestamp()])
    frame = layer_frame(
        db,
        "incidents",
        street_level((scope or Filters()).replace(start=edges_w[0].start, end=week.end)),
        columns=["x", "y", "t_epoch"],
        geometry=False,
    )
    x = frame["x"].to_numpy(float) if len(frame) else np.array([])
    y = frame["y"].to_numpy(float) if len(frame) else np.array([])
    t = frame["t_epoch"].to_numpy(float) if len(frame) else np.array([])
    slot = np.searchsorted(edges, t, side="right") - 1
    ok = (slot >= 0) & (slot <= weeks)
    series = {}
    for key, geom in shapes.items():  # a handful of hot spots; the points are vectorised
        inside = ok & shapely.contains_xy(geom, x, y)
        series[key] = np.bincount(slot[inside], minlength=weeks + 1)[: weeks + 1].tolist()
    this_week = slot == weeks
    return WeekPicture(
        areas=outlines,
        x=x[this_week],
        y=y[this_week],
        shapes=shapes,
        series=series,
        weeks=[w.key for w in edges_w],
    )


def overview_map(
    pic: WeekPicture, hotspots: list[Any], *, title: str, desc: str, lang: str
) -> Markup | None:
    """The town with its districts and every hot spot as its row number."""
    located = [h for h in hotspots if h.x is not None]
    districts = [a.geometry for a in pic.areas if not a.municipality]
    if districts:
        bounds = shapely.total_bounds(np.array(districts, dtype=object))
    elif located:
        xs = [h.x for h in located]
        ys = [h.y for h in located]
        bounds = (min(xs) - 500, min(ys) - 500, max(xs) + 500, max(ys) + 500)
    else:
        return None
    if located:
        xs = [h.x for h in located]
        ys = [h.y for h in located]
        bounds = (
            min(bounds[0], min(xs)),
            min(bounds[1], min(ys)),
            max(bounds[2], max(xs)),
            max(bounds[3], max(ys)),
        )
    frame = svg.Frame.around(bounds, 560, pad=0.04, aspect=0.62)
    markers = [
        svg.Marker(h.x, h.y, str(i), hot=h.trend == Trend.UP, title=f"{i}. {h.name}")
        for i, h in enumerate(hotspots, 1)
        if h.x is not None
    ]
    return svg.static_map(
        frame,
        title=title,
        desc=desc,
        ident="overview",
        areas=pic.areas,
        points=(pic.x, pic.y),
        markers=markers,
        lang=lang,
        css_class="static-map overview-map",
    )


def hotspot_map(
    pic: WeekPicture, hs: Any, index: int, *, title: str, desc: str, lang: str
) -> Markup | None:
    """A hot spot's surroundings: its cells, this week's incidents, the follow-up circle."""
    if hs.x is None:
        return None
    half = SMALL_MAP_HALF
    frame = svg.Frame(hs.x - half, hs.y - half, hs.x + half, hs.y + half, 200)
    shapes = []
    if hs.key in pic.shapes:
        shapes.append(svg.Shape(pic.shapes[hs.key], svg.HOT if hs.trend == Trend.UP else svg.CALM))
    from tryggkarta.services.lagesbild import FOLLOW_UP_RADIUS

    circle = shapely.Point(hs.x, hs.y).buffer(FOLLOW_UP_RADIUS, 32)
    shapes.append(svg.Shape(circle.exterior, svg.INK, 0.0, dash="2 3"))
    return svg.static_map(
        frame,
        title=title,
        desc=desc,
        ident=f"hsmap-{index}",
        areas=pic.areas,
        shapes=shapes,
        points=(pic.x, pic.y),
        lang=lang,
        css_class="static-map hotspot-map",
    )
