"""Request parameters: one parser per kind of value, a sentence for every mistake.

Every date, number, bounding box and key that arrives in a query string or a form goes
through one of these functions, so a hostile value (``9999-12-31``, ``2025-02-30``,
``nan``, ``1e309``, a 30-digit number, a line break) is a :class:`BadInput` (HTTP 400) with a
sentence, never an ``OverflowError`` or ``ValueError`` deep in the code (HTTP 500).

Messages are Swedish source text passed through ``t`` (``t(text, **params) -> text``): the
web pages pass their translator, the JSON APIs an English one. Without ``t`` the Swedish
text is used as it is.

Dates are local calendar days (the ``TRYGGKARTA_TIMEZONE`` setting) between
:data:`MIN_DAY` and :data:`MAX_DAY`; that range keeps ``day + 1`` and every conversion to a
timestamp (Python, pandas nanoseconds, SQL) valid.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from tryggkarta.config import local_timezone
from tryggkarta.errors import BadInput

Translate = Callable[..., str]

MIN_DAY = date(1900, 1, 1)
MAX_DAY = date(2199, 12, 31)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INT = re.compile(r"[+-]?[0-9]{1,12}")
_DIGITS = re.compile(r"[0-9]+")
_KEY = re.compile(r"[A-Za-z0-9_.:-]+")
BBOX_EXAMPLE = "13.3,58.3,13.5,58.4"


def swedish(text: str, **params: object) -> str:
    """The identity translator: Swedish source text with its parameters filled in."""
    return text % params if params else text


def shown(value: object, limit: int = 40) -> str:
    """A user's value as it may be quoted back: shortened, control characters as ``?``."""
    text = str(value)
    short = text[:limit] + ("…" if len(text) > limit else "")
    return "".join(c if c.isprintable() else "?" for c in short)


def is_digits(value: str | None, max_digits: int = 9) -> bool:
    """Whether ``value`` is 1..``max_digits`` ASCII digits — unlike ``str.isdigit``, which is
    true for ``²`` and ``٣`` (``int("²")`` raises) and for numbers no database column holds."""
    return bool(value) and len(value) <= max_digits and _DIGITS.fullmatch(value) is not None


def parse_day(value: str | None, name: str, t: Translate = swedish) -> date | None:
    """``YYYY-MM-DD`` (a real day between :data:`MIN_DAY` and :data:`MAX_DAY`), or None if empty."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise BadInput(
            t(
                "Ogiltigt datum i '%(name)s': %(value)s. Skriv datum som ÅÅÅÅ-MM-DD.",
                name=name,
                value=shown(text),
            )
        ) from None
    if not MIN_DAY <= day <= MAX_DAY:
        raise BadInput(
            t(
                "Datumet i '%(name)s' (%(value)s) ligger utanför %(lo)s–%(hi)s.",
                name=name,
                value=text,
                lo=MIN_DAY.isoformat(),
                hi=MAX_DAY.isoformat(),
            )
        )
    return day


def parse_day_range(
    start: str | None,
    end: str | None,
    t: Translate = swedish,
    names: tuple[str, str] = ("from", "to"),
) -> tuple[date | None, date | None]:
    """Two days (``end`` inclusive) in order; a backwards range is a :class:`BadInput`."""
    first, last = parse_day(start, names[0], t), parse_day(end, names[1], t)
    if first and last and last < first:
        raise BadInput(
            t(
                "Datumintervallet är baklänges: 'från' (%(start)s) ligger efter 'till' (%(end)s).",
                start=first,
                end=last,
            )
        )
    return first, last


def local_midnight(day: date) -> datetime:
    """The start of a local calendar day as an aware datetime (local time zone)."""
    return datetime.combine(day, time(0), tzinfo=local_timezone())


def day_bounds(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """Start of ``first`` and start of the day after ``last`` (exclusive end), local time."""
    return (
        local_midnight(first) if first else None,
        local_midnight(last + timedelta(days=1)) if last else None,
    )


def parse_int(
    value: str | None, name: str, lo: int, hi: int, default: int, t: Translate = swedish
) -> int:
    """A whole number in ``lo..hi``; ``default`` when empty."""
    if value is None or not str(value).strip():
        return default
    text = str(value).strip()
    if not _INT.fullmatch(text) or not lo <= int(text) <= hi:
        raise BadInput(
            t(
                "Ogiltigt värde i '%(name)s': %(value)s. Tillåtet: %(lo)s–%(hi)s.",
                name=name,
                value=shown(text, 20),
                lo=lo,
                hi=hi,
            )
        )
    return int(text)


def parse_ints(
    values: list[str], name: str, lo: int, hi: int, t: Translate = swedish
) -> tuple[int, ...]:
    """Several whole numbers in ``lo..hi``, sorted, without repeats."""
    return tuple(sorted({parse_int(v, name, lo, hi, lo, t) for v in values if v.strip()}))


def parse_float(
    value: str | None,
    name: str,
    lo: float,
    hi: float,
    default: float | None,
    t: Translate = swedish,
) -> float | None:
    """A finite decimal number in ``lo..hi`` (``,`` accepted as decimal mark)."""
    if value is None or not str(value).strip():
        return default
    text = str(value).strip()
    try:
        number = float(text.replace(",", ".")) if len(text) <= 40 else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not lo <= number <= hi:
        raise BadInput(
            t(
                "Ogiltigt värde i '%(name)s': %(value)s. Tillåtet: %(lo)s–%(hi)s.",
                name=name,
                value=shown(text, 20),
                lo=lo,
                hi=hi,
            )
        )
    return number


def parse_bbox(
    value: str | None, t: Translate = swedish, name: str = "bbox"
) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` in WGS84 degrees (finite, min < max), or None if empty."""
    if value is None or not str(value).strip():
        return None
    message = t(
        "Ogiltig bbox: ange minlon,minlat,maxlon,maxlat i WGS84 (t.ex. %(example)s).",
        example=BBOX_EXAMPLE,
    )
    parts = str(value).split(",")
    try:
        if len(parts) != 4 or len(value) > 200:
            raise ValueError(value)
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError:
        raise BadInput(message) from None
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise BadInput(message)
    if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
        raise BadInput(message)
    return minx, miny, maxx, maxy


def parse_key(value: str | None, name: str, t: Translate = swedish, max_length: int = 100) -> str:
    """An identifier (letters, digits, ``_ . : -``), e.g. a hot-spot key; never a line break."""
    text = (value or "").strip()
    if not text or len(text) > max_length or not _KEY.fullmatch(text):
        raise BadInput(
            t(
                "Ogiltig nyckel i '%(name)s': använd bokstäver, siffror, - och _ "
                "(högst %(n)s tecken).",
                name=name,
                n=max_length,
            )
        )
    return text
