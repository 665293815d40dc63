"""The background map: a local MBTiles or PMTiles file, a tile server, or none at all.

Police networks are closed, so a municipality can hand the app one file
(``TRYGGKARTA_BASEMAP=/path/kommun.mbtiles`` — SQLite with raster PNG/JPEG/WebP tiles, the
MBTiles 1.3 layout — or ``/path/kommun.pmtiles``, a PMTiles v3 archive of raster tiles) and
the app serves its tiles itself at ``/basemap/{z}/{x}/{y}.png`` (see
:mod:`tryggkarta.web.basemap`), with the attribution from the file's metadata.
Without a file, ``TRYGGKARTA_TILE_URL`` names a tile server (OpenStreetMap by default);
``TRYGGKARTA_TILE_URL=none`` turns the background off, and the maps draw the
municipality and district boundaries with the district names instead.

MBTiles rows are in TMS order: ``tile_row`` counts from the south, so the XYZ ``y`` that
Leaflet asks for is flipped (``2**z - 1 - y``).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from markupsafe import escape

from tryggkarta.config import NO_TILES
from tryggkarta.errors import ConfigError

#: Image formats an MBTiles raster may hold -> Content-Type.
RASTER_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}

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
    """One tile's bytes, its Content-Type and a strong ETag."""

    data: bytes
    content_type: str
    etag: str


class MBTiles:
    """A read-only raster MBTiles file; safe to share between threads (one connection each)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        meta = self._read_metadata()
        fmt = (meta.get("format") or "png").lower()
        if fmt not in RASTER_TYPES:
            raise ConfigError(
                f"The basemap {self.path.name} holds {fmt!r} tiles; only raster PNG, JPEG or "
                "WebP MBTiles files can be served (make a raster MBTiles, see the README)."
            )
        self.metadata = meta
        self.content_type = RASTER_TYPES[fmt]
        zooms = self._zoom_range()
        self.min_zoom = _int(meta.get("minzoom"), zooms[0])
        self.max_zoom = _int(meta.get("maxzoom"), zooms[1])
        # Leaflet shows attribution as HTML: the file's text is shown as text, never markup
        self.attribution = str(escape(meta.get("attribution") or ""))
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

    def covers(self, z: int, x: int, y: int) -> bool:
        """True when ``z/x/y`` (XYZ) is a valid tile address inside the file's zoom range."""
        if not self.min_zoom <= z <= self.max_zoom:
            return False
        n = 1 << z
        return 0 <= x < n and 0 <= y < n

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
        if row is None or row[0] is None:
            return None
        data = bytes(row[0])
        return Tile(data, _sniff(data, self.content_type), hashlib.sha1(data).hexdigest())  # noqa: S324


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


#: PMTiles tile types this app can serve (raster) -> Content-Type.
PMTILES_RASTER = {2: "image/png", 3: "image/jpeg", 4: "image/webp"}
#: Directory levels a PMTiles v3 archive may nest (root + 3 leaf levels).
PMTILES_DEPTH = 4


class PMTiles:
    """A read-only raster PMTiles v3 archive (the ``pmtiles`` package reads the header and
    directories); memory-mapped, safe to share between threads."""

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
        if kind not in PMTILES_RASTER:
            raise ConfigError(
                f"The basemap {self.path.name} holds {header['tile_type'].name.lower()} tiles; "
                "only raster PNG, JPEG or WebP PMTiles can be served (make a raster archive, "
                "see the README)."
            )
        self._header = header
        self._gzip_tiles = header["tile_compression"] == Compression.GZIP
        self.content_type = PMTILES_RASTER[kind]
        self.metadata = self._read_metadata()
        self.min_zoom = int(header["min_zoom"])
        self.max_zoom = int(header["max_zoom"])
        self.attribution = str(escape(str(self.metadata.get("attribution") or "")))
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
        import gzip
        import json

        from pmtiles.tile import Compression

        raw = self._bytes(self._header["metadata_offset"], self._header["metadata_length"])
        try:
            if self._header["internal_compression"] == Compression.GZIP:
                raw = gzip.decompress(raw)
            meta = json.loads(raw or b"{}")
        except (OSError, ValueError):
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

    def covers(self, z: int, x: int, y: int) -> bool:
        if not self.min_zoom <= z <= self.max_zoom:
            return False
        n = 1 << z
        return 0 <= x < n and 0 <= y < n

    def tile(self, z: int, x: int, y: int) -> Tile | None:
        """The tile at XYZ ``z/x/y``, or ``None`` when the archive has none there."""
        import gzip

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
            if self._gzip_tiles:
                data = gzip.decompress(data)
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


@dataclass(frozen=True)
class Background:
    """What the maps draw underneath: a tile URL template and its attribution, or nothing."""

    url: str | None
    attribution: str
    min_zoom: int = 0
    max_zoom: int = 19
    #: Origin the page's ``img-src`` must allow (``None``: only the app itself).
    origin: str | None = None

    @property
    def enabled(self) -> bool:
        return self.url is not None


def background(
    tile_url: str, tile_attribution: str, basemap: str, local_url: str = "/basemap/{z}/{x}/{y}.png"
) -> Background:
    """The background for these settings: the local file first, then the tile URL, or none."""
    if basemap:
        tiles = open_basemap(basemap)
        return Background(
            local_url,
            tiles.attribution or str(escape(tiles.name)),
            min_zoom=tiles.min_zoom,
            max_zoom=tiles.max_zoom,
        )
    if not tile_url or tile_url.strip().lower() in NO_TILES:
        return Background(None, "")
    from urllib.parse import urlsplit

    parts = urlsplit(tile_url.replace("{s}", "a"))
    origin = None
    if parts.netloc:
        host = urlsplit(tile_url).netloc.replace("{s}", "*")
        origin = f"{parts.scheme}://{host}"
    return Background(tile_url, tile_attribution, origin=origin)
