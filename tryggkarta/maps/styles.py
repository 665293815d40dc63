"""Colours and class breaks of the map layers (one place, shared by maps and legends).

Palettes are ColorBrewer ramps (YlOrRd, Blues, RdYlGn) and the Gi* hot/cold colours of the
common GIS tools; fills are drawn semi-transparent over the background map, outlines dark
enough for 3:1 non-text contrast.
"""

from __future__ import annotations

from collections.abc import Sequence
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

    def colour(self, value: float) -> str:
        idx = int(np.searchsorted(np.asarray(self.breaks), value, side="left"))
        return self.colours[min(idx, len(self.colours) - 1)]

    def colours_for(self, values: np.ndarray) -> list[str]:
        idx = np.searchsorted(np.asarray(self.breaks), np.asarray(values, float), side="left")
        idx = np.minimum(idx, len(self.colours) - 1)
        return [self.colours[i] for i in idx]


def count_classes(
    values: Sequence[float] | np.ndarray, colours: tuple[str, ...] = COUNT_COLOURS
) -> Classes:
    """Quantile class breaks over positive ``values`` (rounded, strictly increasing)."""
    arr = np.asarray(values, dtype=float)
    arr = arr[arr > 0]
    if arr.size == 0:
        return Classes((1.0,), colours[:1])
    qs = np.quantile(arr, np.linspace(0, 1, len(colours) + 1)[1:])
    breaks: list[float] = []
    for q in qs:
        q = float(np.ceil(q)) if arr.max() >= 10 else float(q)
        if not breaks or q > breaks[-1]:
            breaks.append(q)
    return Classes(tuple(breaks), tuple(colours[len(colours) - len(breaks) :]))


def share_classes() -> Classes:
    return Classes((*SHARE_BREAKS, 1.0), SHARE_COLOURS)


def cell_style(fill: str, *, opacity: float = 0.65) -> dict[str, object]:
    """Leaflet path options for a filled grid cell."""
    return {"fillColor": fill, "fillOpacity": opacity, "color": "#5b5b5b", "weight": 0.6}


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
