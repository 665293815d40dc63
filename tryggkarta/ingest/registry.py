"""One reader per file type, registered in a table (as geopandas picks its engine).

A reader turns a file into a :class:`RawTable`: the attribute columns as found (text for
CSV/XLSX), the geometry with its declared CRS for vector formats, and what was detected
(encoding, delimiter, sheet). Mapping columns to the layer and validating rows is the
normaliser's job (:mod:`tryggkarta.ingest.normalise`).

Adding a format = one module with a ``read(path, options) -> RawTable`` function and one
entry in :data:`READERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tryggkarta.ingest.files import bad, split_suffix

if TYPE_CHECKING:
    import geopandas as gpd


@dataclass
class ReadOptions:
    """What a reader may be told: sheet, encoding, delimiter, a CRS for files without one."""

    sheet: str | int | None = None
    encoding: str | None = None
    delimiter: str | None = None
    crs: int | str | None = None
    filename: str | None = None


@dataclass
class RawTable:
    """A file as read: columns, optional geometry, and what was detected on the way."""

    frame: pd.DataFrame
    format: str
    geometry: gpd.GeoSeries | None = None
    crs: Any = None  # the file's declared CRS (pyproj CRS or EPSG int), None if none
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    row_numbers: np.ndarray | None = None  # row number in the file for each frame row
    preset: str | None = None  # a built-in mapping the content asks for (e.g. "polisen")
    #: rows refused while reading: (row number, column, value, reason[, reason parameters]),
    #: the reason a :class:`~tryggkarta.ingest.report.Reason` key or English text
    bad_rows: list[tuple] = field(default_factory=list)
    #: warnings found while reading: (Note key or English text, parameters)
    warnings: list[tuple[str, dict]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.row_numbers is None:
            self.row_numbers = np.arange(1, len(self.frame) + 1)


Reader = Callable[[Path, ReadOptions], RawTable]


def _csv(path: Path, options: ReadOptions) -> RawTable:
    from tryggkarta.ingest import csv as reader

    return reader.read(path, options)


def _xlsx(path: Path, options: ReadOptions) -> RawTable:
    from tryggkarta.ingest import xlsx as reader

    return reader.read(path, options)


def _json(path: Path, options: ReadOptions) -> RawTable:
    from tryggkarta.ingest import jsonfile as reader

    return reader.read(path, options)


def _vector(path: Path, options: ReadOptions) -> RawTable:
    from tryggkarta.ingest import vector as reader

    return reader.read(path, options)


def _zip(path: Path, options: ReadOptions) -> RawTable:
    from tryggkarta.ingest import vector as reader

    return reader.read_zip(path, options)


def _parquet(path: Path, options: ReadOptions) -> RawTable:
    from tryggkarta.ingest import vector as reader

    return reader.read_parquet(path, options)


#: File type (suffix without dot, lower case) -> reader. ``.gz`` is stripped first.
READERS: dict[str, Reader] = {
    "csv": _csv,
    "tsv": _csv,
    "txt": _csv,
    "xlsx": _xlsx,
    "xlsm": _xlsx,
    "json": _json,
    "geojson": _json,
    "gpkg": _vector,
    "kml": _vector,
    "shp": _vector,
    "zip": _zip,
    "parquet": _parquet,
    "geoparquet": _parquet,
}

#: Human names of the formats (report and web form).
FORMAT_NAMES: dict[str, str] = {
    "csv": "CSV",
    "xlsx": "Excel (XLSX)",
    "geojson": "GeoJSON",
    "gpkg": "GeoPackage",
    "kml": "KML",
    "shapefile": "ESRI Shapefile (zip)",
    "polisen-json": "Polisen events JSON",
    "polisen-csv": "Polisen events history CSV",
    "json": "JSON records",
    "geoparquet": "GeoParquet",
}


def file_type(name: str) -> str:
    """The registry key for a file name, or a clear error for an unsupported type."""
    suffix, _gz = split_suffix(name)
    if suffix not in READERS:
        known = ", ".join(sorted({f".{k}" for k in READERS}))
        raise bad(
            f"Files of type {('.' + suffix) if suffix else '(no extension)'} cannot be imported; "
            f"use one of {known} (optionally .gz).",
            "unsupported_format",
        )
    return suffix


def read_table(path: Path, options: ReadOptions | None = None) -> RawTable:
    """Read ``path`` with the reader its file type is registered for."""
    options = options or ReadOptions()
    name = options.filename or path.name
    table = READERS[file_type(name)](path, options)
    if len(table.frame) == 0:
        raise bad(f"The file {name} has no data rows.", "no_rows")
    return table
