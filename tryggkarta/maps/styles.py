"""Colours and class breaks of the map layers (one place, shared by maps and legends).

Palettes are ColorBrewer ramps (YlOrRd, Blues, RdYlGn) and the Gi* hot/cold colours of the
common GIS tools; fills are drawn semi-transparent over the background map, outlines dark
enough for 3:1 non-text contrast.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: Incidents per cell (YlOrRd, 5 classes).
COUNT_COLOURS = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
#: Survey unsafe share (green = few unsafe answers ... red = many).
SHARE_COLOURS = ("#1a9641", "#a6d96a", "#ffffbf", "#fdae61", "#d7191c")
SHARE_BREAKS = (0.2, 0.4, 0.6, 0.8)
#: KDE surface (purple ramp).
KDE_COLOURS = ("#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f")

#: Gi* classes -3..+3 (99/95/90 % cold, not significant, 90/95/99 % hot).
GISTAR_COLOURS: dict[int, str] = {
    3: "#d62f27",
    2: "#ed7551",
    1: "#fab984",
    0: "#f2f2ee",
    -1: "#c0ccbe",
    -2: "#849eba",
    -3: "#4575b5",
}
#: Emerging hot spot categories (as the common GIS tools name them).
EMERGING_COLOURS: dict[str, str] = {
    "new": "#b2182b",
    "consecutive": "#d6604d",
    "intensifying": "#f4a582",
    "persistent": "#92c5de",
    "diminishing": "#4393c3",
    "sporadic": "#fddbc7",
    "oscillating": "#b8a9c9",
    "historical": "#878787",
}
PATROL_COLOUR = "#08306b"
DESIGN_COLOUR = "#6a3d9a"
FORECAST_COLOUR = "#111111"  # an outline: it must read over the red incident cells
PROJECT_COLOUR = "#00639c"
AREA_COLOUR = "#3d4752"
POINT_COLOUR = "#b30000"
SURVEY_PIN_COLOUR = "#4a1486"


@dataclass(frozen=True)
class Classes:
    """Upper class limits and their colours: value <= breaks[i] gets colours[i]."""

    breaks: tuple[float, ...]
    colours: tuple[str, ...]
    #: How the breaks were found (a key of :data:`CLASS_METHODS`), "" for fixed breaks.
    method: str = ""

    def colour(self, value: float) -> str:
        idx = int(np.searchsorted(np.asarray(self.breaks), value, side="left"))
        return self.colours[min(idx, len(self.colours) - 1)]

    def colours_for(self, values: np.ndarray) -> list[str]:
        idx = np.searchsorted(np.asarray(self.breaks), np.asarray(values, float), side="left")
        idx = np.minimum(idx, len(self.colours) - 1)
        return [self.colours[i] for i in idx]


#: Class-break methods (``mapclassify``) and the names the legend gives them (Swedish source).
CLASS_METHODS: dict[str, str] = {
    "quantiles": "kvantiler (lika många rutor per klass)",
    "natural_breaks": "naturliga brytpunkter (Fisher–Jenks)",
    "head_tail": "huvud/svans-brytpunkter (för skeva värden)",
    "unique": "varje värde en klass",
}
#: Above this many values natural breaks run on a sample (Fisher–Jenks is O(k·n²) in pure
#: Python without numba: 300 values take about 0.1 s).
_JENKS_SAMPLE = 300


def heavy_tailed(values: np.ndarray) -> bool:
    """True for a long right tail: few values above the mean, the largest ≫ the median.

    The head/tail rule (Jiang 2013) suits data with far more small values than large ones,
    e.g. incidents per cell where a few centre cells hold hundreds and most hold a handful.
    """
    if values.size < 10:
        return False
    head = float(np.mean(values > values.mean()))
    return head < 0.4 and float(values.max()) >= 10 * float(np.median(values))


def _raw_breaks(arr: np.ndarray, k: int, method: str) -> np.ndarray:
    with warnings.catch_warnings():
        # "Numba not installed. Using slow pure python version.": known, and sampled below
        warnings.simplefilter("ignore", UserWarning)
        return _breaks(arr, k, method)


def _breaks(arr: np.ndarray, k: int, method: str) -> np.ndarray:
    import mapclassify

    if method == "quantiles":
        return np.asarray(mapclassify.Quantiles(arr, k=k).bins, float)
    if method == "head_tail":
        bins = np.asarray(mapclassify.HeadTailBreaks(arr).bins, float)
        # more classes than colours: merge the smallest heads into the top class
        return np.append(bins[: k - 1], arr.max()) if bins.size > k else bins
    if arr.size > _JENKS_SAMPLE:
        # a fixed-seed sample with both ends: the same data gives the same legend every time,
        # without touching numpy's global random state (pages render in threads)
        pick = np.random.default_rng(0).choice(arr.size, _JENKS_SAMPLE - 2, replace=False)
        arr = np.concatenate([arr[pick], [arr.min(), arr.max()]])
    return np.asarray(mapclassify.FisherJenks(arr, k=k).bins, float)


def count_classes(
    values: Sequence[float] | np.ndarray,
    colours: tuple[str, ...] = COUNT_COLOURS,
    method: str = "auto",
) -> Classes:
    """Class breaks over positive ``values`` from the data (``mapclassify``).

    ``method`` is ``quantiles``, ``natural_breaks``, ``head_tail`` or ``auto``: head/tail
    breaks for a heavy tail (:func:`heavy_tailed`), else natural breaks. With no more
    distinct values than colours each value is its own class. Breaks are rounded up to
    whole numbers when the largest value is 10 or more, and strictly increasing; the colours
    are the darkest ``len(breaks)`` of ``colours``. ``Classes.method`` names the method used.
    """
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr) & (arr > 0)]
    if arr.size == 0:
        return Classes((1.0,), colours[-1:], "unique")
    k = len(colours)
    if method not in (*CLASS_METHODS, "auto"):
        raise ValueError(f"unknown class method {method!r}")
    distinct = np.unique(arr)
    if distinct.size <= k:
        chosen, raw = "unique", distinct
    else:
        chosen = (
            method if method != "auto" else ("head_tail" if heavy_tailed(arr) else "natural_breaks")
        )
        raw = _raw_breaks(arr, k, chosen)
        if chosen == "head_tail" and raw.size < 3:  # too short a tail to split: natural breaks
            chosen, raw = "natural_breaks", _raw_breaks(arr, k, "natural_breaks")
    if arr.max() >= 10:
        raw = np.ceil(raw)
    raw = np.append(raw, arr.max()) if raw[-1] < arr.max() else raw
    breaks: list[float] = []
    for b in raw:
        if not breaks or b > breaks[-1]:
            breaks.append(float(b))
    breaks = breaks[-k:]
    return Classes(tuple(breaks), tuple(colours[len(colours) - len(breaks) :]), chosen)


def method_note(classes: Classes, t: Callable[..., str]) -> str:
    """The legend line naming how ``classes`` were found ("" for fixed breaks)."""
    label = CLASS_METHODS.get(classes.method)
    return t("Klassgränser: %(method)s", method=t(label)) if label else ""


def share_classes() -> Classes:
    return Classes((*SHARE_BREAKS, 1.0), SHARE_COLOURS)


def cell_style(fill: str, *, opacity: float = 0.65) -> dict[str, object]:
    """Leaflet path options for a filled grid cell."""
    return {"fillColor": fill, "fillOpacity": opacity, "color": "#5b5b5b", "weight": 0.6}


#: Outline of a hotspot cell: dark, drawn over a white halo (``halo`` layer option).
HOTSPOT_OUTLINE = "#1f1f1f"


def hotspot_cell_style(fill: str, *, opacity: float = 0.7) -> dict[str, object]:
    """A hotspot cell: its class colour with a dark outline that reads over any fill."""
    return {"fillColor": fill, "fillOpacity": opacity, "color": HOTSPOT_OUTLINE, "weight": 1.2}


def outline_style(
    colour: str, *, weight: float = 2.5, dash: str | None = None, fill: float = 0.08
) -> dict[str, object]:
    style: dict[str, object] = {
        "color": colour,
        "weight": weight,
        "fillColor": colour,
        "fillOpacity": fill,
    }
    if dash:
        style["dashArray"] = dash
    return style
