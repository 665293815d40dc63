"""Assemble a folium map from MapLayers and split it into parts for a Jinja page.

``build_map`` makes the map (local assets only, tile layer, layers, layer control, legend,
fitted to bounds); ``render_parts`` returns the ``<head>`` assets, the map ``<div>`` and the
script, so the map sits inside the app's own page instead of an iframe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import folium
from branca.element import MacroElement, Template
from markupsafe import Markup

from tryggkarta.maps.assets import VENDOR_PREFIX, check_no_cdn, localize
from tryggkarta.maps.layers import MapLayer, Translate
from tryggkarta.maps.legend import Legend, legend_html

#: folium's page-wide header bits: viewport meta, ``html, body`` and ``#map`` rules.
_PAGE_WIDE = re.compile(
    r"<meta[^>]*>|<style>\s*html,\s*body\s*\{[^}]*\}\s*</style>|<style>\s*#map\s*\{[^}]*\}\s*</style>",
    re.S,
)


class MetricScale(MacroElement):
    """A scale bar in metres and kilometres only (Leaflet's default adds feet and miles)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        L.control.scale({metric: true, imperial: false, maxWidth: 160})
            .addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "MetricScale"


class BackgroundLayer(MacroElement):
    """The map's background drawn by ``tryggkartaPage.background`` (``static/js/app.js``),
    the same function every small Leaflet map calls: raster tiles, vector tiles
    (protomaps-leaflet) or, with no background, the boundaries and names of the context.
    ``options`` is :meth:`tryggkarta.maps.basemap.Background.options`."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        if (window.tryggkartaPage) {
            tryggkartaPage.background({{ this._parent.get_name() }}, {{ this.options|tojson }});
        }
        {% endmacro %}
        """
    )

    def __init__(self, options: dict) -> None:
        super().__init__()
        self._name = "BackgroundLayer"
        self.options = options


@dataclass(frozen=True)
class MapParts:
    """The rendered map: ``header`` for <head>, ``html`` for the page, ``script`` at the end."""

    header: Markup
    html: Markup
    script: Markup
    name: str
    layers: dict[str, str]


def build_map(
    layers: list[MapLayer],
    *,
    bounds: tuple[float, float, float, float] | None,
    tile_url: str | None,
    tile_attribution: str,
    t: Translate,
    vendor_prefix: str = VENDOR_PREFIX,
    native_zooms: tuple[int, int] | None = None,
    background: dict | None = None,
) -> folium.Map:
    """A folium map with ``layers``; ``bounds`` is WGS84 (minlon, minlat, maxlon, maxlat).

    ``tile_url`` ``None`` draws no background (the layers carry the context: see
    :func:`tryggkarta.maps.builders.areas` with ``labels``);
    ``native_zooms`` is the (shallowest, deepest) zoom a local MBTiles holds: below it no
    tiles are asked for, beyond it Leaflet enlarges the deepest level.
    ``background`` (the app's pages pass it): the background description for
    ``tryggkartaPage.background`` instead of ``tile_url``, so these maps draw exactly what
    the small maps draw, vector tiles and the no-background context included.
    """
    m = folium.Map(
        location=None if bounds else [62.0, 15.0],
        zoom_start=5,
        tiles=None,
        control_scale=False,  # folium's shows feet and miles too: see MetricScale
        width="100%",
        height="100%",
    )
    if background is not None:
        BackgroundLayer(background).add_to(m)
    elif tile_url:
        # not minNativeZoom: scaling z9 tiles up to a country view asks for thousands of them
        extra = (
            {"min_zoom": native_zooms[0], "max_native_zoom": native_zooms[1]}
            if native_zooms
            else {}
        )
        folium.TileLayer(
            tiles=tile_url,
            attr=tile_attribution,
            name=t("Bakgrundskarta"),
            max_zoom=19,
            control=False,
            **extra,
        ).add_to(m)
    for item in layers:
        item.layer.add_to(m)
    MetricScale().add_to(m)
    if layers:
        folium.LayerControl(collapsed=False, position="topright").add_to(m)
        entries = [(item.layer.get_name(), item.legend) for item in layers]
        Legend(legend_html(entries, t("Teckenförklaring")), t("Teckenförklaring")).add_to(m)
    if bounds:
        minlon, minlat, maxlon, maxlat = bounds
        m.fit_bounds([[minlat, minlon], [maxlat, maxlon]])
    localize(m, vendor_prefix)
    return m


_OPEN_TAG = re.compile(r"<(script|style)\b(?![^>]*\snonce=)", re.I)


def with_nonce(html: str, nonce: str | None) -> Markup:
    """``html`` with ``nonce="…"`` on every ``<script>`` and ``<style>`` tag that has none.

    The page's Content-Security-Policy runs only scripts and styles carrying the request's
    nonce; folium's header puts inline ``<style>`` and ``<script>`` blocks in the page.
    """
    if not nonce:
        return Markup(html)  # noqa: S704 - trusted markup passed through unchanged
    safe = re.sub(r"[^A-Za-z0-9+/=_-]", "", nonce)
    return Markup(_OPEN_TAG.sub(lambda m: f'<{m.group(1)} nonce="{safe}"', str(html)))  # noqa: S704


def render_parts(
    m: folium.Map, layers: list[MapLayer] | None = None, nonce: str | None = None
) -> MapParts:
    """Render ``m`` and split it; raises ``ValueError`` if any remote asset is left.

    With ``nonce`` the header's ``<script>``/``<style>`` tags carry it (see :func:`with_nonce`);
    the page template puts ``script`` in a ``<script nonce=…>`` of its own.
    """
    root = m.get_root()
    localize(root)
    root.render()
    check_no_cdn(root)
    header = root.header.render()
    # folium's page-wide rules (html, body {height:100%} …) would restyle the app's page.
    header = _PAGE_WIDE.sub("", header)
    return MapParts(
        header=with_nonce(header, nonce),
        html=Markup(root.html.render()),  # noqa: S704
        script=Markup(root.script.render()),  # noqa: S704
        name=m.get_name(),
        layers={item.key: item.layer.get_name() for item in layers or []},
    )
