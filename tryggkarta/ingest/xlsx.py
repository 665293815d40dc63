"""Excel workbooks (XLSX): the first sheet unless told, values never evaluated.

Before openpyxl sees the file, its zip directory is checked (zip bomb, unsafe paths) and
every XML part is scanned for a DOCTYPE or ENTITY declaration, which no genuine Excel file
contains: such files (billion laughs, external entities) are refused. Formulas are never
evaluated: a cell gives its cached value, or when there is none the formula text, which is
then kept as plain text.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tryggkarta.ingest import files
from tryggkarta.ingest.files import bad, check_table_size, check_zip, open_zip
from tryggkarta.ingest.registry import RawTable, ReadOptions

_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def check_xml_parts(path: Path, name: str) -> None:
    """Refuse a workbook whose XML parts declare a DTD or entities."""
    with open_zip(path, name) as zf:
        members = check_zip(zf, name)
        sheets = [i for i in members if i.filename.lower().startswith("xl/worksheets/")]
        check_table_size(name, None, None, max((i.file_size for i in sheets), default=0))
        for info in members:
            if not info.filename.lower().endswith((".xml", ".rels", ".vml")):
                continue
            with zf.open(info) as fh:
                head = fh.read(64 * 1024)
            if _DTD.search(head):
                raise bad(
                    f"The workbook {name} contains XML entity declarations ({info.filename}), "
                    "which Excel never writes; it was refused as unsafe.",
                    "xml_entities",
                )


def _bounded_rows(ws: Any, name: str) -> list[tuple]:
    """The sheet's rows, refusing more than MAX_ROWS rows or MAX_COLUMNS columns as it reads."""
    rows = list(itertools.islice(ws.iter_rows(values_only=True), files.MAX_ROWS + 2))
    check_table_size(name, len(rows) - 1, max((len(r) for r in rows[:1000]), default=0))
    return rows


def read(path: Path, options: ReadOptions) -> RawTable:
    """Read one sheet of an XLSX file into a table (header in the first non-empty row)."""
    import openpyxl

    name = options.filename or path.name
    check_xml_parts(path, name)
    try:
        values_wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        formula_wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for broken files
        raise bad(
            f"The file {name} is not a readable Excel workbook ({exc.__class__.__name__}).",
            "bad_xlsx",
        ) from None
    try:
        sheet_names = values_wb.sheetnames
        wanted = options.sheet
        if wanted is None:
            sheet = sheet_names[0]
        elif isinstance(wanted, int) or (isinstance(wanted, str) and wanted.isdigit()):
            index = int(wanted) - 1
            if not 0 <= index < len(sheet_names):
                raise bad(
                    f"The workbook {name} has no sheet number {wanted}.",
                    "no_sheet",
                    sheets=", ".join(sheet_names),
                )
            sheet = sheet_names[index]
        elif wanted in sheet_names:
            sheet = wanted
        else:
            raise bad(
                f"The workbook {name} has no sheet {wanted!r}; it has {', '.join(sheet_names)}.",
                "no_sheet",
                sheets=", ".join(sheet_names),
            )
        ws = values_wb[sheet]
        # The sheet's <dimension> first (it may be missing or lie: the reads below stop anyway).
        check_table_size(name, ws.max_row, ws.max_column)
        rows = _bounded_rows(ws, name)
        formulas = _bounded_rows(formula_wb[sheet], name)
    finally:
        values_wb.close()
        formula_wb.close()
    # A cell without a cached value shows its formula text (as text, never evaluated).
    merged = [
        tuple(v if v is not None else f for v, f in zip(r, fr, strict=False)) + tuple(r[len(fr) :])
        for r, fr in zip(rows, formulas, strict=False)
    ]
    start = next((i for i, r in enumerate(merged) if any(v not in (None, "") for v in r)), None)
    if start is None:
        raise bad(f"The sheet {sheet!r} of {name} is empty.", "empty_file")
    header = [
        str(v).strip() if v is not None else f"column_{j + 1}" for j, v in enumerate(merged[start])
    ]
    width = len(header)
    body = [tuple(r[:width]) + (None,) * (width - len(r)) for r in merged[start + 1 :]]
    if not body:
        raise bad(f"The sheet {sheet!r} of {name} has a header but no data rows.", "header_only")
    frame = pd.DataFrame(body, columns=header, dtype=object)
    frame = frame.map(lambda v: v.strip() or None if isinstance(v, str) else v)
    numbers = np.arange(start + 2, start + 2 + len(frame))
    keep = frame.notna().any(axis=1).to_numpy()
    frame = frame.loc[keep].reset_index(drop=True)
    if len(frame) == 0:
        raise bad(f"The sheet {sheet!r} of {name} has a header but no data rows.", "header_only")
    return RawTable(frame=frame, format="xlsx", sheet=sheet, row_numbers=numbers[keep])
