"""The import report: what was read, what was kept, what was refused and why.

One :class:`ImportReport` per import, filled by the readers and the normaliser and finished
by :func:`tryggkarta.ingest.service.import_file`. It renders as English CLI text
(:meth:`ImportReport.to_text`), JSON (:meth:`ImportReport.to_dict`) and the rejected rows as
a CSV that is safe to open in Excel (:meth:`ImportReport.rejected_csv`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from typing import Any

#: Shown to the user, not stored: at most this many rejected rows are kept in the report.
MAX_REJECTIONS = 10_000
#: Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

#: Labels for the report fields, Swedish and English (the web UI picks one).
LABELS: dict[str, dict[str, str]] = {
    "sv": {
        "format": "Format",
        "encoding": "Teckenkodning",
        "delimiter": "Avgränsare",
        "crs": "Koordinatsystem",
        "rows_read": "Lästa rader",
        "rows_imported": "Importerade rader",
        "rows_duplicate": "Dubbletter (redan lagrade)",
        "rows_rejected": "Avvisade rader",
        "warnings": "Varningar",
        "row": "Rad",
        "column": "Kolumn",
        "value": "Värde",
        "reason": "Orsak",
        "dataset": "Datamängd",
        "dry_run": "Provkörning – inget sparades",
    },
    "en": {
        "format": "Format",
        "encoding": "Encoding",
        "delimiter": "Delimiter",
        "crs": "Coordinate system",
        "rows_read": "Rows read",
        "rows_imported": "Rows imported",
        "rows_duplicate": "Duplicates (already stored)",
        "rows_rejected": "Rows rejected",
        "warnings": "Warnings",
        "row": "Row",
        "column": "Column",
        "value": "Value",
        "reason": "Reason",
        "dataset": "Dataset",
        "dry_run": "Dry run – nothing was saved",
    },
}


def labels(lang: str = "sv") -> dict[str, str]:
    """Report field labels in ``lang`` (``sv`` or ``en``)."""
    return LABELS["en" if lang == "en" else "sv"]


def escape_cell(value: Any) -> str:
    """A cell value safe for spreadsheets: formula-like text gets a leading apostrophe."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class Reason:
    """Why a row was refused: Swedish source texts (message keys), English in imports.toml.

    A :class:`Rejection` keeps the key and its parameters, so the web pages show the reason
    in the reader's language; ``Rejection.reason`` is the English text (CLI, API, CSV).
    """

    TOO_MANY_FIELDS = (
        "raden har fler fält än rubrikraden (%(seen)s i stället för %(header)s): text med "
        "avgränsaren i som inte står inom citattecken?"
    )
    NOT_A_DATE = "inte ett giltigt datum"
    FUTURE_DATE = "datumet ligger i framtiden"
    EARLY_DATE = "datumet ligger före år 1900"
    MISSING_DATE = "datum saknas"
    NOT_A_NUMBER = "inte ett ändligt tal"
    AMBIGUOUS_NUMBER = (
        "tvetydigt tal: punkten kan vara tusentalsavgränsare eller decimaltecken; skriv "
        "1 234,5 eller 1234.5"
    )
    MISSING_COORDINATE = "koordinat saknas"
    OUTSIDE = "utanför %(area)s"
    NO_GEOMETRY = "ingen geometri"
    RATING = "betyget måste vara ett heltal %(low)s–%(high)s"
    PROJECT_NAME = "ett projekt måste ha ett namn"
    AREA_NAME = "ett område måste ha ett namn"
    NOT_IN_SCOPE = "kommunen ingår inte i de kommuner du får importera till (din EST-grupp)"


class Note:
    """Warnings and notes of an import: Swedish source texts, English in imports.toml."""

    MIXED_ENCODING = (
        "%(count)s rader är Windows-1252-text och resten UTF-8 (två exporter sammanfogade?); "
        "varje rad lästes i sin egen kodning – kontrollera å, ä och ö i raderna %(rows)s."
    )
    CRS_GUESSED = "Koordinatsystemet gissades utifrån koordinatvärdena: %(crs)s (%(why)s)."
    COLUMNS_SWAPPED = (
        "Kolumnerna %(a)s och %(b)s innehåller varandras värden i hela filen (%(why)s) – "
        "rättat genom att byta plats på dem."
    )
    ROWS_SWAPPED = "%(count)s rader hade %(names)s omkastade – rättat (rader %(rows)s)."
    UNKNOWN_CATEGORIES = (
        "%(count)s rader har kategorier som inte finns i kategorilistan (%(distinct)s olika); "
        "de sparades som övrigt."
    )
    NO_CATEGORY = "Filen saknar kategorikolumn; alla rader sparades som övrigt."
    UNKNOWN_PRECISION = "%(count)s rader hade okänd precision; 'exakt' användes."
    REPEATED_ID = (
        "%(count)s rader upprepar ett id som redan finns tidigare i filen; bara den första behölls."
    )
    IDENTICAL = (
        "%(count)s rader är identiska med en tidigare rad i filen; de behölls som separata "
        "poster (att importera filen igen lägger ändå inte till något)."
    )
    STACKED = (
        "%(count)s händelser ligger staplade på %(places)s enskild(a) koordinat(er) (flest "
        "%(top)s på en punkt, t.ex. en polisstation eller en standardposition); de sparades "
        "men räknas inte med i någon brännpunktsanalys."
    )
    ALREADY_STORED = (
        "%(count)s rader fanns redan i databasen (samma id eller samma innehåll) och hoppades över."
    )
    NOTHING_IMPORTED = "Ingen rad kunde importeras; inget sparades."
    RELEASE_NOT_REFRESHED = (
        "Importen är sparad, men den publika kartan kunde inte beräknas i förväg; den "
        "beräknas i stället vid första besöket."
    )
    CRS_MISMATCH = (
        "Arbetskoordinatsystemet EPSG:%(epsg)s (%(name)s) passar inte regionen %(region)s "
        "(mitt %(centre)s): avstånd blir fel med en faktor %(scale)s. Sätt "
        "TRYGGKARTA_CRS=%(better)s (eller lämna den tom så härleds den från regionen) och "
        "använd en ny databas."
    )
    ALL_OUTSIDE = (
        "Alla rader ligger utanför %(area)s (TRYGGKARTA_REGION). Data från en annan plats "
        "kräver att TRYGGKARTA_REGION sätts till dess område (minlon,minlat,maxlon,maxlat)."
    )
    CRS_GIVEN = "angivet"
    CRS_DECLARED = "angivet i filen"
    CRS_INFERRED = "härlett från värdena: %(why)s"


def reason_text(key: str, lang: str, params: dict[str, Any] | None = None) -> str:
    """A rejection reason (a :class:`Reason` key) in ``lang``; area names are translated too."""
    from tryggkarta.i18n import translate

    params = dict(params or {})
    for name, value in params.items():  # a parameter that is itself a key: [key, params]
        if isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[1], dict):
            params[name] = translate(value[0], lang, **value[1])
    return translate(key, lang, **params)


@dataclass
class Rejection:
    """One refused row: ``row`` is the row number in the file (header = row 1 for CSV).

    ``reason`` is English; ``key`` and ``params`` (when set) give it in any language at
    render time (:meth:`reason_in`).
    """

    row: int
    column: str
    value: str
    reason: str
    key: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def reason_in(self, lang: str) -> str:
        """The reason in ``lang`` (``sv`` or ``en``)."""
        return reason_text(self.key, lang, self.params) if self.key else self.reason


@dataclass
class ImportReport:
    """Everything an import found out; JSON-able via :meth:`to_dict`."""

    layer: str = ""
    filename: str = ""
    format: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    crs: str | None = None
    crs_note: str | None = None
    date_formats: str | None = None
    sheet: str | None = None
    rows_read: int = 0
    rows_imported: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: English warning text -> [Swedish message key, parameters] (translated at render)
    warning_keys: dict[str, list] = field(default_factory=dict)
    crs_note_key: list | None = None
    unknown_categories: dict[str, int] = field(default_factory=dict)
    column_map: dict[str, str] = field(default_factory=dict)
    checksum: str = ""
    dataset_id: int | None = None
    already_imported: int | None = None
    dry_run: bool = False
    strict_refused: bool = False
    source: str = ""
    licence: str = ""
    #: Seconds the public releases' refresh took after the commit (not part of the import).
    release_refresh_s: float | None = None
    #: Why that refresh failed (the import stands; visitors compute the release instead).
    release_refresh_error: str | None = None

    # -- filling ---------------------------------------------------------------------
    def reject(
        self, row: int, column: str, value: Any, reason: str, params: dict | None = None
    ) -> None:
        """Record one refused row (the count always grows; the list is capped).

        ``reason`` is a :class:`Reason` key (Swedish, with ``params``) or plain English text.
        """
        self.rows_rejected += 1
        if len(self.rejected) < MAX_REJECTIONS:
            text = "" if value is None else str(value)
            if reason in _REASON_KEYS:
                english = reason_text(reason, "en", params)
                self.rejected.append(
                    Rejection(int(row), column, text[:200], english, reason, dict(params or {}))
                )
            else:
                self.rejected.append(Rejection(int(row), column, text[:200], reason))

    def warn(self, message: str, params: dict | None = None) -> None:
        """Add a warning: English text, or a Swedish message key (see :class:`Note`) with
        ``params``; the English text goes to ``warnings``, the key to ``warning_keys``."""
        key = None
        if message in _NOTE_KEYS:
            key, message = message, reason_text(message, "en", params)
        if message not in self.warnings:
            self.warnings.append(message)
            if key is not None:
                self.warning_keys[message] = [key, dict(params or {})]

    def warnings_in(self, lang: str) -> list[str]:
        """The warnings in ``lang`` (those added as message keys are translated)."""
        return [
            reason_text(self.warning_keys[w][0], lang, self.warning_keys[w][1])
            if w in self.warning_keys
            else w
            for w in self.warnings
        ]

    def crs_note_in(self, lang: str) -> str | None:
        """How the coordinate system was decided, in ``lang``."""
        if self.crs_note_key:
            return reason_text(self.crs_note_key[0], lang, self.crs_note_key[1])
        return self.crs_note

    @property
    def ok(self) -> bool:
        """True when the import wrote (or in a dry run would write) what it was asked to."""
        return not self.strict_refused and (
            self.rows_imported > 0
            or self.already_imported is not None
            or self.rows_duplicate > 0
            or self.rows_read == 0
        )

    # -- output ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the API answer and the dataset's stored report)."""
        out = asdict(self)
        out["rejected"] = [asdict(r) for r in self.rejected]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportReport:
        data = dict(data)
        rejected = [Rejection(**r) for r in data.pop("rejected", [])]
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(rejected=rejected, **known)

    def to_text(self, max_rejected: int = 20) -> str:
        """The report as English text for the command line."""
        lines = [f"Import of {self.filename or '(file)'} into {self.layer}"]
        if self.dry_run:
            lines.append("DRY RUN: nothing was written.")
        lines.append(
            f"  format:      {self.format}" + (f" (sheet {self.sheet})" if self.sheet else "")
        )
        if self.encoding:
            lines.append(f"  encoding:    {self.encoding}")
        if self.delimiter:
            lines.append(f"  delimiter:   {_show_delimiter(self.delimiter)}")
        if self.crs:
            lines.append(
                f"  CRS:         {self.crs}" + (f" — {self.crs_note}" if self.crs_note else "")
            )
        if self.date_formats:
            lines.append(f"  dates:       {self.date_formats}")
        if self.column_map:
            pairs = ", ".join(f"{k}←{v}" for k, v in self.column_map.items())
            lines.append(f"  columns:     {pairs}")
        lines.append(f"  rows read:   {self.rows_read}")
        verb = "would import" if self.dry_run else "imported"
        lines.append(f"  {verb + ':':<13}{self.rows_imported}")
        lines.append(f"  duplicates:  {self.rows_duplicate} (already stored, skipped)")
        lines.append(f"  rejected:    {self.rows_rejected}")
        if self.already_imported is not None:
            lines.append(
                f"  This file was already imported as dataset {self.already_imported}; nothing written."
            )
        if self.dataset_id is not None:
            lines.append(f"  dataset:     {self.dataset_id}")
        if self.release_refresh_s is not None:
            lines.append(
                f"  public map:  refreshed in {self.release_refresh_s:.2f} s (after the import)"
            )
        if self.strict_refused:
            lines.append(
                "  STRICT: the file was refused because rows were rejected; nothing written."
            )
        if self.unknown_categories:
            top = ", ".join(f"{k!r} ({n})" for k, n in list(self.unknown_categories.items())[:15])
            lines.append(f"  unknown categories → ovrigt: {top}")
        if self.warnings:
            lines.append("Warnings:")
            lines += [f"  - {w}" for w in self.warnings]
        if self.rejected:
            lines.append("Rejected rows:")
            for r in self.rejected[:max_rejected]:
                lines.append(f"  row {r.row}: {r.column}={r.value!r}: {r.reason}")
            if self.rows_rejected > max_rejected:
                lines.append(
                    f"  … and {self.rows_rejected - max_rejected} more (use the rejected-rows CSV)"
                )
        return "\n".join(lines)

    def rejected_csv(self, lang: str = "en") -> str:
        """The rejected rows as CSV text, every cell escaped against formula injection."""
        lab = labels(lang)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow([lab["row"], lab["column"], lab["value"], lab["reason"]])
        for r in self.rejected:
            writer.writerow(
                [
                    r.row,
                    escape_cell(r.column),
                    escape_cell(r.value),
                    escape_cell(r.reason_in(lang)),
                ]
            )
        return buf.getvalue()


_REASON_KEYS = frozenset(v for k, v in vars(Reason).items() if k.isupper())
_NOTE_KEYS = frozenset(v for k, v in vars(Note).items() if k.isupper())


def _show_delimiter(value: str) -> str:
    return {"\t": "tab", ";": "semicolon (;)", ",": "comma (,)", "|": "pipe (|)"}.get(
        value, repr(value)
    )
