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
TRYGGKARTA_TILE_URL            background tile URL template                          OpenStreetMap
TRYGGKARTA_TILE_ATTRIBUTION    attribution shown for the tiles                       © OpenStreetMap contributors
TRYGGKARTA_INSTANCE_PATH       folder for the SQLite file, exports, uploads          ``./instance``
TRYGGKARTA_MAX_UPLOAD_MB       largest accepted upload                               200
TRYGGKARTA_MIN_COUNT           k-anonymity threshold for public/partner outputs      5
TRYGGKARTA_IMPORT_PREVIEW_HOURS  an unconfirmed import preview (and its upload) is      24
                               deleted after this many hours
TRYGGKARTA_CONFIG              path of a TOML file with the same keys (lower case)   none
=============================  ====================================================  =========================
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tryggkarta.errors import ConfigError

ENV_PREFIX = "TRYGGKARTA_"

DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_TILE_ATTRIBUTION = "© OpenStreetMap contributors"


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    crs: int = 3006
    region: str = "SE"
    secret_key: str = ""
    tile_url: str = DEFAULT_TILE_URL
    tile_attribution: str = DEFAULT_TILE_ATTRIBUTION
    instance_path: str = "instance"
    max_upload_mb: int = 200
    min_count: int = 5
    import_preview_hours: int = 24
    language: str = "sv"
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


_INT_FIELDS = {"crs", "max_upload_mb", "min_count", "import_preview_hours"}


def _coerce(name: str, value: Any) -> Any:
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
        if number <= 0:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be positive, got {value!r}.")
        return number
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
            values[key] = _coerce(key, value) if key in _INT_FIELDS else value

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
    return settings


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
    if (
        "{z}" not in settings.tile_url
        or "{x}" not in settings.tile_url
        or "{y}" not in settings.tile_url
    ):
        raise ConfigError(
            f"{ENV_PREFIX}TILE_URL must contain {{z}}, {{x}} and {{y}}: {settings.tile_url!r}"
        )
    if settings.language not in ("sv", "en"):
        raise ConfigError(f"language must be 'sv' or 'en', got {settings.language!r}.")
