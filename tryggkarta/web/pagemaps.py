"""Printable maps on the report pages (issue #13.2): the survey campaign, the project
follow-up, the citizen-promise follow-up and a measure's evaluation areas.

Each map is server-side SVG (:mod:`tryggkarta.maps.svg`, like the weekly picture's maps): it
prints as it looks on screen, needs no JavaScript and no tiles. A :class:`PageMap` holds the
SVG and its legend; ``templates/maps/_page_map.html`` draws both as one ``<figure>``.

Who sees what is decided by the caller's *detail level* (:func:`tryggkarta.policy.detail`),
passed in, never by a role name: below raw detail these functions draw no point of an
incident or a survey answer — only published release cells (through
:mod:`tryggkarta.disclosure`), outlines and the places of measures and projects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from markupsafe import Markup

from tryggkarta.domain import UNSAFE_MAX_RATING, Detail
from tryggkarta.maps import styles, svg
from tryggkarta.web.context import _

#: Width (px) of a page map; it scales down to the column on a phone and to A4 in print.
WIDTH = 640
#: Colour of a release cell whose share is not published (only its count is).
NO_SHARE = "#bdbdbd"
#: Raw survey pins: unsafe (rating 1–2) and the rest.
PIN_UNSAFE, PIN_OTHER = "#a4161a", "#1d4e89"
#: Incidents before / after a date (raw detail).
BEFORE, AFTER = "#6b7580", "#b35806"
#: The measure page's areas (the colours of its Leaflet map).
MEASURE_COLOUR, BUFFER_COLOUR, COMPARISON_COLOUR = "#00639c", "#b35806", "#3d4752"
#: The measure's own place (a point, line or area).
PLACE_COLOUR = "#1b1f24"
#: Projects on the follow-up map: touching a hot spot with / without measures, not touching.
WITH_MEASURES, WITHOUT_MEASURES = "#1a7837", "#a4161a"


@dataclass(frozen=True)
class LegendItem:
    """One line of a map's legend: a symbol like the map's and its text."""

    kind: str  # fill | line | dot | marker
    colour: str
    label: str
    dash: str | None = None
    fill_opacity: float = 0.35

    @property
    def symbol(self) -> Markup:
        return svg.swatch(self.kind, self.colour, dash=self.dash, fill_opacity=self.fill_opacity)


@dataclass
class PageMap:
    """A printable map: SVG, legend and a sentence on what it shows (and leaves out)."""

    svg: Markup
    legend: list[LegendItem] = field(default_factory=list)
    note: str = ""
    css_class: str = "page-map"


def _bounds(geoms: Sequence[Any]) -> tuple[float, float, float, float] | None:
    shown = [g for g in geoms if g is not None and not g.is_empty]
    if not shown:
        return None
    minx, miny, maxx, maxy = shapely.total_bounds(np.array(shown, dtype=object))
    return float(minx), float(miny), float(maxx), float(maxy)


def _cell_boxes(cells: Sequence[dict[str, Any]]) -> np.ndarray:
    x = np.array([c["x"] for c in cells], float)
    y = np.array([c["y"] for c in cells], float)
    size = np.array([c["size"] for c in cells], float)
    return shapely.box(x, y, x + size, y + size)


def _share_shapes(
    cells: Sequence[dict[str, Any]], lang: str
) -> tuple[list[svg.Shape], list[LegendItem]]:
    """Published cells coloured by the middle of their unsafe-share band (the map page's
    colours); cells whose share is not published are grey. Only published values are read."""
    if not cells:
        return [], []
    boxes = _cell_boxes(cells)
    classes = styles.share_classes()
    colour_of = []
    for c in cells:
        band = c.get("band")
        colour_of.append(NO_SHARE if band is None else classes.colour((band[0] + band[1]) / 2))
    colour_of_arr = np.array(colour_of, dtype=object)
    shapes, legend = [], []
    lows = (0.0, *styles.SHARE_BREAKS)
    highs = (*styles.SHARE_BREAKS, 1.0)
    for colour, low, high in zip(styles.SHARE_COLOURS, lows, highs, strict=True):
        mask = colour_of_arr == colour
        if mask.any():
            shapes.append(_cells_shape(boxes[mask], colour))
            legend.append(
                LegendItem(
                    "fill",
                    colour,
                    _("%(a)s–%(b)s %% otrygga svar", a=round(low * 100), b=round(high * 100)),
                    fill_opacity=0.7,
                )
            )
    mask = colour_of_arr == NO_SHARE
    if mask.any():
        shapes.append(_cells_shape(boxes[mask], NO_SHARE))
        legend.append(
            LegendItem("fill", NO_SHARE, _("Andelen visas inte (för få svar)"), fill_opacity=0.7)
        )
    return shapes, legend


def _cells_shape(boxes: np.ndarray, colour: str) -> svg.Shape:
    return svg.Shape(
        shapely.multipolygons(list(boxes)),
        colour,
        0.7,
        stroke="#4a525a",
        stroke_width=0.5,
    )


#: Smallest side (m) of the campaign map when it zooms to the answers.
MIN_SIDE = 2500.0


def _campaign_bounds(area: Any, answers: list[Any]) -> tuple[float, float, float, float] | None:
    """The whole campaign area, unless the answers lie in a small part of a large area (a
    whole municipality): then the answers with room around them — the cells must be seen."""
    whole = _bounds([area])
    near = _bounds(answers)
    if near is None:
        return whole
    cx, cy = (near[0] + near[2]) / 2, (near[1] + near[3]) / 2
    half = max(near[2] - near[0], near[3] - near[1], MIN_SIDE) / 2 * 1.15
    zoomed = (cx - half, cy - half, cx + half, cy + half)
    if whole is None:
        return zoomed
    if max(whole[2] - whole[0], whole[3] - whole[1]) <= 2 * (2 * half):
        return _bounds([area, *answers])
    return zoomed


def campaign_map(
    area: Any,
    cells: Sequence[dict[str, Any]],
    pins: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    *,
    level: Detail,
    min_count: int,
    lang: str,
    outlines: Sequence[svg.Area] = (),
) -> PageMap | None:
    """The campaign's insecurity map: its area, the published 250 m cells (the release rule,
    as everyone will see them) and — only at raw survey detail — each pin, unsafe in red.

    ``pins`` = (x, y, rating) in the working CRS; ignored below raw detail."""
    raw = level is Detail.RAW and pins is not None and len(pins[0]) > 0
    answers = list(_cell_boxes(cells)) if cells else []
    if raw:
        answers.append(shapely.multipoints(np.column_stack([pins[0], pins[1]])))  # type: ignore[index]
    bounds = _campaign_bounds(area, answers)
    if bounds is None:
        return None
    frame = svg.Frame.around(bounds, WIDTH, pad=0.04, aspect=0.62)
    shapes, legend = _share_shapes(cells, lang)
    dots = []
    if raw:
        x, y, rating = (np.asarray(a, float) for a in pins)  # type: ignore[union-attr]
        unsafe = rating <= UNSAFE_MAX_RATING
        dots = [
            svg.Dots(x[~unsafe], y[~unsafe], PIN_OTHER, 5.0),
            svg.Dots(x[unsafe], y[unsafe], PIN_UNSAFE, 5.0),
        ]
        legend += [
            LegendItem("dot", PIN_UNSAFE, _("Otrygg plats (betyg 1–2), ett svar")),
            LegendItem("dot", PIN_OTHER, _("Annan markerad plats, ett svar")),
        ]
    legend.insert(0, LegendItem("line", svg.AREA_STROKE, _("Enkätens område")))
    if outlines:
        legend.insert(1, LegendItem("line", svg.AREA_STROKE, _("Stadsdel"), dash="4 3"))
    title = _("Karta: otrygghet i enkätens område")
    desc = _(
        "Enkätens område och de rutor om 250 meter som har minst %(k)s svar, färgade efter andelen otrygga svar.",
        k=min_count,
    )
    if raw:
        desc += " " + _("Varje markerad plats är en prick; röd är otrygg.")
    out = svg.static_map(
        frame,
        title=title,
        desc=desc,
        ident="campaign-map",
        areas=[*outlines, svg.Area(area, municipality=True)],
        shapes=shapes,
        dots=dots,
        lang=lang,
        css_class="static-map page-map-svg",
    )
    note = _(
        "Rutorna visas som de publiceras: rutor med färre än %(k)s svar visas inte, andelen anges i intervall och färgen följer intervallets mitt.",
        k=min_count,
    )
    if raw:
        note += " " + _(
            "Prickarna är enskilda svar och visas bara för kommunen (visningen loggas)."
        )
    return PageMap(out, legend, note)


@dataclass(frozen=True)
class ProjectOnMap:
    """A project row of the follow-up as drawn: number, outline, buffer, its hot spots."""

    number: int
    name: str
    geometry: Any
    touched: bool
    has_measures: bool
    hits: tuple[tuple[str, str, Any], ...] = ()  # (method, name, geometry)


def projects_map(
    projects: Sequence[ProjectOnMap],
    buffer_m: float,
    *,
    outlines: Sequence[svg.Area] = (),
    incidents: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    cells: Sequence[dict[str, Any]] = (),
    cut_label: str = "",
    lang: str,
) -> PageMap | None:
    """The active projects (numbered as in the table), their buffers and the hot spots they
    touch; incidents around them at the viewer's detail — raw: each incident inside a buffer,
    grey before ``cut`` and orange after (``incidents`` = x, y, after-flag); below raw: the
    published incident cells touching a buffer (``cells``, from the release)."""
    located = [p for p in projects if p.geometry is not None and not p.geometry.is_empty]
    if not located:
        return None
    buffers = [p.geometry.buffer(buffer_m) if buffer_m else p.geometry for p in located]
    hit_geoms: dict[str, tuple[str, str, Any]] = {}
    for p in located:
        for method, name, geom in p.hits:
            if geom is not None:
                hit_geoms.setdefault(f"{method}:{name}", (method, name, geom))
    bounds = _bounds([*buffers, *(g for _m, _n, g in hit_geoms.values())])
    frame = svg.Frame.around(bounds, WIDTH, pad=0.06, aspect=0.62)  # type: ignore[arg-type]
    shapes: list[svg.Shape] = []
    legend: list[LegendItem] = []
    if cells:
        boxes = _cell_boxes(cells)
        shapes.append(_cells_shape(boxes, styles.COUNT_COLOURS[2]))
        legend.append(
            LegendItem(
                "fill",
                styles.COUNT_COLOURS[2],
                _("Ruta med publicerat antal händelser (%(p)s)", p=cut_label),
                fill_opacity=0.7,
            )
        )
    colours = {"design": styles.DESIGN_COLOUR, "patrol": styles.PATROL_COLOUR}
    kinds = {"design": _("Otrygghet i utformningen"), "patrol": _("Händelser (patrull)")}
    for method in ("design", "patrol"):
        geoms = [g for m, _n, g in hit_geoms.values() if m == method]
        if geoms:
            shapes.append(
                svg.Shape(shapely.union_all(np.array(geoms, dtype=object)), colours[method], 0.2)
            )
            legend.append(
                LegendItem(
                    "fill",
                    colours[method],
                    _("Brännpunkt: %(kind)s", kind=kinds[method]),
                    fill_opacity=0.2,
                )
            )
    if buffer_m:
        shapes.append(
            svg.Shape(
                shapely.union_all(np.array(buffers, dtype=object)).boundary, svg.INK, 0.0, "4 3"
            )
        )
        legend.append(
            LegendItem("line", svg.INK, _("Buffert %(m)s m", m=f"{buffer_m:.0f}"), dash="4 3")
        )
    dots = []
    if incidents is not None and len(incidents[0]):
        x, y, after = (np.asarray(a) for a in incidents)
        after = after.astype(bool)
        dots = [
            svg.Dots(x[~after].astype(float), y[~after].astype(float), BEFORE, 3.5),
            svg.Dots(x[after].astype(float), y[after].astype(float), AFTER, 3.5),
        ]
        legend += [
            LegendItem("dot", BEFORE, _("Händelse före %(d)s", d=cut_label)),
            LegendItem("dot", AFTER, _("Händelse från %(d)s", d=cut_label)),
        ]
    groups = (
        (
            WITH_MEASURES,
            _("Projekt vid brännpunkt, med åtgärder"),
            lambda p: p.touched and p.has_measures,
        ),
        (
            WITHOUT_MEASURES,
            _("Projekt vid brännpunkt, utan åtgärder"),
            lambda p: p.touched and not p.has_measures,
        ),
        (styles.PROJECT_COLOUR, _("Projekt utan brännpunkt"), lambda p: not p.touched),
    )
    markers = []
    for colour, label, test in groups:
        members = [p for p in located if test(p)]
        if not members:
            continue
        shapes.append(
            svg.Shape(
                shapely.union_all(np.array([p.geometry for p in members], dtype=object)),
                colour,
                0.45,
            )
        )
        legend.append(LegendItem("fill", colour, label, fill_opacity=0.45))
        for p in members:
            c = shapely.point_on_surface(p.geometry)
            markers.append(
                svg.Marker(
                    c.x,
                    c.y,
                    str(p.number),
                    hot=colour == WITHOUT_MEASURES,
                    title=f"{p.number}. {p.name}",
                )
            )
    legend.append(LegendItem("marker", svg.CALM, _("Projektets nummer i tabellen")))
    out = svg.static_map(
        frame,
        title=_("Karta: projekten, buffertarna och brännpunkterna"),
        desc=_(
            "%(n)s aktiva projekt med numret de har i tabellen, en buffert om %(m)s meter runt vart och ett och de brännpunkter de berör.",
            n=len(located),
            m=f"{buffer_m:.0f}",
        ),
        ident="projects-map",
        areas=outlines,
        shapes=shapes,
        dots=dots,
        markers=markers,
        labels=False,
        lang=lang,
        css_class="static-map page-map-svg",
    )
    return PageMap(out, legend)


@dataclass(frozen=True)
class PlaceOnMap:
    """A measure's place on the promise follow-up: the activity's number and its place."""

    number: int
    geometry: Any
    label: str


def places_map(
    places: Sequence[PlaceOnMap],
    *,
    outlines: Sequence[svg.Area] = (),
    hidden: int = 0,
    lang: str,
) -> PageMap | None:
    """Where the promise's activities were carried out: each measure's place (areas and lines
    drawn as they are, points as the activity's number), over the municipality's districts.
    ``hidden``: measures left off (police tactics below raw detail) — said under the map."""
    located = [p for p in places if p.geometry is not None and not p.geometry.is_empty]
    if not located:
        return None
    geoms = [p.geometry for p in located]
    districts = [a.geometry for a in outlines if not a.municipality]
    bounds = _bounds(geoms)
    if districts:  # the town around the places: the council knows where it is
        near = [
            g
            for g in districts
            if g.distance(shapely.union_all(np.array(geoms, dtype=object))) < 1500
        ]
        bounds = _bounds([*geoms, *near]) or bounds
    minx, miny, maxx, maxy = bounds  # type: ignore[misc]
    pad = 300.0
    frame = svg.Frame.around((minx - pad, miny - pad, maxx + pad, maxy + pad), WIDTH, 0.02, 0.62)
    shapes, markers = [], []
    areal = [p for p in located if p.geometry.area > 0]
    lines = [p for p in located if p.geometry.area == 0 and p.geometry.length > 0]
    if areal:
        shapes.append(
            svg.Shape(
                shapely.union_all(np.array([p.geometry for p in areal], dtype=object)),
                MEASURE_COLOUR,
                0.3,
            )
        )
    for p in lines:
        shapes.append(svg.Shape(p.geometry, MEASURE_COLOUR, 0.0, stroke_width=3))
    for p in located:
        c = shapely.point_on_surface(p.geometry)
        markers.append(
            svg.Marker(c.x, c.y, str(p.number), hot=False, title=f"{p.number}. {p.label}")
        )
    legend = [LegendItem("marker", svg.CALM, _("Plats för en insats, med aktivitetens nummer"))]
    if areal:
        legend.append(LegendItem("fill", MEASURE_COLOUR, _("Insatsens område"), fill_opacity=0.3))
    if lines:
        legend.append(LegendItem("line", MEASURE_COLOUR, _("Insatsens sträcka")))
    out = svg.static_map(
        frame,
        title=_("Karta: var aktiviteterna genomfördes"),
        desc=_(
            "%(n)s platser där insatser för medborgarlöftet gjordes, numrerade som aktiviteterna i tabellerna.",
            n=len(located),
        ),
        ident="promise-map",
        areas=outlines,
        shapes=shapes,
        markers=markers,
        lang=lang,
        css_class="static-map page-map-svg",
    )
    note = ""
    if hidden:
        note = _(
            "%(n)s polisiära insatser visas inte på kartan (polisens taktik).",
            n=hidden,
        )
    return PageMap(out, legend, note)


def measure_map(
    place: Any,
    target: Any,
    buffer: Any,
    comparison: Any,
    *,
    comparison_label: str,
    lang: str,
) -> PageMap | None:
    """The measure's place and the three areas its evaluation counted in: the target, the
    displacement ring around it and the comparison area (working CRS)."""
    bounds = _bounds([place, target, buffer, comparison])
    if bounds is None:
        return None
    frame = svg.Frame.around(bounds, WIDTH, pad=0.05, aspect=0.7)
    shapes, legend = [], []
    for geom, colour, dash, opacity, label in (
        (comparison, COMPARISON_COLOUR, "3 3", 0.12, comparison_label),
        (buffer, BUFFER_COLOUR, "6 4", 0.15, _("Runt omkring (förflyttning)")),
        (target, MEASURE_COLOUR, None, 0.2, _("Insatsens område")),
    ):
        if geom is None or geom.is_empty:
            continue
        shapes.append(svg.Shape(geom, colour, opacity, dash=dash))
        legend.append(LegendItem("fill", colour, label, dash=dash, fill_opacity=opacity))
    markers = []
    if place is not None and not place.is_empty:
        if place.area > 0 or place.length > 0:
            shapes.append(
                svg.Shape(place, PLACE_COLOUR, 0.35 if place.area > 0 else 0.0, stroke_width=2.5)
            )
            kind = "fill" if place.area > 0 else "line"
            legend.append(LegendItem(kind, PLACE_COLOUR, _("Insatsens plats")))
        else:
            markers.append(svg.Marker(place.x, place.y, "", hot=False, title=_("Insatsens plats")))
            legend.append(LegendItem("marker", svg.CALM, _("Insatsens plats")))
    out = svg.static_map(
        frame,
        title=_("Karta: insatsens plats och områdena i utvärderingen"),
        desc=_(
            "Insatsens plats, området där effekten mäts, ringen runt omkring där förflyttning mäts och jämförelseområdet."
        ),
        ident="measure-map",
        shapes=shapes,
        markers=markers,
        lang=lang,
        css_class="static-map page-map-svg",
    )
    return PageMap(out, legend)
