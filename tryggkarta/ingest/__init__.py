"""Ingest: one reader per source format, validation, the import report, atomic imports.

>>> from tryggkarta.ingest import import_file
>>> report = import_file(db, "incidents", "polisen_api_events_latest_snapshot.json")
>>> print(report.to_text())

See :mod:`tryggkarta.ingest.registry` for the formats, :mod:`tryggkarta.ingest.mapping` for
column mapping files and :mod:`tryggkarta.ingest.service` for the import itself.
"""

from tryggkarta.ingest.mapping import Mapping, load_mapping, save_mapping
from tryggkarta.ingest.registry import READERS, RawTable, ReadOptions, read_table
from tryggkarta.ingest.report import ImportReport, Rejection, escape_cell
from tryggkarta.ingest.service import import_file, list_datasets, prepare, undo_import

__all__ = [
    "READERS",
    "ImportReport",
    "Mapping",
    "RawTable",
    "ReadOptions",
    "Rejection",
    "escape_cell",
    "import_file",
    "list_datasets",
    "load_mapping",
    "prepare",
    "read_table",
    "save_mapping",
    "undo_import",
]
