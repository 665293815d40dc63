"""The background map: a local MBTiles or PMTiles file, a tile server, or none at all.

Police networks are closed, so a municipality can hand the app one file
(``TRYGGKARTA_BASEMAP=/path/kommun.mbtiles`` — SQLite in the MBTiles 1.3 layout — or
``/path/kommun.pmtiles``, a PMTiles v3 archive), raster (PNG/JPEG/WebP) or vector (Mapbox
Vector Tiles, usually gzipped), and the app serves its tiles itself at
``/basemap/{z}/{x}/{y}.png`` or ``/basemap/{z}/{x}/{y}.pbf`` (see
:mod:`tryggkarta.web.basemap`), with the attribution from the file's metadata. Vector tiles
are drawn in the browser by protomaps-leaflet with the app's own style (no fonts, sprites or
styles from elsewhere), for the Protomaps basemap schema or the OpenMapTiles schema
(:data:`SCHEMAS`).
Without a file, ``TRYGGKARTA_TILE_URL`` names a tile server (OpenStreetMap by default);
``TRYGGKARTA_TILE_URL=none`` turns the background off, and every map draws the
municipality and district boundaries with district and place names instead (the
"context", ``/basemap/kontext.geojson``).

:class:`Background` is the one description of what lies under every map; the pages write
it as ``data-background`` and ``tryggkartaPage.background`` in ``static/js/app.js`` draws it.

MBTiles rows are in TMS order: ``tile_row`` counts from the south, so the XYZ ``y`` that
Leaflet asks for is flipped (``2**z - 1 - y``).
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import re
import sqlite3
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import escape

from tryggkarta.config import NO_TILES
from tryggkarta.errors import ConfigError

#: Image formats an MBTiles raster may hold -> Content-Type.
RASTER_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
#: MBTiles ``format`` values of vector (MVT) tiles.
VECTOR_FORMATS = frozenset({"pbf", "mvt"})
#: Content-Type of a vector tile (what tippecanoe, planetiler and tileserver-gl send).
VECTOR_TYPE = "application/x-protobuf"
#: Vector schemas the browser has paint and label rules for: the Protomaps basemap
#: (``pmtiles extract`` of the daily build; layers earth, water, roads, places …) and
#: OpenMapTiles (planetiler's default profile, tilemaker; layers water, transportation, place …).
SCHEMAS = ("protomaps", "openmaptiles")
_GZIP = b"\x1f\x8b"

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def _sniff(data: bytes, default: str) -> str:
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return default


@dataclass(frozen=True)
class Tile:
    """One tile's bytes, its Content-Type and a strong ETag.

    ``encoding`` is ``"gzip"`` when ``data`` is the gzip stream as stored (vector tiles are
    kept compressed: the route sends them as they are to a browser that accepts gzip).
    """

    data: bytes
    content_type: str
    etag: str
    encoding: str | None = None

    def decoded(self) -> bytes:
        """The tile's bytes without the gzip layer; :class:`ConfigError` when it is damaged."""
        if self.encoding != "gzip":
            return self.data
        try:
            return gzip.decompress(self.data)
        except (OSError, EOFError, zlib.error):
            raise ConfigError("A tile of the basemap file is damaged (bad gzip data).") from None


def _vector_tile(data: bytes) -> Tile:
    """A stored vector tile: gzip kept as it is, an old zlib stream unpacked, raw MVT as is."""
    encoding = None
    if data.startswith(_GZIP):
        encoding = "gzip"
    elif data[:1] == b"\x78":  # zlib, as some early MBTiles writers stored it
        try:
            data = zlib.decompress(data)
        except zlib.error:
            pass  # not a zlib stream after all: served as it is
    return Tile(data, VECTOR_TYPE, hashlib.sha1(data).hexdigest(), encoding)  # noqa: S324


def schema_of(layer_ids: list[str]) -> str:
    """Which of :data:`SCHEMAS` the vector layer names belong to ("" when neither)."""
    ids = set(layer_ids)
    if ids & {"earth", "roads", "places", "landuse", "natural"} and "transportation" not in ids:
        return "protomaps"
    if ids & {"transportation", "place", "landcover", "waterway", "transportation_name"}:
        return "openmaptiles"
    return ""


def _layer_ids(value: object) -> list[str]:
    """Names from a TileJSON ``vector_layers`` list; junk entries are skipped."""
    if not isinstance(value, list):
        return []
    return [str(v["id"]) for v in value if isinstance(v, dict) and isinstance(v.get("id"), str)]


class _TileFile:
    """What MBTiles and PMTiles files share: the zoom range they hold."""

    min_zoom: int
    max_zoom: int

    def covers(self, z: int, x: int, y: int) -> bool:
        """True when ``z/x/y`` (XYZ) is a valid tile address inside the file's zoom range."""
        if not self.min_zoom <= z <= self.max_zoom:
            return False
        n = 1 << z
        return 0 <= x < n and 0 <= y < n


class MBTiles(_TileFile):
    """A read-only raster or vector MBTiles file; safe to share between threads (one
    connection each)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        meta = self._read_metadata()
        fmt = (meta.get("format") or "png").lower()
        if fmt not in RASTER_TYPES and fmt not in VECTOR_FORMATS:
            raise ConfigError(
                f"The basemap {self.path.name} holds {fmt!r} tiles; only raster PNG, JPEG or "
                "WebP or vector (pbf) MBTiles files can be served (see the README)."
            )
        self.metadata = meta
        self.vector = fmt in VECTOR_FORMATS
        self.content_type = VECTOR_TYPE if self.vector else RASTER_TYPES[fmt]
        self.layers: list[str] = []
        if self.vector:
            try:
                tilejson = json.loads(meta.get("json") or "{}")
            except ValueError:
                tilejson = {}
            if isinstance(tilejson, dict):
                self.layers = _layer_ids(tilejson.get("vector_layers"))
        self.schema = schema_of(self.layers) if self.vector else ""
        zooms = self._zoom_range()
        self.min_zoom = _int(meta.get("minzoom"), zooms[0])
        self.max_zoom = _int(meta.get("maxzoom"), zooms[1])
        # Leaflet shows attribution as HTML: the file's text is shown as text, never markup
        self.attribution = attribution_text(meta.get("attribution"))
        self.name = meta.get("name") or self.path.stem
        self.bounds = _bounds(meta.get("bounds"))

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            uri = f"{self.path.resolve().as_uri()}?mode=ro&immutable=1"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._local.conn = conn
        return conn

    def _read_metadata(self) -> dict[str, str]:
        if not self.path.is_file():
            raise ConfigError(f"The basemap file {self.path} does not exist.")
        try:
            rows = self._connect().execute("SELECT name, value FROM metadata").fetchall()
            self._connect().execute(
                "SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles LIMIT 0"
            )
        except sqlite3.DatabaseError:
            raise ConfigError(
                f"The basemap file {self.path.name} is not an MBTiles file (an SQLite database "
                "with the tables 'metadata' and 'tiles')."
            ) from None
        return {str(k): str(v) for k, v in rows if k is not None and v is not None}

    def _zoom_range(self) -> tuple[int, int]:
        lo, hi = (
            self._connect().execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
        )
        return (int(lo) if lo is not None else 0, int(hi) if hi is not None else 0)

    def tile(self, z: int, x: int, y: int) -> Tile | None:
        """The tile at XYZ ``z/x/y``, or ``None`` when the file has none there."""
        if not self.covers(z, x, y):
            return None
        row = (
            self._connect()
            .execute(
                "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                (z, x, (1 << z) - 1 - y),
            )
            .fetchone()
        )
        if row is None or not row[0]:
            return None
        data = bytes(row[0])
        if self.vector:
            return _vector_tile(data)
        return Tile(data, _sniff(data, self.content_type), hashlib.sha1(data).hexdigest())  # noqa: S324


_TAG = re.compile(r"<[^>]*>?")


def attribution_text(value: object) -> str:
    """A file's attribution as escaped text for Leaflet's attribution control (HTML).

    Archives made by planetiler or the Protomaps builds carry links
    (``<a href="…">© OpenStreetMap</a>``): the tags are dropped and the entities read, so the
    map says "© OpenStreetMap" and never runs the file's markup; the escaping comes last.
    """
    if not isinstance(value, str):
        return ""
    text = html.unescape(_TAG.sub("", value))
    return str(escape(" ".join(text.split())))


def _int(value: str | None, default: int) -> int:
    try:
        return int(float(value)) if value is not None else default
    except ValueError:
        return default


def _bounds(value: str | None) -> tuple[float, float, float, float] | None:
    try:
        parts = [float(v) for v in (value or "").split(",")]
    except ValueError:
        return None
    return (parts[0], parts[1], parts[2], parts[3]) if len(parts) == 4 else None


#: PMTiles raster tile types this app can serve -> Content-Type.
PMTILES_RASTER = {2: "image/png", 3: "image/jpeg", 4: "image/webp"}
#: The PMTiles vector tile type (Mapbox Vector Tile).
PMTILES_MVT = 1
#: Directory levels a PMTiles v3 archive may nest (root + 3 leaf levels).
PMTILES_DEPTH = 4


class PMTiles(_TileFile):
    """A read-only raster or vector PMTiles v3 archive (the ``pmtiles`` package reads the
    header and directories); memory-mapped, safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        import mmap

        from pmtiles.tile import Compression, deserialize_header

        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"The basemap file {self.path} does not exist.")
        with self.path.open("rb") as f:
            try:
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError:  # an empty file cannot be mapped
                raise ConfigError(f"The basemap file {self.path.name} is empty.") from None
        try:
            header = deserialize_header(self._map[:127])
            if len(self._map) < 127:
                raise ValueError("short")
        except Exception:  # noqa: BLE001 - any unreadable header is the same mistake
            raise ConfigError(
                f"The basemap file {self.path.name} is not a PMTiles v3 archive."
            ) from None
        kind = header["tile_type"].value
        if kind not in PMTILES_RASTER and kind != PMTILES_MVT:
            raise ConfigError(
                f"The basemap {self.path.name} holds {header['tile_type'].name.lower()} tiles; "
                "only raster PNG, JPEG or WebP or vector (MVT) PMTiles can be served (see the "
                "README)."
            )
        if header["tile_compression"] not in (Compression.NONE, Compression.GZIP):
            raise ConfigError(
                f"The tiles of the basemap {self.path.name} are compressed with "
                f"{header['tile_compression'].name.lower()}; only gzip or none can be served "
                "(`pmtiles convert` or planetiler write gzip)."
            )
        self._header = header
        self._gzip_tiles = header["tile_compression"] == Compression.GZIP
        self.vector = kind == PMTILES_MVT
        self.content_type = VECTOR_TYPE if self.vector else PMTILES_RASTER[kind]
        self.metadata = self._read_metadata()
        self.layers = _layer_ids(self.metadata.get("vector_layers")) if self.vector else []
        self.schema = schema_of(self.layers) if self.vector else ""
        self.min_zoom = int(header["min_zoom"])
        self.max_zoom = int(header["max_zoom"])
        self.attribution = attribution_text(self.metadata.get("attribution"))
        self.name = str(self.metadata.get("name") or self.path.stem)
        self.bounds = (
            header["min_lon_e7"] / 1e7,
            header["min_lat_e7"] / 1e7,
            header["max_lon_e7"] / 1e7,
            header["max_lat_e7"] / 1e7,
        )
        self._dirs: dict[tuple[int, int], list] = {}
        self._dir_lock = threading.Lock()

    def _bytes(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > len(self._map):
            raise ConfigError(f"The basemap file {self.path.name} is truncated or damaged.")
        return self._map[offset : offset + length]

    def _read_metadata(self) -> dict[str, object]:
        from pmtiles.tile import Compression

        raw = self._bytes(self._header["metadata_offset"], self._header["metadata_length"])
        try:
            if self._header["internal_compression"] == Compression.GZIP:
                raw = gzip.decompress(raw)
            meta = json.loads(raw or b"{}")
        except (OSError, ValueError, EOFError, zlib.error):
            raise ConfigError(
                f"The metadata of the basemap file {self.path.name} cannot be read."
            ) from None
        return meta if isinstance(meta, dict) else {}

    def _directory(self, offset: int, length: int) -> list:
        from pmtiles.tile import deserialize_directory

        key = (offset, length)
        with self._dir_lock:
            found = self._dirs.get(key)
        if found is None:
            try:
                found = deserialize_directory(self._bytes(offset, length))
            except (OSError, ValueError, IndexError, EOFError):
                raise ConfigError(
                    f"A directory of the basemap file {self.path.name} is damaged."
                ) from None
            with self._dir_lock:
                if len(self._dirs) > 4096:  # leaf directories of a national archive
                    self._dirs.clear()
                self._dirs[key] = found
        return found

    def tile(self, z: int, x: int, y: int) -> Tile | None:
        """The tile at XYZ ``z/x/y``, or ``None`` when the archive has none there."""
        from pmtiles.tile import find_tile, zxy_to_tileid

        if not self.covers(z, x, y):
            return None
        tile_id = zxy_to_tileid(z, x, y)
        h = self._header
        offset, length = h["root_offset"], h["root_length"]
        for _depth in range(PMTILES_DEPTH):
            entry = find_tile(self._directory(offset, length), tile_id)
            if entry is None:
                return None
            if entry.run_length == 0:  # a leaf directory
                offset, length = h["leaf_directory_offset"] + entry.offset, entry.length
                continue
            data = self._bytes(h["tile_data_offset"] + entry.offset, entry.length)
            if not data:
                return None
            if self.vector:
                return _vector_tile(data)
            if self._gzip_tiles:
                data = Tile(data, "", "", "gzip").decoded()
            return Tile(data, _sniff(data, self.content_type), hashlib.sha1(data).hexdigest())  # noqa: S324
        return None


#: A local basemap file of either kind.
TileFile = MBTiles | PMTiles

_OPEN: dict[Path, TileFile] = {}
_LOCK = threading.Lock()


def _is_pmtiles(path: Path) -> bool:
    if path.suffix.lower() == ".pmtiles":
        return True
    try:
        with path.open("rb") as f:
            return f.read(7) == b"PMTiles"
    except OSError:
        return False


def open_basemap(path: str | Path) -> TileFile:
    """The (cached) MBTiles or PMTiles file at ``path`` (a ``.pmtiles`` name or the PMTiles
    magic bytes make it PMTiles);
    raises :class:`ConfigError` with one clear sentence."""
    key = Path(path).resolve()
    with _LOCK:
        found = _OPEN.get(key)
        if found is None:
            found = _OPEN[key] = PMTiles(key) if _is_pmtiles(key) else MBTiles(key)
        return found


#: Raster (image tiles), vector (MVT drawn in the browser) or none (the app's own context).
KINDS = ("raster", "vector", "none")
#: URL path endings that mark a tile server's URL template as vector tiles.
VECTOR_SUFFIXES = (".pbf", ".mvt")


@dataclass(frozen=True)
class Background:
    """What every map draws underneath: raster or vector tiles and their attribution, or
    nothing (then the maps draw the context: boundaries and names from the app's own data).

    One description for the folium maps and the small Leaflet maps alike, so no page keeps
    asking OpenStreetMap once a municipality has configured its own file."""

    url: str | None
    attribution: str
    min_zoom: int = 0
    max_zoom: int = 19
    #: Origin the page's ``img-src`` (raster) or ``connect-src`` (vector) must allow
    #: (``None``: only the app itself).
    origin: str | None = None
    kind: str = "raster"
    #: (shallowest, deepest) zoom a local file holds: below it no tiles are asked for,
    #: beyond it the deepest level is enlarged (``None``: a tile server, zoom 0–19).
    native_zooms: tuple[int, int] | None = None
    #: Vector layer schema, one of :data:`SCHEMAS` (vector only).
    schema: str = ""
    layers: tuple[str, ...] = field(default=())

    @property
    def enabled(self) -> bool:
        return self.url is not None

    def options(self, *, script: str = "", context: str = "", lang: str = "sv") -> dict:
        """The description ``tryggkartaPage.background`` reads (``data-background``).

        ``script``: where protomaps-leaflet is served (vector), ``context``: the URL of the
        boundaries and names drawn without a background. The attribution is already escaped.
        """
        if self.kind == "none" or self.url is None:
            return {"kind": "none", "context": context, "lang": lang}
        out: dict = {
            "kind": self.kind,
            "url": self.url,
            "attribution": self.attribution,
            "maxZoom": 19,
            "context": context,  # drawn instead when vector tiles cannot be drawn
        }
        if self.native_zooms:
            out["minZoom"], out["maxNativeZoom"] = self.native_zooms
        if self.kind == "vector":
            out.update(
                schema=self.schema or "protomaps",
                script=script,
                lang=lang,
                maxDataZoom=self.native_zooms[1] if self.native_zooms else 14,
            )
        return out


def background(
    tile_url: str,
    tile_attribution: str,
    basemap: str,
    local_url: str = "/basemap/{z}/{x}/{y}.png",
    vector_url: str = "/basemap/{z}/{x}/{y}.pbf",
) -> Background:
    """The background for these settings: the local file first, then the tile URL, or none.

    A tile URL whose path ends in ``.pbf`` or ``.mvt`` is a vector tile server (Protomaps
    schema, drawn in the browser; its origin goes into ``connect-src``).
    """
    if basemap:
        tiles = open_basemap(basemap)
        return Background(
            vector_url if tiles.vector else local_url,
            tiles.attribution or str(escape(tiles.name)),
            min_zoom=tiles.min_zoom,
            max_zoom=tiles.max_zoom,
            kind="vector" if tiles.vector else "raster",
            native_zooms=(tiles.min_zoom, tiles.max_zoom),
            schema=tiles.schema,
            layers=tuple(tiles.layers),
        )
    if not tile_url or tile_url.strip().lower() in NO_TILES:
        return Background(None, "", kind="none")
    from urllib.parse import urlsplit

    parts = urlsplit(tile_url.replace("{s}", "a"))
    origin = None
    if parts.netloc:
        host = urlsplit(tile_url).netloc.replace("{s}", "*")
        origin = f"{parts.scheme}://{host}"
    vector = parts.path.lower().endswith(VECTOR_SUFFIXES)
    return Background(
        tile_url,
        tile_attribution,
        origin=origin,
        kind="vector" if vector else "raster",
        schema="protomaps" if vector else "",
    )
