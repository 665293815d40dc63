"""Map layer builders, one per tryggkarta layer (pure: data + translator in, MapLayer out).

Input FeatureCollections are WGS84 (RFC 7946). Cell collections come from
:func:`tryggkarta.services.grids.cells_geojson` and are already k-suppressed for the caller.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from tryggkarta.config import local_timezone
from tryggkarta.domain import (
    AREA_KINDS,
    INCIDENT_CATEGORIES,
    PROJECT_KINDS,
    PROJECT_STATUSES,
    SURVEY_REASONS,
    TIMES_OF_DAY,
    TREND_LABELS,
)
from tryggkarta.i18n import format_number, format_percent
from tryggkarta.maps import popups, styles
from tryggkarta.maps.layers import (
    BboxPointLayer,
    GeoJsonLayer,
    MapLayer,
    Translate,
    VectorTilePointLayer,
    _styled,
    legend_for_classes,
)
from tryggkarta.maps.legend import LegendEntry

#: Trend labels (Swedish source text, translated with ``t``): the domain's one vocabulary.
TREND_TEXT = {str(k): v.sv for k, v in TREND_LABELS.items()}


def _label(table: dict[str, Any], key: Any, lang: str) -> str:
    label = table.get(str(key)) if key is not None else None
    return label.get(lang) if label is not None else ("" if key is None else str(key))


def _n(value: float, lang: str) -> str:
    return format_number(float(value), lang, 0)


def _compact(fc: dict[str, Any], props: Any) -> dict[str, Any]:
    """Features with only the properties ``props(p)`` returns (geometry unchanged)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": f["geometry"],
                "properties": props(f.get("properties") or {}),
            }
            for f in fc.get("features", [])
        ],
    }


def category_lookup(lang: str) -> dict[str, str]:
    return {k: v.get(lang) for k, v in INCIDENT_CATEGORIES.items()}


def group_lookup(lang: str) -> dict[str, str]:
    from tryggkarta.disclosure import CATEGORY_GROUPS

    return {k: label.get(lang) for k, (label, _cats) in CATEGORY_GROUPS.items()}


def coarse_note(release: dict[str, Any] | None, t: Translate) -> str:
    """The legend line of a release shown on cells coarser than 250 m (a region or the
    country on a page: sums of the published 250 m cells); "" otherwise."""
    size = float((release or {}).get("cell_size") or 250)
    if size <= 250:
        return ""
    return t(
        "Rutor om %(km)s km: summan av de publicerade rutorna om 250 m.",
        km=f"{size / 1000:g}",
    )


def _joined(*notes: str) -> str:
    return " ".join(n for n in notes if n)


def incident_cells(fc: dict[str, Any], t: Translate, lang: str, *, show: bool = True) -> MapLayer:
    """Incidents per grid cell; popup (built in the browser) with count, trend, categories.

    Features carry ``count``, ``trend`` and ``categories`` (the five largest, already
    k-suppressed: ``[[key, n], ...]``) and ``_c`` (colour class); no per-feature HTML.
    """
    counts = [f["properties"]["count"] for f in fc["features"]]
    classes = styles.count_classes(counts)
    colour_index = {c: i for i, c in enumerate(classes.colours)}

    def props(p: dict[str, Any]) -> dict[str, Any]:
        cats = p.get("categories") or {}
        if isinstance(cats, dict):
            cats = sorted(cats.items(), key=lambda kv: -kv[1])
        out: dict[str, Any] = {"count": p["count"], "_c": colour_index[classes.colour(p["count"])]}
        if p.get("trend"):
            out["trend"] = p["trend"]
        if cats:
            out["categories"] = [[k, int(v)] for k, v in cats[:5]]
        groups = p.get("groups") or {}
        if groups:
            out["groups"] = [[k, int(v)] for k, v in sorted(groups.items(), key=lambda kv: -kv[1])]
        return out

    release = fc.get("release")
    trend_text = (
        t("Trend (mot föregående period)")
        if release
        else t("Trend (senaste 4 veckorna mot de 4 före)")
    )
    count_text = (
        t("Antal händelser (avrundat)")
        if release and release.get("rounded_to", 1) > 1
        else t("Antal händelser")
    )

    options = {
        "style": styles.cell_style(classes.colours[0]),
        "palette": list(classes.colours),
        "lang": lang,
        "popup": {
            "title": t("Händelser i rutan"),
            "rows": [
                [count_text, "count", "int"],
                [trend_text, "trend", {"map": "trend"}],
            ],
            "lists": [
                [t("Kategorier"), "categories", {"map": "category", "pattern": "{label}: {n}"}],
                [t("Kategorigrupper"), "groups", {"map": "group", "pattern": "{label}: {n}"}],
            ],
        },
        "tip": {"text": t("%(n)s händelser", n="{n}"), "key": "count", "fmt": "int"},
        "lookups": {
            "trend": {k: t(v) for k, v in TREND_TEXT.items()},
            "category": category_lookup(lang),
            "group": group_lookup(lang),
        },
    }
    legend = LegendEntry(
        t("Händelser per ruta"),
        legend_for_classes(
            classes, lambda v: _n(v, lang), (release or {}).get("min_count", 1), integer=True
        ),
        note=_joined(styles.method_note(classes, t), coarse_note(release, t)),
    )
    layer = GeoJsonLayer(_compact(fc, props), t("Händelser per ruta"), show=show, options=options)
    return MapLayer("incidents", layer, legend, len(counts))


def survey_cells(fc: dict[str, Any], t: Translate, lang: str, *, show: bool = True) -> MapLayer:
    """Share of unsafe survey answers per cell, with the most named reasons (browser popups)."""
    classes = styles.share_classes()
    colour_index = {c: i for i, c in enumerate(classes.colours)}

    def props(p: dict[str, Any]) -> dict[str, Any]:
        share = float(p.get("share", 0.0))
        out: dict[str, Any] = {
            "count": p["count"],
            "share": share,
            "_c": colour_index[classes.colour(share)],
        }
        if p.get("reasons"):
            out["reasons"] = [[k, int(n)] for k, n in p["reasons"]]
        if p.get("share_text"):
            out["share_text"] = p["share_text"]
        if p.get("unsafe") is not None and p.get("share_text"):
            out["unsafe"] = p["unsafe"]
        return out

    banded = any((f.get("properties") or {}).get("share_text") for f in fc.get("features", []))
    share_row = (
        [t("Andel otrygga svar (betyg 1–2), intervall"), "share_text", "text"]
        if banded
        else [t("Andel otrygga svar (betyg 1–2)"), "share", "pct"]
    )

    options = {
        "style": styles.cell_style(classes.colours[0], opacity=0.6),
        "palette": list(classes.colours),
        "lang": lang,
        "popup": {
            "title": t("Trygghetsundersökning"),
            "rows": [
                [t("Antal svar"), "count", "int"],
                share_row,
            ],
            "lists": [
                [t("Vanligaste skälen"), "reasons", {"map": "reason", "pattern": "{label} ({n})"}]
            ],
        },
        "tip": {
            "text": t("%(share)s otrygga svar", share="{n}"),
            "key": "share_text" if banded else "share",
            "fmt": "text" if banded else "pct",
        },
        "lookups": {"reason": {k: v.get(lang) for k, v in SURVEY_REASONS.items()}},
    }
    items = legend_for_classes(classes, lambda v: format_percent(v, lang), 0.0)
    legend = LegendEntry(
        t("Andel otrygga svar per ruta"), items, note=coarse_note(fc.get("release"), t)
    )
    n = len(fc["features"])
    layer = GeoJsonLayer(
        _compact(fc, props), t("Trygghetsundersökning per ruta"), show=show, options=options
    )
    return MapLayer("survey", layer, legend, n)


def survey_pins(fc: dict[str, Any], t: Translate, lang: str, *, show: bool = False) -> MapLayer:
    """Individual survey answers (RAW roles only), comment included, escaped."""

    def props(p: dict[str, Any]) -> dict[str, Any]:
        reasons = [
            _label(SURVEY_REASONS, r, lang) for r in str(p.get("reasons") or "").split(",") if r
        ]
        table = popups.rows(
            [
                (t("Betyg (1 = mycket otryggt)"), p.get("rating")),
                (t("Tid på dygnet"), _label(TIMES_OF_DAY, p.get("time_of_day"), lang) or None),
                (t("Skäl"), ", ".join(reasons)),
                (t("Besvarad"), p.get("answered")),
            ]
        )
        comment = Markup("<p>{}</p>").format(p["comment"]) if p.get("comment") else Markup("")
        rating = int(p.get("rating") or 3)
        colour = styles.SHARE_COLOURS[::-1][max(0, min(4, rating - 1))]
        style = {
            "radius": 5,
            "color": styles.SURVEY_PIN_COLOUR,
            "weight": 1,
            "fillColor": colour,
            "fillOpacity": 0.9,
        }
        return {
            "_style": style,
            "_popup": popups.popup(t("Enkätsvar"), table, (t("Kommentar"), comment)),
        }

    data = _styled(fc, props)
    n = len(fc["features"])
    return MapLayer(
        "survey_pins",
        GeoJsonLayer(data, t("Enkätsvar (enskilda)"), show=show),
        _survey_pins_legend(t),
        n,
    )


def _survey_pins_legend(t: Translate) -> LegendEntry:
    return LegendEntry(
        t("Enkätsvar (enskilda)"),
        [
            (styles.SHARE_COLOURS[4], t("Otryggt (1–2)")),
            (styles.SHARE_COLOURS[0], t("Tryggt (4–5)")),
        ],
        kind="point",
    )


def lazy_survey_pins(url: str, t: Translate) -> MapLayer:
    """Individual survey answers fetched from ``url`` (see :func:`survey_pins`) when shown.

    Off by default and the largest layer by far (a popup per answer): the page embeds none.
    """
    layer = GeoJsonLayer(None, t("Enkätsvar (enskilda)"), show=False, url=url)
    return MapLayer("survey_pins", layer, _survey_pins_legend(t), 0)


def projects(fc: dict[str, Any], t: Translate, lang: str, *, show: bool = True) -> MapLayer:
    """Planning and design projects as outlines."""

    def props(p: dict[str, Any]) -> dict[str, Any]:
        table = popups.rows(
            [
                (t("Diarienummer"), p.get("case_number")),
                (t("Typ"), _label(PROJECT_KINDS, p.get("kind"), lang)),
                (t("Status"), _label(PROJECT_STATUSES, p.get("status"), lang)),
                (
                    t("Period"),
                    " – ".join(str(v) for v in (p.get("start_date"), p.get("end_date")) if v),
                ),
                (t("Beskrivning"), p.get("description")),
            ]
        )
        return {
            "_style": styles.outline_style(styles.PROJECT_COLOUR, dash="6 4", fill=0.12),
            "_popup": popups.popup(p.get("name") or t("Projekt"), table),
            "_tip": popups.text(p.get("name")),
        }

    legend = LegendEntry(
        t("Plan- och gestaltningsprojekt"), [(styles.PROJECT_COLOUR, t("Projektområde"))], "line"
    )
    n = len(fc["features"])
    return MapLayer(
        "projects",
        GeoJsonLayer(_styled(fc, props), t("Plan- och gestaltningsprojekt"), show=show),
        legend,
        n,
    )


def areas(
    fc: dict[str, Any], t: Translate, lang: str, *, show: bool = True, labels: bool = False
) -> MapLayer:
    """Municipality boundary and districts, outlines only.

    With ``labels`` (no background map) each district carries its name as a permanent label
    (``_label``), so a map without tiles still says where it is.
    """

    def props(p: dict[str, Any]) -> dict[str, Any]:
        muni = p.get("kind") == "municipality"
        style = styles.outline_style(
            styles.AREA_COLOUR, weight=3 if muni else 1.5, dash=None if muni else "3 3", fill=0
        )
        return {
            "_style": style,
            "_popup": popups.popup(
                p.get("name") or "",
                popups.rows([(t("Typ"), _label(AREA_KINDS, p.get("kind"), lang))]),
            ),
            "_tip": popups.text(p.get("name")),
            **({"_label": popups.text(p.get("name"))} if labels and not muni else {}),
        }

    legend = LegendEntry(t("Kommun och stadsdelar"), [(styles.AREA_COLOUR, t("Gräns"))], "line")
    n = len(fc["features"])
    return MapLayer(
        "areas", GeoJsonLayer(_styled(fc, props), t("Kommun och stadsdelar"), show=show), legend, n
    )


def incident_points(
    url: str,
    t: Translate,
    lang: str,
    *,
    params: dict[str, Any],
    min_zoom: int = 14,
    limit: int = 5000,
) -> MapLayer:
    """Raw incidents loaded from the API for the visible bbox (RAW roles only)."""
    options = {
        "url": url,
        "params": params,
        "minZoom": min_zoom,
        "limit": limit,
        "labels": {
            "zoomIn": t("Zooma in för att se enskilda händelser."),
            "tooMany": t("Fler än %(n)s händelser i vyn: zooma in.", n=limit),
            "category": t("Kategori"),
            "when": t("Tid"),
            "address": t("Adress"),
            "description": t("Beskrivning"),
            "reporter": t("Rapportör"),
            "title": t("Händelse"),
        },
        "categories": {k: v.get(lang) for k, v in INCIDENT_CATEGORIES.items()},
        "lang": lang,
        "timeZone": local_timezone().key,  # popups show this zone's time, not the browser's
    }
    name = t("Enskilda händelser (zooma in)")
    legend = LegendEntry(
        name,
        [(styles.POINT_COLOUR, t("Händelse (kluster visar antal)"))],
        "point",
        note=t("Visas från zoomnivå %(z)s.", z=min_zoom),
    )
    return MapLayer("incident_points", BboxPointLayer(name, options), legend)


#: Count classes of the tile layer's cells (upper limits; the last class is open): fixed,
#: because a tile's cells are 250 m, 1 km or 5 km by zoom and no page-wide breaks fit all.
TILE_CELL_BREAKS = (4, 19, 99, 499)


def _tile_classes(t: Translate, lang: str) -> tuple[list[str], list[str]]:
    """(colours, range labels) of the tile cells' count classes."""
    palette = list(styles.COUNT_COLOURS)
    labels = []
    low = 1
    for brk in TILE_CELL_BREAKS:
        labels.append(f"{_n(low, lang)}–{_n(brk, lang)}")
        low = brk + 1
    labels.append(t("%(n)s eller fler", n=_n(low, lang)))
    return palette, labels


def _tile_options(
    url: str, item_url: str, t: Translate, lang: str, params: dict[str, Any], point_zoom: int
) -> dict[str, Any]:
    palette, _labels = _tile_classes(t, lang)
    return {
        "url": url,
        "itemUrl": item_url,
        "params": params,
        "pointZoom": point_zoom,
        "breaks": list(TILE_CELL_BREAKS),
        "palette": palette,
        "pointColour": styles.POINT_COLOUR,
        "labels": {
            "category": t("Kategori"),
            "when": t("Tid"),
            "address": t("Adress"),
            "description": t("Beskrivning"),
            "reporter": t("Rapportör"),
            "title": t("Händelse"),
            "cellTitle": t("Händelser i rutan"),
            "count": t("Antal händelser"),
            "cell": t("Rutans storlek"),
            "failed": t("Händelsen kunde inte hämtas."),
        },
        "categories": category_lookup(lang),
        "lang": lang,
        "timeZone": local_timezone().key,
    }


def incident_tiles(
    url: str,
    item_url: str,
    t: Translate,
    lang: str,
    *,
    params: dict[str, Any],
    point_zoom: int,
    show: bool = False,
) -> MapLayer:
    """Raw incidents as vector tiles (RAW roles only): points from ``point_zoom``, counts per
    cell further out (see :mod:`tryggkarta.store.tiles`).

    ``url`` is the tile template (``…/{z}/{x}/{y}.mvt``), ``params`` the page's filters passed
    on to every tile; ``item_url`` the feature API for one incident (``…/items/0``, the id
    replaces the ``0``): the tile carries id, category and time only, the popup's address and
    description are fetched (and audited) when a point is clicked.
    """
    options = _tile_options(url, item_url, t, lang, params, point_zoom)
    palette, labels = _tile_classes(t, lang)
    name = t("Enskilda händelser")
    legend = LegendEntry(
        name,
        [(styles.POINT_COLOUR, t("Händelse (klicka för detaljer)"))]
        + [
            (c, t("%(range)s händelser per ruta", range=lab))
            for c, lab in zip(palette, labels, strict=True)
        ],
        "point",
        note=t(
            "Enskilda händelser från zoomnivå %(z)s; längre ut antal per ruta (250 m, 1 km eller 5 km efter zoom).",
            z=point_zoom,
        ),
    )
    return MapLayer("incident_points", VectorTilePointLayer(name, options, show=show), legend)


def incident_cell_tiles(
    url: str,
    t: Translate,
    lang: str,
    *,
    params: dict[str, Any],
    point_zoom: int,
    show: bool = True,
) -> MapLayer:
    """Incidents per cell as vector tiles, the start page's incident layer for a region or
    the country (RAW roles only; the same tiles as :func:`incident_tiles`).

    Counts per 5 km, 1 km or 250 m cell by zoom, never points: closer in than
    ``point_zoom`` - 1 the tiles of that zoom are drawn larger (``maxDetailZoom``), so this
    layer shows no individual incident (that is the separate layer of single incidents).
    The page carries no cells: only the tiles the map shows are fetched.
    """
    options = _tile_options(url, "", t, lang, params, point_zoom)
    options["maxDetailZoom"] = point_zoom - 1
    palette, labels = _tile_classes(t, lang)
    name = t("Händelser per ruta")
    legend = LegendEntry(
        name,
        [
            (c, t("%(range)s händelser per ruta", range=lab))
            for c, lab in zip(palette, labels, strict=True)
        ],
        "point",
        note=t(
            "Antal händelser per ruta: 5 km, 1 km eller 250 m efter zoom. Klicka på en ruta för antalet."
        ),
    )
    return MapLayer("incidents", VectorTilePointLayer(name, options, show=show), legend)
