"""CLI: ``tryggkarta exports {add|list|run}``."""

from __future__ import annotations

from pathlib import Path

import click

from tryggkarta.errors import BadInput, TryggkartaError


@click.group("exports")
def exports_group() -> None:
    """Scheduled GeoJSON/GeoPackage exports for other systems (open-data portal, GIS).

    Run 'tryggkarta exports run --due' from cron every few minutes, e.g.
    '*/10 * * * * tryggkarta exports run --due'.
    """


@exports_group.command("add")
@click.argument("name")
@click.option(
    "--layer", required=True, help="Collection to export (see 'tryggkarta exports layers')."
)
@click.option(
    "--dir", "target_dir", required=True, type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--format", "fmt", type=click.Choice(["geojson", "gpkg"]), default="geojson", show_default=True
)
@click.option(
    "--schedule",
    default="MON 06:00",
    show_default=True,
    help="'MON 06:00', 'DAILY 06:00' or 'HOURLY'.",
)
@click.option(
    "--audience",
    type=click.Choice(["public", "partner", "internal"]),
    default="public",
    show_default=True,
)
def add(name: str, layer: str, target_dir: Path, fmt: str, schedule: str, audience: str) -> None:
    """Add an export schedule."""
    from sqlalchemy import select

    from tryggkarta.cli import get_database
    from tryggkarta.exports.files import check_name
    from tryggkarta.exports.folders import check_folder
    from tryggkarta.exports.schedule import parse_schedule
    from tryggkarta.services.public import COLLECTIONS
    from tryggkarta.store import ExportSchedule

    check_name(name)
    if layer not in COLLECTIONS:
        raise BadInput(f"Unknown layer {layer!r}; choose one of {', '.join(COLLECTIONS)}.")
    if audience == "public" and not COLLECTIONS[layer].public:
        raise BadInput(
            f"The layer {layer!r} holds raw records and cannot be exported for the public."
        )
    parsed = parse_schedule(schedule)
    with get_database().session() as s:
        if s.scalar(select(ExportSchedule).where(ExportSchedule.name == name)) is not None:
            raise BadInput(f"There is already an export called {name!r}.")
        check_folder(s, name, audience, target_dir)
        s.add(
            ExportSchedule(
                name=name,
                layer=layer,
                format=fmt,
                audience=audience,
                schedule=parsed.text,
                target_dir=str(target_dir.resolve()),
            )
        )
    click.echo(
        f"Added export {name}: {layer} as {fmt} to {target_dir} ({parsed.text}, {audience}); "
        f"the latest file is {name}-latest.{fmt}, described in {name}-manifest.json."
    )


@exports_group.command("layers")
def layers() -> None:
    """List the collections that can be exported."""
    from tryggkarta.services.public import COLLECTIONS

    for key, info in COLLECTIONS.items():
        click.echo(f"{key:22} {'public' if info.public else 'internal':9} {info.title_en}")


@exports_group.command("list")
def list_() -> None:
    """List export schedules and their last run."""
    from sqlalchemy import select

    from tryggkarta.cli import get_database
    from tryggkarta.i18n import iso_local
    from tryggkarta.store import ExportSchedule

    with get_database().session() as s:
        for row in s.scalars(select(ExportSchedule).order_by(ExportSchedule.name)):
            last = (
                iso_local(row.last_run_at)[:16].replace("T", " ") if row.last_run_at else "never"
            )  # local time, as a person reads it
            click.echo(
                f"{row.name:20} {row.layer:20} {row.format:7} {row.schedule:12} last run {last}  -> {row.target_dir}"
            )


@exports_group.command("run")
@click.argument("names", nargs=-1)
@click.option("--due", is_flag=True, help="Run only the schedules that are due now.")
def run(names: tuple[str, ...], due: bool) -> None:
    """Run exports now (all, the named ones, or those due)."""
    from sqlalchemy import select

    from tryggkarta.cli import get_database
    from tryggkarta.exports.writer import ExportFailed, due_schedules, run_export
    from tryggkarta.store import ExportSchedule

    db = get_database()
    if due:
        rows = due_schedules(db)
    else:
        with db.session() as s:
            stmt = select(ExportSchedule).order_by(ExportSchedule.id)
            if names:
                stmt = stmt.where(ExportSchedule.name.in_(names))
            rows = s.scalars(stmt).all()
            for r in rows:
                s.expunge(r)
        missing = set(names) - {r.name for r in rows}
        if missing:
            raise BadInput(f"No export called {sorted(missing)[0]!r}.")
    if not rows:
        click.echo("Nothing to export.")
    failed = []
    for row in rows:
        try:
            result = run_export(db, row)
        except TryggkartaError as exc:  # recorded and audit-logged; the others still run
            click.echo(f"{row.name}: FAILED: {exc.message}", err=True)
            failed.append(row.name)
            continue
        state = f"wrote {result.path}" if result.changed else "unchanged, nothing written"
        click.echo(f"{row.name}: {result.feature_count} features, {state}")
    if failed:
        raise ExportFailed(f"{len(failed)} of {len(rows)} exports failed: {', '.join(failed)}.")
