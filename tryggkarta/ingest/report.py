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


@dataclass
class Rejection:
    """One refused row: ``row`` is the row number in the file (header = row 1 for CSV)."""

    row: int
    column: str
    value: str
    reason: str


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
    unknown_categories: dict[str, int] = field(default_factory=dict)
    column_map: dict[str, str] = field(default_factory=dict)
    checksum: str = ""
    dataset_id: int | None = None
    already_imported: int | None = None
    dry_run: bool = False
    strict_refused: bool = False
    source: str = ""
    licence: str = ""

    # -- filling ---------------------------------------------------------------------
    def reject(self, row: int, column: str, value: Any, reason: str) -> None:
        """Record one refused row (the count always grows; the list is capped)."""
        self.rows_rejected += 1
        if len(self.rejected) < MAX_REJECTIONS:
            text = "" if value is None else str(value)
            self.rejected.append(Rejection(int(row), column, text[:200], reason))

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

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
                [r.row, escape_cell(r.column), escape_cell(r.value), escape_cell(r.reason)]
            )
        return buf.getvalue()


def _show_delimiter(value: str) -> str:
    return {"\t": "tab", ";": "semicolon (;)", ",": "comma (,)", "|": "pipe (|)"}.get(
        value, repr(value)
    )
