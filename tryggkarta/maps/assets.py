"""Self-hosted front-end assets: no CDN, police networks are closed.

Folium's defaults load Leaflet, jQuery, Bootstrap, Font Awesome and plugins from public CDNs.
:func:`localize` replaces every one of them with a URL under the app's ``/vendor/`` prefix,
served by the ``assets`` blueprint from XStatic packages (Leaflet, markercluster, jQuery,
Font Awesome) or, for what XStatic lacks (leaflet.heat, axe-core for tests), from
``tryggkarta/static/vendor/`` filled by ``python -m tryggkarta.maps.build_assets``.
Bootstrap and the awesome-markers plugin are dropped: the maps use neither.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from pathlib import Path

from branca.element import Element, Figure

from tryggkarta.paths import static_dir

#: URL prefix the ``assets`` blueprint serves.
VENDOR_PREFIX = "/vendor"

#: Package name in URLs -> importable XStatic module.
XSTATIC_PACKAGES: dict[str, str] = {
    "leaflet": "xstatic.pkg.leaflet",
    "leaflet-markercluster": "xstatic.pkg.leaflet_markercluster",
    "jquery": "xstatic.pkg.jquery",
    "font-awesome": "xstatic.pkg.font_awesome",
}

#: Optional packages copied from npm into ``static/vendor/<name>/`` by ``build_assets``.
NPM_FILES: dict[str, dict[str, str]] = {
    "leaflet-heat": {"leaflet-heat.js": "leaflet.heat/dist/leaflet-heat.js"},
    "axe": {"axe.min.js": "axe-core/axe.min.js"},
    # vector tiles (raw incidents); not leaflet.vectorgrid: its 1.3.0 (2017) canvas click
    # handler calls L.DomEvent.fakeStop, which Leaflet 1.8+ no longer has
    "leaflet-vector-tile-layer": {
        "VectorTileLayer.umd.min.js": "leaflet-vector-tile-layer/dist/VectorTileLayer.umd.min.js"
    },
    "leaflet-geoman": {
        "leaflet-geoman.min.js": "@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js",
        "leaflet-geoman.css": "@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css",
    },
    # vector basemaps drawn on canvas (loaded by static/js/app.js only when needed)
    "protomaps-leaflet": {"protomaps-leaflet.js": "protomaps-leaflet/dist/protomaps-leaflet.js"},
}

#: Local replacement for every folium asset name we use; ``None`` drops the asset.
LOCAL_JS: dict[str, str | None] = {
    "leaflet": "leaflet/leaflet.js",
    "jquery": "jquery/jquery.min.js",
    "bootstrap": None,
    "awesome_markers": None,
    "markerclusterjs": "leaflet-markercluster/leaflet.markercluster.js",
    "leaflet-heat.js": "leaflet-heat/leaflet-heat.js",
    "vectortilelayer": "leaflet-vector-tile-layer/VectorTileLayer.umd.min.js",
}
LOCAL_CSS: dict[str, str | None] = {
    "leaflet_css": "leaflet/leaflet.css",
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers_font_css": "font-awesome/css/all.min.css",
    "awesome_markers_css": None,
    "awesome_rotate_css": None,
    "markerclustercss": "leaflet-markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": "leaflet-markercluster/MarkerCluster.Default.css",
}


def vendor_dir() -> Path:
    """Where ``build_assets`` copies npm files (git-ignored)."""
    return static_dir() / "vendor"


@lru_cache(maxsize=8)
def package_dir(package: str) -> Path | None:
    """The folder holding ``package``'s files, or ``None`` when unknown or not installed."""
    module = XSTATIC_PACKAGES.get(package)
    if module is not None:
        try:
            return Path(importlib.import_module(module).BASE_DIR)
        except ImportError:
            return None
    if package in NPM_FILES:
        folder = vendor_dir() / package
        return folder if folder.is_dir() else None
    return None


def resolve(package: str, path: str) -> Path | None:
    """The file for ``/vendor/<package>/<path>``, refusing anything outside the package."""
    base = package_dir(package)
    if base is None or not path or "\\" in path or "\x00" in path:
        return None
    base = base.resolve()
    target = (base / path).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


def available(relative: str) -> bool:
    """True when the vendor file ``<package>/<path>`` can be served."""
    package, _, path = relative.partition("/")
    return resolve(package, path) is not None


def heat_available() -> bool:
    """leaflet.heat is optional (npm); maps fall back to grid cells without it."""
    return available(LOCAL_JS["leaflet-heat.js"] or "")


#: The vector-tile layer (``window.VectorTileLayer``) for raw incidents as ``/tiles``.
VECTOR_TILES_JS = LOCAL_JS["vectortilelayer"] or ""


def vector_tiles_available() -> bool:
    """leaflet-vector-tile-layer is optional (npm): without it raw points come as GeoJSON
    for the visible bbox (the older, capped path)."""
    return available(VECTOR_TILES_JS)


def vendor_url(relative: str, prefix: str = VENDOR_PREFIX) -> str:
    return f"{prefix.rstrip('/')}/{relative}"


def _local(items: list[tuple[str, str]], table: dict[str, str | None], prefix: str) -> list:
    out = []
    for name, url in items:
        if name in table:
            local = table[name]
            if local is not None:
                out.append((name, vendor_url(local, prefix)))
        elif url.startswith(("http://", "https://", "//")):
            raise ValueError(f"No local copy configured for the front-end asset {name!r} ({url}).")
        else:
            out.append((name, url))
    return out


def localize(element: Element, prefix: str = VENDOR_PREFIX) -> None:
    """Point ``element`` and all its children at local assets (in place, per instance).

    Raises ``ValueError`` for a CDN asset with no local copy, so a new plugin cannot
    silently bring a CDN back.
    """
    stack = [element]
    while stack:
        el = stack.pop()
        for attr, table in (("default_js", LOCAL_JS), ("default_css", LOCAL_CSS)):
            items = getattr(el, attr, None)
            if items:
                setattr(el, attr, _local(list(items), table, prefix))
        stack.extend(getattr(el, "_children", {}).values())


def check_no_cdn(figure: Figure) -> None:
    """Raise ``ValueError`` when a rendered figure header still references a remote asset."""
    header = figure.header.render()
    for marker in ('src="http', "src='http", 'href="http', "href='http", 'src="//', 'href="//'):
        if marker in header:
            raise ValueError(f"Remote asset left in the map header: {marker}")
