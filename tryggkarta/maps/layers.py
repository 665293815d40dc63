"""Folium layers for tryggkarta: grid cells, points, polygons and hotspots.

Builders are pure: FeatureCollections / GeoDataFrames (WGS84) plus a translator in, a
:class:`MapLayer` (a folium layer and its legend entry) out. No Flask, no SQL. Styles and
escaped popup HTML go into each feature's ``_style`` / ``_popup`` / ``_tip`` properties and
one small ``L.geoJSON`` call draws them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from branca.element import Template
from folium.map import Layer

from tryggkarta.maps import styles
from tryggkarta.maps.legend import LegendEntry

#: ``t(swedish_text, **params) -> text in the page language``.
Translate = Callable[..., str]


class GeoJsonLayer(Layer):
    """An overlay drawing a FeatureCollection whose features carry their own style and popup."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJSON({{ this.data|tojson }}, {
            style: function (f) { return f.properties._style || {}; },
            pointToLayer: function (f, latlng) {
                return L.circleMarker(latlng, f.properties._style || {radius: 6});
            },
            onEachFeature: function (f, layer) {
                if (f.properties._popup) { layer.bindPopup(f.properties._popup, {maxWidth: 340}); }
                if (f.properties._tip) { layer.bindTooltip(f.properties._tip, {sticky: true}); }
            }
        });
        {% endmacro %}
        """
    )

    def __init__(self, data: dict[str, Any], name: str, *, show: bool = True) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "GeoJsonLayer"
        self.data = data


class BboxPointLayer(Layer):
    """Raw points fetched from the JSON API for the visible bbox, clustered (RAW roles only).

    The page never embeds raw points: ``static/js/map.js`` loads at most ``limit`` features
    for the current view when zoomed in to ``min_zoom`` or closer.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = tryggkarta.bboxLayer({{ this._parent.get_name() }}, {{ this.options|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, name: str, options: dict[str, Any], *, show: bool = False) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "BboxPointLayer"
        self.options = options
        # The page itself loads ``static/js/map.js`` (``tryggkarta.bboxLayer``) before the map.
        self.default_js = [("markerclusterjs", "markerclusterjs")]
        self.default_css = [("markerclustercss", ""), ("markerclusterdefaultcss", "")]


@dataclass
class MapLayer:
    """A layer ready for the map, with its legend entry."""

    key: str
    layer: Layer
    legend: LegendEntry
    features: int = 0
    notes: list[str] = field(default_factory=list)


def _styled(fc: dict[str, Any], props: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    features = []
    for feature in fc.get("features", []):
        p = dict(feature.get("properties") or {})
        p.update(props(p))
        features.append({"type": "Feature", "geometry": feature["geometry"], "properties": p})
    return {"type": "FeatureCollection", "features": features}


def legend_for_classes(
    classes: styles.Classes, fmt: Callable[[float], str], lower: float, *, integer: bool = False
) -> list[tuple[str, str]]:
    """Legend rows ``low–high`` per class; with ``integer`` a class starts one above the last."""
    items, low = [], lower
    for brk, colour in zip(classes.breaks, classes.colours, strict=True):
        items.append((colour, f"{fmt(low)}–{fmt(brk)}" if brk > low else fmt(brk)))
        low = brk + 1 if integer else brk
    return items


def layer_names(items: Iterable[MapLayer]) -> dict[str, str]:
    """Layer key -> folium JS variable name (for tests and the page script)."""
    return {item.key: item.layer.get_name() for item in items}
