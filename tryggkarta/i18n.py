"""Swedish first, English available.

UI strings are written in Swedish in the code and templates (``_("Lägesbild")``); English
translations live in ``tryggkarta/translations/en/*.toml`` (one file per area of the app, so
parts can be translated independently). Dates and numbers are formatted with Babel's
locale data (sv_SE / en_GB).

Times: the store keeps UTC; every time shown to a person is in the installation's time zone
(``TRYGGKARTA_TIMEZONE``, :func:`tryggkarta.config.local_timezone`), and every time written
for a machine (JSON API, GeoJSON, OGC, exports) is ISO 8601 in that zone *with its offset*
(``2024-06-15T05:27:00+02:00``): :func:`iso_local` / :func:`iso_local_series`.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.numbers import format_decimal as _babel_decimal
from babel.numbers import format_percent as _babel_percent

from tryggkarta.config import local_timezone

LANGUAGES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"
LOCALES = {"sv": "sv_SE", "en": "en_GB"}
CATALOGUE_DIR = Path(__file__).parent / "translations"


@lru_cache(maxsize=4)
def catalogue(lang: str) -> dict[str, str]:
    """All translations Swedish -> ``lang`` (empty for Swedish itself)."""
    out: dict[str, str] = {}
    folder = CATALOGUE_DIR / lang
    if lang == DEFAULT_LANGUAGE or not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        out.update({str(k): str(v) for k, v in data.items()})
    return out


def translate(text: str, lang: str, **params: object) -> str:
    """``text`` (Swedish source) in ``lang``, with ``%(name)s`` parameters filled in."""
    result = catalogue(lang).get(text, text) if lang != DEFAULT_LANGUAGE else text
    return result % params if params else result


def format_number(value: float, lang: str, digits: int = 1) -> str:
    """``value`` with exactly ``digits`` decimals in the language's notation ("0,20" in
    Swedish, "0.20" in English): an interval reads "0,20–1,07", never "0,2–1,07"."""
    rounded = round(value, digits) or 0.0  # no "-0,0"
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return _babel_decimal(rounded, pattern, locale=LOCALES.get(lang, "sv_SE"))


def format_percent(value: float, lang: str) -> str:
    return _babel_percent(value, locale=LOCALES.get(lang, "sv_SE"))


def format_date(value: date | datetime, lang: str, fmt: str = "medium") -> str:
    """A calendar day; an aware timestamp gives its day in local time."""
    if isinstance(value, datetime):
        value = value.astimezone(local_timezone()).date()
    return _babel_date(value, fmt, locale=LOCALES.get(lang, "sv_SE"))


def format_datetime(value: datetime, lang: str, fmt: str = "short") -> str:
    """A UTC timestamp shown in local time (``TRYGGKARTA_TIMEZONE``)."""
    return _babel_datetime(value, fmt, tzinfo=local_timezone(), locale=LOCALES.get(lang, "sv_SE"))


def local_day(value: datetime) -> date:
    """The local calendar day of an aware timestamp."""
    return value.astimezone(local_timezone()).date()


def iso_local(value: Any) -> Any:
    """A datetime as ISO 8601 in local time with its offset; a date as ``YYYY-MM-DD``;
    anything else unchanged. Naive datetimes are taken as UTC (the store's convention)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(local_timezone()).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def iso_local_series(values: pd.Series) -> pd.Series:
    """A datetime column as ISO 8601 text in local time with the offset (``+02:00``), None for
    missing values; vectorised (no Python call per value). Other columns come back as they are.
    """
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values
    stamps = values if values.dt.tz is not None else values.dt.tz_localize("UTC")
    utc = stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[s]")
    local = stamps.dt.tz_convert(local_timezone()).dt.tz_localize(None).to_numpy("datetime64[s]")
    text = np.datetime_as_string(local, unit="s").astype(object)
    minutes = (local - utc).astype("int64") // 60
    offsets, which = np.unique(minutes, return_inverse=True)  # a handful (summer, winter)
    names = np.array(
        [f"{'+' if m >= 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}" for m in offsets.tolist()],
        dtype=object,
    )
    out = pd.Series(text + names[which.ravel()], index=values.index, dtype=object)
    return out.where(values.notna().to_numpy(), None)
