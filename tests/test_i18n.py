"""Every Swedish UI string has an English translation; ``?lang=en`` renders English."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tryggkarta.i18n import catalogue, format_date, format_datetime, format_number, translate

ROOT = Path(__file__).resolve().parents[1]
#: ``_("…")`` or ``_('…')`` with a literal first argument (templates and Python).
CALL = re.compile(r"""(?<![\w.])_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def ui_strings() -> dict[str, set[str]]:
    """Swedish source string -> files using it."""
    found: dict[str, set[str]] = {}
    files = [
        *sorted((ROOT / "templates").rglob("*.html")),
        *sorted((ROOT / "tryggkarta" / "web").glob("*.py")),
    ]
    for path in files:
        for match in CALL.finditer(path.read_text(encoding="utf-8")):
            text = match.group(1) if match.group(1) is not None else match.group(2)
            text = text.replace('\\"', '"').replace("\\'", "'")
            found.setdefault(text, set()).add(str(path.relative_to(ROOT)))
    return found


def test_scanner_finds_strings() -> None:
    strings = ui_strings()
    assert "Lägesbild" in strings and "Skriv ut" in strings
    assert len(strings) > 50


def test_every_ui_string_has_an_english_translation() -> None:
    english = catalogue("en")
    missing = {text: sorted(where) for text, where in ui_strings().items() if text not in english}
    assert not missing, "Missing English translations:\n" + "\n".join(
        f"  {text!r}  ({', '.join(where)})" for text, where in sorted(missing.items())
    )


def test_translations_keep_their_parameters() -> None:
    names = re.compile(r"%\((\w+)\)s")
    for sv, en in catalogue("en").items():
        assert set(names.findall(sv)) == set(names.findall(en)), sv


def test_translate_fills_parameters() -> None:
    assert translate("Lägesbild vecka %(n)s", "en", n=47) == "Situational picture week 47"
    assert translate("Lägesbild vecka %(n)s", "sv", n=47) == "Lägesbild vecka 47"


def test_locale_formats() -> None:
    assert format_number(1234.5, "sv") == "1\xa0234,5"
    assert format_number(1234.5, "en") == "1,234.5"
    assert format_date(date(2026, 11, 20), "sv") == "20 nov. 2026"
    assert format_date(date(2026, 11, 20), "en") == "20 Nov 2026"
    when = datetime(2026, 11, 20, 21, 30, tzinfo=UTC)  # 22:30 in Stockholm
    assert format_datetime(when, "sv") == "2026-11-20 22:30"
    assert "22:30" in format_datetime(when, "en")


@pytest.fixture
def db(sqlite_db):
    return sqlite_db


def test_lang_en_renders_english_pages(client, auth) -> None:
    auth.login("admin")
    html = client.get("/projekt/uppfoljning?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Follow-up of the citizen promise" in html and "Uppföljning" not in html
    html = client.get("/admin/").get_data(as_text=True)  # the choice sticks in the session
    assert "Create organisation" in html
    html = client.get("/publik?lang=sv").get_data(as_text=True)
    assert "Andel otrygga svar per ruta" in html
