"""Folium layers for tryggkarta: grid cells, points, polygons and hotspots.

Builders are pure: FeatureCollections / GeoDataFrames (WGS84) plus a translator in, a
:class:`MapLayer` (a folium layer and its legend entry) out. No Flask, no SQL. Styles and
escaped popup HTML go into each feature's ``_style`` / ``_popup`` / ``_tip`` properties and
one small ``L.geoJSON`` call draws them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from branca.element import Template
from folium.elements import JSCSSMixin
from folium.map import Layer
from markupsafe import Markup

from tryggkarta.maps import styles
from tryggkarta.maps.legend import LegendEntry

#: ``t(swedish_text, **params) -> text in the page language``.
Translate = Callable[..., str]


def js_json(value: Any) -> Markup:
    """Compact JSON safe inside a ``<script>``: ``<``, ``>``, ``&`` and ``'`` as \\u escapes."""
    text = json.dumps(value, separators=(",", ":"))
    for char, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        text = text.replace(char, esc)
    return Markup(text)  # noqa: S704 - every markup character escaped above


class GeoJsonLayer(Layer):
    """An overlay drawing a FeatureCollection (``tryggkarta.geoLayer`` in ``static/js/map.js``).

    Two kinds of features: small layers (projects, areas, pins, patrol areas) carry their own
    ``_style`` and server-escaped ``_popup``/``_tip`` HTML; cell layers carry compact
    properties (``_c`` = index into ``options["palette"]``) and the browser builds popups and
    tooltips from ``options["popup"]``/``options["tip"]`` with ``textContent`` only.
    With ``url`` the features are fetched when the layer is first switched on.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = tryggkarta.geoLayer({{ this.data_json }}, {{ this.options_json }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        data: dict[str, Any] | None,
        name: str,
        *,
        show: bool = True,
        options: dict[str, Any] | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "GeoJsonLayer"
        self.data = data if data is not None else {"type": "FeatureCollection", "features": []}
        self.options = dict(options or {})
        if url:
            self.options["url"] = url

    @property
    def data_json(self) -> Markup:
        return js_json(self.data)

    @property
    def options_json(self) -> Markup:
        return js_json(self.options)

    def payload(self) -> dict[str, Any]:
        """The features plus the drawing options (what the lazy-layer API returns)."""
        return {**self.data, "tk": {k: v for k, v in self.options.items() if k != "url"}}


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


class VectorTilePointLayer(JSCSSMixin, Layer):
    """Raw incidents as vector tiles from ``/tiles/incidents/{z}/{x}/{y}.mvt`` (RAW roles only).

    Why tiles and not GeoJSON for the view: each tile is at most
    :data:`tryggkarta.store.tiles.MAX_POINTS` features whatever the data size, is cached per
    ``z/x/y`` on the server, and further out it holds counts per cell instead of points, so
    the layer works at every zoom (the bbox GeoJSON showed nothing below zoom 14 and stopped
    at 5 000 points). Drawn by ``tryggkarta.tileLayer`` (``static/js/map.js``) with the
    vendored leaflet-vector-tile-layer.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = tryggkarta.tileLayer({{ this._parent.get_name() }}, {{ this.options|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, name: str, options: dict[str, Any], *, show: bool = False) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "VectorTilePointLayer"
        self.options = options
        self.default_js = [("vectortilelayer", "vectortilelayer")]


@dataclass
class MapLayer:
    """A layer ready for the map, with its legend entry."""

    key: str
    layer: Layer
    legend: LegendEntry
    features: int = 0
    notes: list[str] = field(default_factory=list)


def _styled(
    fc: dict[str, Any], props: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
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
