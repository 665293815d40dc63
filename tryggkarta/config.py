"""Settings: defaults, then an optional TOML file, then ``TRYGGKARTA_*`` environment variables.

=============================  ====================================================  =========================
variable                       meaning                                               default
=============================  ====================================================  =========================
TRYGGKARTA_DATABASE_URL        SQLAlchemy URL (``sqlite:///…`` or                    ``sqlite:///<instance>/tryggkarta.db``
                               ``postgresql+psycopg://user@host/db``)
TRYGGKARTA_CRS                 working CRS as an EPSG code (projected, metres)       3006 (SWEREF 99 TM); the
                                                                                     UTM zone of a region abroad
TRYGGKARTA_REGION              region: a municipality code (``1495``), ``SE`` or     ``SE`` (Sweden)
                               a WGS84 bbox ``minlon,minlat,maxlon,maxlat``
TRYGGKARTA_SECRET_KEY          Flask secret key (sessions, CSRF, share links)        ``<instance>/secret_key``,
                                                                                     else random (warned)
TRYGGKARTA_BASEMAP             a local MBTiles or PMTiles file, raster or vector,    none
                               served by the app at ``/basemap/{z}/{x}/{y}.png`` or
                               ``.pbf`` (closed networks); wins over TILE_URL
TRYGGKARTA_TILE_URL            background tile URL template (``.pbf``/``.mvt``:       OpenStreetMap
                               vector); ``none`` draws no background (boundaries,
                               district and place names only)
TRYGGKARTA_TILE_ATTRIBUTION    attribution shown for the tiles                       © OpenStreetMap contributors
TRYGGKARTA_INSTANCE_PATH       folder for the SQLite file, exports, uploads          ``./instance``
TRYGGKARTA_MAX_UPLOAD_MB       largest accepted upload                               200
TRYGGKARTA_MIN_COUNT           k-anonymity threshold for public/partner outputs      5
TRYGGKARTA_TIMEZONE            IANA time zone of the installation: times shown to    ``Europe/Stockholm``
                               people, local days in filters, weekday/hour profiles
TRYGGKARTA_DEFAULT_LOCATIONS   positions records get when nobody knows where the     none
                               incident happened (police station, town hall), WGS84
                               ``lat,lon;lat,lon``: records piled there are left out
                               of hot spots (the municipality centre always is)
TRYGGKARTA_EXPORT_FILE_MODE    permissions of written export files (octal)           ``0644`` (readable by the
                                                                                     web server / file share)
TRYGGKARTA_SECURE_COOKIES      ``auto``: session cookie ``Secure`` except on plain    ``auto``
                               http to localhost/127.0.0.1; ``true`` always;
                               ``false`` never (only for a trusted plain-http LAN)
TRYGGKARTA_TRUSTED_PROXIES     reverse proxies in front whose ``X-Forwarded-For/      0 (headers ignored)
                               -Proto/-Host/-Prefix`` are believed (ProxyFix)
TRYGGKARTA_SESSION_HOURS       a login lasts at most this long                       12
TRYGGKARTA_LOGIN_RATE_LIMIT    failed logins per username and IP address             ``5 per minute;20 per hour``
TRYGGKARTA_LOGIN_IP_RATE_LIMIT login attempts per IP address (any username)          ``30 per minute``
TRYGGKARTA_API_RATE_LIMIT      /api and /ogc requests per token, user or IP address  ``600 per minute``
TRYGGKARTA_RATELIMIT_STORAGE   where the counters live (``memory://``, or e.g.        ``memory://``
                               ``redis://host:6379`` for several server processes)
TRYGGKARTA_IMPORT_PREVIEW_HOURS  an unconfirmed import preview (and its upload) is      24
                               deleted after this many hours
TRYGGKARTA_FORECAST_GBM        ``true``: the default hotspot layer's choice also     ``false``
                               tries the gradient-boosted model (needs the
                               ``forecast`` extra, scikit-learn; slower)
TRYGGKARTA_CONFIG              path of a TOML file with the same keys (lower case)   none
=============================  ====================================================  =========================
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tryggkarta.errors import ConfigError

ENV_PREFIX = "TRYGGKARTA_"

DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_TILE_ATTRIBUTION = "© OpenStreetMap contributors"
DEFAULT_TIMEZONE = "Europe/Stockholm"
#: ``TRYGGKARTA_TILE_URL`` values that mean "no background map".
NO_TILES = frozenset({"none", "off", "false", "0"})


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    crs: int = 3006
    region: str = "SE"
    secret_key: str = ""
    tile_url: str = DEFAULT_TILE_URL
    tile_attribution: str = DEFAULT_TILE_ATTRIBUTION
    basemap: str = ""
    instance_path: str = "instance"
    max_upload_mb: int = 200
    min_count: int = 5
    import_preview_hours: int = 24
    language: str = "sv"
    timezone: str = DEFAULT_TIMEZONE
    default_locations: str = ""
    export_file_mode: int = 0o644
    secure_cookies: str = "auto"
    trusted_proxies: int = 0
    session_hours: int = 12
    statement_timeout_s: int = 30
    lock_timeout_s: int = 5
    db_pool_size: int = 10
    login_rate_limit: str = "5 per minute;20 per hour"
    login_ip_rate_limit: str = "30 per minute"
    api_rate_limit: str = "600 per minute"
    ratelimit_storage: str = "memory://"
    forecast_gbm: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sqlite_default_url(self) -> str:
        return f"sqlite:///{Path(self.instance_path).resolve() / 'tryggkarta.db'}"

    @property
    def url(self) -> str:
        """The database URL actually used."""
        return self.database_url or self.sqlite_default_url

    def with_overrides(self, **kwargs: Any) -> Settings:
        return replace(self, **kwargs)


_INT_FIELDS = {
    "crs",
    "max_upload_mb",
    "min_count",
    "trusted_proxies",
    "session_hours",
    "import_preview_hours",
    "statement_timeout_s",
    "lock_timeout_s",
    "db_pool_size",
}
#: Whole numbers that may be 0.
_ZERO_OK = {"trusted_proxies", "statement_timeout_s", "lock_timeout_s"}
SECURE_COOKIE_CHOICES = {
    "auto": "auto",
    "true": "true",
    "1": "true",
    "yes": "true",
    "on": "true",
    "false": "false",
    "0": "false",
    "no": "false",
    "off": "false",
}


def _octal_mode(value: Any) -> int:
    """File permissions from ``0644``, ``644``, ``0o644`` or an int; ConfigError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    else:
        text = str(value).strip().lower().removeprefix("0o")
        try:
            mode = int(text, 8)
        except ValueError:
            mode = -1
    if not 0 <= mode <= 0o777:
        raise ConfigError(
            f"{ENV_PREFIX}EXPORT_FILE_MODE must be octal permissions such as 0644, got {value!r}."
        )
    return mode


def _coerce(name: str, value: Any) -> Any:
    if name == "export_file_mode":
        return _octal_mode(value)
    if name in _INT_FIELDS:
        text = str(value).strip()
        if name == "crs" and text.upper().startswith("EPSG:"):
            text = text[5:]
        try:
            number = int(text)
        except ValueError:
            raise ConfigError(
                f"{ENV_PREFIX}{name.upper()} must be a whole number, got {value!r}."
            ) from None
        if number < 0 or (number == 0 and name not in _ZERO_OK):
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be positive, got {value!r}.")
        return number
    if name == "secure_cookies":
        text = str(value).strip().lower() if not isinstance(value, bool) else str(value).lower()
        if text not in SECURE_COOKIE_CHOICES:
            raise ConfigError(
                f"{ENV_PREFIX}SECURE_COOKIES must be auto, true or false, got {value!r}."
            )
        return SECURE_COOKIE_CHOICES[text]
    if name == "forecast_gbm":
        text = str(value).strip().lower()
        if SECURE_COOKIE_CHOICES.get(text) not in ("true", "false"):
            raise ConfigError(f"{ENV_PREFIX}FORECAST_GBM must be true or false, got {value!r}.")
        on = SECURE_COOKIE_CHOICES[text] == "true"
        if on and importlib.util.find_spec("sklearn") is None:
            raise ConfigError(
                f"{ENV_PREFIX}FORECAST_GBM needs scikit-learn: pip install 'tryggkarta[forecast]'."
            )
        return on
    return str(value)


def load_settings(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Build the settings: defaults < TOML file < environment < ``overrides``."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    names = {f.name for f in fields(Settings)} - {"extra"}

    toml_path = (overrides or {}).get("config_file") or env.get(f"{ENV_PREFIX}CONFIG")
    if toml_path:
        path = Path(toml_path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"Configuration file {path} does not exist.") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Configuration file {path} is not valid TOML: {exc}") from None
        section = data.get("tryggkarta", data)
        for key, value in section.items():
            if key in names:
                values[key] = _coerce(key, value)

    for name in names:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw)

    for key, value in (overrides or {}).items():
        if key in names:
            values[key] = (
                _coerce(key, value)
                if key in _INT_FIELDS
                or key in ("export_file_mode", "secure_cookies", "forecast_gbm")
                else value
            )

    if "crs" not in values:  # a metric CRS that suits the region (its UTM zone abroad)
        from tryggkarta.geo import crs_for_region

        with contextlib.suppress(ConfigError):
            values["crs"] = crs_for_region(values.get("region", "SE"))

    if not values.get("secret_key"):
        key_file = Path(values.get("instance_path", "instance")) / "secret_key"
        if key_file.is_file():
            values["secret_key"] = key_file.read_text(encoding="utf-8").strip()
        else:
            values["secret_key"] = secrets.token_hex(32)
            values["extra"] = {"secret_key_generated": True}
    settings = Settings(**values)
    validate(settings)
    global _loaded_timezone
    _loaded_timezone = settings.timezone
    return settings


#: The time zone of the settings loaded last (the app's or the CLI's); None before any load.
_loaded_timezone: str | None = None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(
            f"{ENV_PREFIX}TIMEZONE {name!r} is not a time zone; use an IANA name such as "
            f"{DEFAULT_TIMEZONE!r}."
        ) from None


def default_locations(settings: Settings) -> list[tuple[float, float]]:
    """The configured default positions as (lon, lat) pairs (``TRYGGKARTA_DEFAULT_LOCATIONS``,
    written ``lat,lon;lat,lon`` like Polisen's ``gps`` field); ConfigError when malformed."""
    out = []
    for part in str(settings.default_locations or "").split(";"):
        if not part.strip():
            continue
        bits = part.replace(" ", "").split(",")
        try:
            lat, lon = (float(b) for b in bits)
        except ValueError:
            lat = lon = float("nan")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ConfigError(
                f"{ENV_PREFIX}DEFAULT_LOCATIONS must be 'lat,lon' pairs separated by ';' "
                f"(e.g. '58.3862,13.4380'), got {part.strip()!r}."
            )
        out.append((lon, lat))
    return out


def local_timezone(settings: Settings | None = None) -> ZoneInfo:
    """The installation's time zone (``TRYGGKARTA_TIMEZONE``, default Europe/Stockholm).

    The one place that decides which local time people see and which local days and hours
    filters and profiles use. With ``settings``, theirs; otherwise the settings loaded last
    in this process, else the environment variable, else the default.
    """
    if settings is not None:
        return _zone(settings.timezone)
    name = _loaded_timezone or os.environ.get(f"{ENV_PREFIX}TIMEZONE") or DEFAULT_TIMEZONE
    return _zone(name)


def ensure_secret_key_file(settings: Settings) -> Path:
    """Write a random secret key to ``<instance>/secret_key`` (mode 600) if there is none."""
    path = Path(settings.instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path


def validate(settings: Settings) -> None:
    """Raise :class:`ConfigError` with one clear sentence for a bad setting."""
    url = settings.url
    if "://" not in url:
        raise ConfigError(
            f"{ENV_PREFIX}DATABASE_URL {url!r} is not a database URL; use e.g. "
            "'sqlite:///instance/tryggkarta.db' or 'postgresql+psycopg://user@host:5432/db'."
        )
    scheme = url.split("://", 1)[0]
    if not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
        raise ConfigError(
            f"{ENV_PREFIX}DATABASE_URL uses {scheme!r}; only SQLite and PostgreSQL/PostGIS are supported."
        )
    from tryggkarta.geo import check_working_crs, parse_region

    check_working_crs(settings.crs)
    parse_region(settings.region)
    from tryggkarta.geo import crs_mismatch

    mismatch = crs_mismatch(settings.crs, settings.region)
    if mismatch:
        logging.getLogger("tryggkarta").warning(mismatch)
    if settings.basemap:
        from tryggkarta.maps.basemap import open_basemap

        open_basemap(settings.basemap)  # a missing or unreadable file fails here, not per tile
    if settings.tile_url.strip().lower() not in NO_TILES and (
        "{z}" not in settings.tile_url
        or "{x}" not in settings.tile_url
        or "{y}" not in settings.tile_url
    ):
        raise ConfigError(
            f"{ENV_PREFIX}TILE_URL must contain {{z}}, {{x}} and {{y}} (or be 'none'): "
            f"{settings.tile_url!r}"
        )
    _zone(settings.timezone)
    default_locations(settings)
    from limits import parse_many

    for name in ("login_rate_limit", "login_ip_rate_limit", "api_rate_limit"):
        try:
            parse_many(getattr(settings, name))
        except ValueError:
            raise ConfigError(
                f"{ENV_PREFIX}{name.upper()} {getattr(settings, name)!r} is not a rate limit; "
                "write e.g. '5 per minute;20 per hour'."
            ) from None
    if "://" not in settings.ratelimit_storage:
        raise ConfigError(
            f"{ENV_PREFIX}RATELIMIT_STORAGE {settings.ratelimit_storage!r} is not a storage URI; "
            "use 'memory://' or e.g. 'redis://localhost:6379'."
        )
    if settings.language not in ("sv", "en"):
        raise ConfigError(f"language must be 'sv' or 'en', got {settings.language!r}.")
