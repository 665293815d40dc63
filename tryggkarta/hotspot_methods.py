"""The one registry of hot-spot methods (issue #12.5).

Every module that names a hot-spot method reads it from here: the access policy (which data
layer decides who sees it, which need raw detail), the services (layer titles), the map
(legend text, outline or cells, popup fields), the API (which methods exist), the OGC
collections and exports (collection name, title, description) and the forecast's candidate
labels. Trends use one vocabulary, :class:`tryggkarta.domain.Trend`.

Pure data: no Flask, no store, no numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

from tryggkarta.domain import Layer, Trend


@dataclass(frozen=True)
class HotspotMethod:
    """One hot-spot method.

    ``layer``: the data layer behind it (its detail level decides who sees the method);
    ``raw_only``: needs raw detail (street-level times and counts); ``params``: the keyword
    parameters of its service function; ``popup_fields``: feature properties its popup
    shows; ``legend``: the Swedish source text of its one-colour legend item (translated
    with ``_``/``t``; '' for methods whose legend lists classes); ``outline``: drawn as
    outlined areas rather than filled cells; ``collection``: its OGC/export collection
    (None: not published there); ``trend``: features carry a :class:`Trend`."""

    key: str
    title_sv: str
    title_en: str
    description_en: str
    layer: str
    params: tuple[str, ...]
    popup_fields: tuple[str, ...]
    legend: str = ""
    outline: bool = False
    raw_only: bool = False
    collection: str | None = None
    trend: bool = False

    def title(self, lang: str) -> str:
        return self.title_en if lang == "en" else self.title_sv


METHODS: dict[str, HotspotMethod] = {
    m.key: m
    for m in (
        HotspotMethod(
            "forecast",
            "Brännpunkter (prognos)",
            "Hot spots (forecast)",
            "Top 5 % of the study area by the method chosen on earlier forecast windows (naive "
            "unless another method beat it beyond noise), with its PAI on later windows.",
            Layer.INCIDENTS,
            ("area_share", "test_weeks"),
            ("count", "score", "rank"),
            legend="Högst förväntat antal händelser (5 % av ytan)",
            outline=True,
            collection="forecast_hotspots",
        ),
        HotspotMethod(
            "gistar",
            "Brännpunkter (Gi*)",
            "Hot spots (Gi*)",
            "Getis-Ord Gi* hot and cold cells, FDR-corrected.",
            Layer.INCIDENTS,
            ("cell_size", "neighbourhood"),
            ("class", "count", "z"),
            collection="gistar_hotspots",
        ),
        HotspotMethod(
            "kde",
            "Täthet (KDE)",
            "Density (KDE)",
            "Quartic kernel density of the incidents; the densest 5 % of the area is the hot spot.",
            Layer.INCIDENTS,
            ("cell_size", "bandwidth", "top_share"),
            ("density", "count", "hotspot"),
        ),
        HotspotMethod(
            "emerging",
            "Framväxande brännpunkter",
            "Emerging hot spots",
            "Gi* per week or month and a Mann-Kendall trend per cell (new, intensifying, "
            "diminishing … hot spots).",
            Layer.INCIDENTS,
            ("step", "cell_size", "periods"),
            ("category", "count", "trend"),
            trend=True,
        ),
        HotspotMethod(
            "patrol",
            "Patrullbrännpunkter",
            "Patrol hot spots",
            "Recent clusters with trend and hour × weekday profile (police and municipality).",
            Layer.INCIDENTS,
            ("recent_weeks", "baseline_weeks", "cell_size"),
            ("name", "count", "trend", "profile", "peak_sv", "peak_en", "top_category"),
            legend="Prioriterad plats för patrull",
            outline=True,
            raw_only=True,
            collection="patrol_hotspots",
            trend=True,
        ),
        HotspotMethod(
            "design",
            "Gestaltningsbrännpunkter",
            "Design hot spots",
            "Where the survey says unsafe, why, and the recommended measures.",
            Layer.SURVEY,
            ("cell_size", "min_n"),
            ("name", "n_answers", "unsafe_share", "reasons", "incidents", "measures"),
            legend="Plats med åtgärdsbehov",
            outline=True,
            collection="design_hotspots",
        ),
    )
}

#: The method keys in display order.
KEYS: tuple[str, ...] = tuple(METHODS)

#: The one trend vocabulary of hot-spot features (``up``, ``down``, ``flat``).
TRENDS: tuple[str, ...] = tuple(str(t) for t in Trend)


def method(key: str) -> HotspotMethod:
    """The method ``key``; a ValueError naming the choices otherwise."""
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(
            f"There is no hotspot method {str(key)[:40]!r}; choose one of {', '.join(KEYS)}."
        ) from None


#: Forecast candidates (inside the ``forecast`` method): method name -> (sv, en) title.
CANDIDATES: dict[str, tuple[str, str]] = {
    "naive": ("Alla tidigare händelser", "All earlier incidents"),
    "recency": ("Viktade antal där nyare händelser väger mer", "Recency-weighted counts"),
    "kde": ("Täthet (KDE)", "Density (KDE)"),
    "gistar": ("Gi*", "Gi*"),
    "gbm": ("Gradient boosting på tidigare antal", "Gradient boosting on earlier counts"),
    "etas": (
        "Självexciterande process (nära upprepningar)",
        "Self-exciting process (near repeats)",
    ),
}
