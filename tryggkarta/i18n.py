"""Swedish first, English available.

UI strings are written in Swedish in the code and templates (``_("Lägesbild")``); English
translations live in ``tryggkarta/translations/en/*.toml`` (one file per area of the app, so
parts can be translated independently). Dates and numbers are formatted with Babel's
locale data (sv_SE / en_GB).
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.numbers import format_decimal as _babel_decimal
from babel.numbers import format_percent as _babel_percent

LANGUAGES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"
LOCALES = {"sv": "sv_SE", "en": "en_GB"}
TIMEZONE = ZoneInfo("Europe/Stockholm")
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
    return _babel_decimal(round(value, digits), locale=LOCALES.get(lang, "sv_SE"))


def format_percent(value: float, lang: str) -> str:
    return _babel_percent(value, locale=LOCALES.get(lang, "sv_SE"))


def format_date(value: date | datetime, lang: str, fmt: str = "medium") -> str:
    if isinstance(value, datetime):
        value = value.astimezone(TIMEZONE).date()
    return _babel_date(value, fmt, locale=LOCALES.get(lang, "sv_SE"))


def format_datetime(value: datetime, lang: str, fmt: str = "short") -> str:
    """A UTC timestamp shown in Stockholm time."""
    return _babel_datetime(value, fmt, tzinfo=TIMEZONE, locale=LOCALES.get(lang, "sv_SE"))
