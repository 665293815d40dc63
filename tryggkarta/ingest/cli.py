"""``tryggkarta import …``: a thin click layer over :mod:`tryggkarta.ingest.service`.

Exit codes: 0 imported (or nothing new), 1 rows rejected in strict mode or nothing imported
because every row was rejected, 2 bad input or usage. Errors are one line on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from tryggkarta.domain import LAYER_FIELDS
from tryggkarta.errors import TryggkartaError


def _database() -> Any:
    from tryggkarta.cli import get_database

    return get_database()


def _fail(exc: TryggkartaError, code: int = 2) -> None:
    click.echo(f"Error: {exc.message}", err=True)
    sys.exit(code)


@click.group("import", help="Import files into a layer, list imports, undo one.")
def import_group() -> None:
    """The ``import`` command group (registered by the main CLI)."""


def _make_command(layer: str) -> click.Command:
    @click.command(layer, help=f"Import FILE into the {layer} layer and print the import report.")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option(
        "--mapping", "mapping", help="Mapping TOML file or packaged mapping name (e.g. chicago)."
    )
    @click.option("--crs", help="EPSG code of the coordinates when the file does not declare one.")
    @click.option("--dry-run", is_flag=True, help="Read and validate only; write nothing.")
    @click.option("--strict", is_flag=True, help="Refuse the whole file if any row is rejected.")
    @click.option("--source", help="Where the data comes from (stored with the dataset).")
    @click.option("--licence", help="Licence of the data.")
    @click.option(
        "--sensitivity",
        type=click.Choice(["public", "internal", "sensitive"]),
        default="internal",
        show_default=True,
    )
    @click.option(
        "--municipality",
        "municipality",
        help="Municipality code: rows outside it (+1 km) are rejected.",
    )
    @click.option(
        "--rejected-csv",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write the rejected rows to this CSV file.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    def command(
        file: Path,
        mapping: str | None,
        crs: str | None,
        dry_run: bool,
        strict: bool,
        source: str | None,
        licence: str | None,
        sensitivity: str,
        municipality: str | None,
        rejected_csv: Path | None,
        as_json: bool,
    ) -> None:
        from tryggkarta.ingest.service import import_file

        if not file.is_file():
            click.echo(f"Error: the file {file} does not exist.", err=True)
            sys.exit(2)
        epsg = crs[5:] if crs and crs.upper().startswith("EPSG:") else crs
        try:
            db = _database()
            report = import_file(
                db,
                layer,
                file,
                mapping=mapping,
                crs=epsg,
                dry_run=dry_run,
                strict=strict,
                source=source,
                licence=licence,
                sensitivity=sensitivity,
                municipality_code=municipality,
            )
        except TryggkartaError as exc:
            _fail(exc, 1 if exc.http_status >= 500 else 2)
            return
        from tryggkarta.services.releases import after_import

        after_import(db, report)  # committed first; its own time, never fails the import
        click.echo(
            json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=str)
            if as_json
            else report.to_text()
        )
        if rejected_csv is not None and report.rejected:
            rejected_csv.write_text(report.rejected_csv(), encoding="utf-8-sig")
            click.echo(f"Rejected rows written to {rejected_csv}", err=True)
        if report.strict_refused:
            sys.exit(1)
        nothing = (
            report.rows_imported == 0
            and report.rows_duplicate == 0
            and report.already_imported is None
        )
        if nothing and report.rows_rejected:
            sys.exit(1)

    return command


for _layer in LAYER_FIELDS:
    import_group.add_command(_make_command(_layer))


@import_group.command("undo", help="Delete dataset DATASET and every row it imported.")
@click.argument("dataset", type=int)
def undo(dataset: int) -> None:
    from tryggkarta.ingest.service import undo_import
    from tryggkarta.services.releases import after_undo

    try:
        db = _database()
        deleted = undo_import(db, dataset)
    except TryggkartaError as exc:
        _fail(exc, 1 if exc.http_status == 404 else 2)
        return
    for layer, n in deleted.items():
        click.echo(f"Dataset {dataset} removed: {n} {layer} rows deleted.")
    took = after_undo(db, list(deleted))  # committed first, like an import's refresh
    if took is not None:
        click.echo(f"Public map refreshed in {took:.2f} s.")


@import_group.command(
    "cleanup",
    help="Remove staging files of killed imports and previews older than "
    "TRYGGKARTA_IMPORT_PREVIEW_HOURS (run it from cron).",
)
def cleanup_command() -> None:
    from tryggkarta.ingest.cleanup import sweep

    try:
        done = sweep(_database())
    except TryggkartaError as exc:
        _fail(exc)
        return
    click.echo(
        f"Removed {done['staging_files']} stale staging files and "
        f"{done['previews']} expired import previews."
    )


@import_group.command("list", help="List imported datasets, newest first.")
@click.option("--layer", type=click.Choice(list(LAYER_FIELDS)))
def list_command(layer: str | None) -> None:
    from tryggkarta.ingest.service import list_datasets

    try:
        rows = list_datasets(_database(), layer)
    except TryggkartaError as exc:
        _fail(exc)
        return
    if not rows:
        click.echo("No datasets imported yet.")
        return
    click.echo(f"{'id':>5}  {'layer':<10} {'imported':>9} {'rejected':>8}  {'when':<20} name")
    for r in rows:
        when = (r["imported_at"] or "")[:19].replace("T", " ")
        click.echo(
            f"{r['id']:>5}  {r['layer']:<10} {r['rows_imported']:>9} {r['rows_rejected']:>8}  {when:<20} {r['name']}"
        )
