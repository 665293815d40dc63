"""Hotspot layers (Gi*, KDE, emerging, patrol, design) from ``HotspotLayer.geojson``.

Feature properties understood (all optional): ``class`` (Gi* -3..3, or a KDE class 1..5),
``category`` (emerging), ``count``, ``z``, ``trend``, ``profile`` (7 x 24 hour x weekday),
``measures`` (measure keys), ``reasons`` (survey reason keys, (key, share) pairs, or the
published (key, band middle, band text) triples of :mod:`tryggkarta.disclosure`),
``density``/``value`` (KDE), ``name``/``label``.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from tryggkarta import hotspot_methods
from tryggkarta.domain import INCIDENT_CATEGORIES, MEASURES, SURVEY_REASONS, Trend, trend_key
from tryggkarta.i18n import format_number, format_percent
from tryggkarta.maps import popups, styles
from tryggkarta.maps.builders import TREND_TEXT, _label
from tryggkarta.maps.layers import GeoJsonLayer, MapLayer, Translate
from tryggkarta.maps.legend import LegendEntry

METHODS = hotspot_methods.KEYS
GISTAR_LABELS = {
    3: "Het punkt, 99 %",
    2: "Het punkt, 95 %",
    1: "Het punkt, 90 %",
    -1: "Kall punkt, 90 %",
    -2: "Kall punkt, 95 %",
    -3: "Kall punkt, 99 %",
}
EMERGING_LABELS = {
    "new": "Ny",
    "consecutive": "Återkommande i följd",
    "intensifying": "Intensifierad",
    "persistent": "Bestående",
    "diminishing": "Avtagande",
    "sporadic": "Sporadisk",
    "oscillating": "Växlande",
    "historical": "Historisk",
}


def k_filter(fc: dict[str, Any], min_count: int) -> dict[str, Any]:
    """Drop features whose ``count`` is below ``min_count`` (k-anonymity for aggregated roles)."""
    keep = [
        f
        for f in fc.get("features", [])
        if (f.get("properties") or {}).get("count") is None or f["properties"]["count"] >= min_count
    ]
    return {"type": "FeatureCollection", "features": keep}


#: KDE cells below this share of the peak density are not drawn (keeps the page small).
KDE_FLOOR = 0.1


def _significant(fc: dict[str, Any], method: str) -> dict[str, Any]:
    """Gi*: only significant cells (class != 0); KDE: cells above ``KDE_FLOOR`` of the peak."""
    feats = fc["features"]
    if method == "gistar":
        feats = [f for f in feats if int(f["properties"].get("class") or 0) != 0]
    elif method == "kde" and feats:
        peak = max(_kde_value(f["properties"]) for f in feats)
        feats = [f for f in feats if _kde_value(f["properties"]) >= KDE_FLOOR * peak]
    return {"type": "FeatureCollection", "features": feats}


def _reason_items(value: Any, lang: str, top: int = 5) -> list[str]:
    """The ``top`` survey reasons, with their share of the answers when given."""
    out = []
    for item in list(value or [])[:top]:
        if isinstance(item, list | tuple) and len(item) == 3:  # published: key, middle, band
            key, _middle, band = item
            out.append(_label(SURVEY_REASONS, key, lang) + (f" ({band})" if band else ""))
        elif isinstance(item, list | tuple) and len(item) == 2:
            key, share = item
            tail = (
                f" ({format_percent(share, lang)})"
                if isinstance(share, float) and share <= 1
                else f" ({share})"
            )
            out.append(_label(SURVEY_REASONS, key, lang) + tail)
        else:
            out.append(_label(SURVEY_REASONS, item, lang))
    return out


def _measure_items(value: Any, lang: str) -> list[str]:
    """Measures as "Label — evidence": keys, or dicts with ``key`` and ``evidence_sv/_en``."""
    out = []
    for item in value or []:
        if isinstance(item, dict):
            label = _label(MEASURES, item.get("key"), lang)
            evidence = item.get("evidence_en" if lang == "en" else "evidence_sv")
            out.append(f"{label} — {evidence}" if evidence else label)
        else:
            out.append(_label(MEASURES, item, lang))
    return out


def _incident_items(value: Any, lang: str, top: int = 5) -> list[str]:
    """Incidents nearby by category (``{category: n}``), largest first."""
    if not isinstance(value, dict):
        return []
    ranked = sorted(value.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))[:top]
    return [
        f"{_label(INCIDENT_CATEGORIES, k, lang)}: {format_number(float(n), lang, 0)}"
        for k, n in ranked
        if n
    ]


def _weeks_chart(p: dict[str, Any], t: Translate) -> Markup:
    """A sparkline of ``weeks`` (incidents per week, oldest first; raw detail only: the
    disclosure step drops the list for everyone else)."""
    from tryggkarta.maps.svg import sparkline

    weeks = p.get("weeks")
    if not isinstance(weeks, list) or len(weeks) < 2:
        return Markup("")
    values = [int(v) for v in weeks]
    ident = "wk-" + "".join(ch for ch in str(p.get("key") or p.get("cell") or "x") if ch.isalnum())
    chart = sparkline(
        values,
        title=t("Händelser per vecka, de senaste %(n)s veckorna", n=len(values)),
        desc=", ".join(map(str, values)),
        ident=ident,
        width=180,
        height=34,
    )
    return Markup("<div class='tk-weeks'>{}<span>{}</span></div>").format(
        chart, t("Den här veckan: %(n)s", n=values[-1])
    )


def _colour(method: str, p: dict[str, Any], kde: styles.Classes | None) -> str:
    if method == "gistar":
        return styles.GISTAR_COLOURS.get(int(p.get("class") or 0), styles.GISTAR_COLOURS[0])
    if method == "emerging":
        return styles.EMERGING_COLOURS.get(str(p.get("category")), "#878787")
    if method == "kde":
        if kde is not None:
            return kde.colour(_kde_value(p))
        return styles.KDE_COLOURS[max(0, min(4, int(p.get("class") or 1) - 1))]
    if method == "forecast":
        return styles.FORECAST_COLOUR
    return styles.PATROL_COLOUR if method == "patrol" else styles.DESIGN_COLOUR


def _kde_value(p: dict[str, Any]) -> float:
    for key in ("density", "value", "score", "count"):
        if p.get(key) is not None:
            return float(p[key])
    return 0.0


#: Properties that need the server-built popup (charts, lists, names); other features get a
#: compact browser-built popup.
RICH = ("profile", "measures", "reasons", "name", "label")


def hotspot_layer(
    fc: dict[str, Any],
    method: str,
    title: str,
    t: Translate,
    lang: str,
    *,
    show: bool = False,
    min_count: int = 1,
    note: str = "",
) -> MapLayer:
    """A hotspot method's cells or areas, coloured by class/category, popups with evidence.

    Plain cells (Gi*, KDE, emerging) ship compact properties and a popup template; features
    with a profile chart, measures, reasons or a name (patrol, design) keep an escaped
    server-built ``_popup``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown hotspot method {method!r}")
    fc = _significant(k_filter(fc, min_count), method)
    feats = fc["features"]
    kde = None
    if method == "kde" and not any("class" in (f.get("properties") or {}) for f in feats):
        kde = styles.count_classes([_kde_value(f["properties"]) for f in feats], styles.KDE_COLOURS)
    palette: list[str] = []
    outline = hotspot_methods.method(method).outline

    def colour_index(colour: str) -> int:
        if colour not in palette:
            palette.append(colour)
        return palette.index(colour)

    def trend_of(p: dict[str, Any]) -> str | None:
        trend = trend_key(p.get("trend"))
        if trend is None and p.get("trend_z") is not None and (p.get("trend_p") or 1.0) < 0.05:
            trend = Trend.UP if p["trend_z"] > 0 else Trend.DOWN
        return str(trend) if trend is not None else None

    def kind_of(p: dict[str, Any]) -> str | None:
        if method != "emerging" or not p.get("category"):
            return None
        return p.get("label_en" if lang == "en" else "label_sv") or t(
            EMERGING_LABELS.get(str(p.get("category")), str(p.get("category")))
        )

    def props(p: dict[str, Any]) -> dict[str, Any]:
        colour = _colour(method, p, kde)
        if outline or any(p.get(k) for k in RICH):
            return {**p, **rich(p, colour)}
        out: dict[str, Any] = {"_c": colour_index(colour)}
        if method == "gistar" and p.get("class") in GISTAR_LABELS:
            out["class"] = int(p["class"])
        for key, value in (
            ("kind", kind_of(p)),
            ("trend", trend_of(p)),
            ("top_category", p.get("top_category")),
        ):
            if value:
                out[key] = value
        if p.get("count") is not None:
            out["count"] = int(p["count"])
        if p.get("z") is not None:
            out["z"] = round(float(p["z"]), 2)
        return out

    def count_row(p: dict[str, Any]) -> list[tuple[str, str | None]]:
        """Design hot spots count survey answers, the other methods incidents."""
        if method == "design":
            n = p.get("n_answers", p.get("count"))
            share = p.get("unsafe_share")
            return [
                (t("Antal enkätsvar"), format_number(float(n), lang, 0) if n is not None else None),
                (
                    t("Andel otrygga svar"),
                    format_percent(float(share), lang) if share is not None else None,
                ),
            ]
        n = p.get("count")
        return [(t("Antal händelser"), format_number(float(n), lang, 0) if n is not None else None)]

    def rich(p: dict[str, Any], colour: str) -> dict[str, Any]:
        trend = trend_of(p)
        peak = p.get("peak_en" if lang == "en" else "peak_sv")
        rows = [
            (
                t("Klass"),
                t(GISTAR_LABELS[int(p["class"])])
                if method == "gistar" and p.get("class") in GISTAR_LABELS
                else None,
            ),
            (t("Typ"), kind_of(p)),
            *count_row(p),
            (
                t("z-värde"),
                format_number(float(p["z"]), lang, 2) if p.get("z") is not None else None,
            ),
            (t("Trend"), t(TREND_TEXT[trend]) if trend else None),
            (t("När"), str(peak) if peak else None),
            (
                t("Kategori"),
                _label(INCIDENT_CATEGORIES, p["top_category"], lang)
                if p.get("top_category")
                else None,
            ),
        ]
        sections = [
            (t("Händelser per vecka"), _weeks_chart(p, t)),
            (
                t("När (timme × veckodag)"),
                popups.profile_svg(
                    p.get("profile") or [], lang, t("Händelser per timme och veckodag")
                ),
            ),
            (
                t("Vanligaste skälen i enkäten"),
                popups.bullet_list(_reason_items(p.get("reasons"), lang)),
            ),
            (
                t("Händelser i närheten"),
                popups.bullet_list(_incident_items(p.get("incidents"), lang)),
            ),
            (
                t("Rekommenderade åtgärder"),
                popups.bullet_list(_measure_items(p.get("measures"), lang)),
            ),
        ]
        heading = p.get("name") or p.get("label") or title
        style = (
            styles.outline_style(colour, weight=3, fill=0.25)
            if outline
            else styles.hotspot_cell_style(colour)
        )
        return {
            "_style": style,
            "_popup": popups.popup(str(heading), popups.rows(rows), *sections),
            "_tip": popups.text(heading),
        }

    data = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": f["geometry"],
                "properties": props(dict(f.get("properties") or {})),
            }
            for f in feats
        ],
    }
    options = hotspot_options(method, title, t, lang)
    options["palette"] = palette
    layer = GeoJsonLayer(data, title, show=show, options=options)
    return MapLayer(
        f"hotspot_{method}", layer, _legend(method, title, feats, kde, t, note), len(feats)
    )


def hotspot_options(method: str, title: str, t: Translate, lang: str) -> dict[str, Any]:
    """Drawing options of a hotspot layer: base style and the browser popup template."""
    return {
        "style": styles.hotspot_cell_style(styles.GISTAR_COLOURS[0]),
        "halo": True,
        "lang": lang,
        "popup": {
            "title": title,
            "rows": [
                [t("Klass"), "class", {"map": "gistar"}],
                [t("Typ"), "kind", "text"],
                [t("Antal händelser"), "count", "int"],
                [t("z-värde"), "z", "dec2"],
                [t("Trend"), "trend", {"map": "trend"}],
                [t("Kategori"), "top_category", {"map": "category"}],
            ],
        },
        "tip": {"text": title},
        "lookups": {
            "gistar": {str(k): t(v) for k, v in GISTAR_LABELS.items()},
            "trend": {k: t(v) for k, v in TREND_TEXT.items()},
            "category": {k: v.get(lang) for k, v in INCIDENT_CATEGORIES.items()},
        },
    }


def lazy_hotspot_layer(
    method: str, title: str, url: str, t: Translate, *, note: str = ""
) -> MapLayer:
    """A hotspot layer whose features the browser fetches from ``url`` when it is switched on."""
    if method not in METHODS:
        raise ValueError(f"unknown hotspot method {method!r}")
    layer = GeoJsonLayer(None, title, show=False, url=url)
    entry = _legend(method, title, None, None, t, note)
    if note and note not in entry.note:  # a data-quality note after the method's own
        entry.note = f"{entry.note} {note}".strip()
    return MapLayer(f"hotspot_{method}", layer, entry, 0)


def _legend(
    method: str,
    title: str,
    feats: list[dict] | None,
    kde: styles.Classes | None,
    t: Translate,
    note: str = "",
) -> LegendEntry:
    if method == "forecast":
        return LegendEntry(
            title,
            [(styles.FORECAST_COLOUR, t(hotspot_methods.method(method).legend))],
            "line",
            note=note
            or t("Metoden väljs genom att pröva vilken som bäst förutsåg de senaste veckorna."),
        )
    if method == "gistar":
        present = (
            {3, 2, 1, -1, -2, -3}
            if feats is None
            else {int((f.get("properties") or {}).get("class") or 0) for f in feats}
        )
        items = [
            (styles.GISTAR_COLOURS[c], t(GISTAR_LABELS[c]))
            for c in (3, 2, 1, -1, -2, -3)
            if c in present
        ]
        return LegendEntry(title, items or [(styles.GISTAR_COLOURS[3], t(GISTAR_LABELS[3]))])
    if method == "emerging":
        present = (
            set(EMERGING_LABELS)
            if feats is None
            else {str((f.get("properties") or {}).get("category")) for f in feats}
        )
        items = [
            (c, t(EMERGING_LABELS[k])) for k, c in styles.EMERGING_COLOURS.items() if k in present
        ]
        return LegendEntry(title, items)
    if method == "kde":
        if kde is not None and len(kde.colours) > 1:
            return LegendEntry(
                title,
                [(kde.colours[0], t("Låg täthet")), (kde.colours[-1], t("Hög täthet"))],
                note=styles.method_note(kde, t),
            )
        return LegendEntry(
            title,
            [(styles.KDE_COLOURS[0], t("Låg täthet")), (styles.KDE_COLOURS[-1], t("Hög täthet"))],
        )
    colour = styles.PATROL_COLOUR if method == "patrol" else styles.DESIGN_COLOUR
    return LegendEntry(title, [(colour, t(hotspot_methods.method(method).legend))], "line")
