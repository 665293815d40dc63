"""``tryggkarta places``: import named places and street addresses for the map's place search."""

from __future__ import annotations

from pathlib import Path

import click

from tryggkarta.services import places


@click.group("places")
def places_group() -> None:
    """Named places and street addresses for the place search (offline)."""


@places_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(places.KINDS),
    default="place",
    show_default=True,
    help="place: named places (POIs); address: street addresses.",
)
@click.option("--crs", default=None, help="CRS of x/y columns or geometries without one (3006).")
def import_command(path: Path, kind: str, crs: str | None) -> None:
    """Replace the stored places of KIND with those in PATH (GPKG, GeoJSON, CSV, XLSX)."""
    from tryggkarta.cli import get_database

    result = places.import_places(get_database(), path, kind, crs=crs)
    click.echo(f"{result.added} {places.PLURAL[kind]} imported from {path.name}.")
    for reason, n in result.skipped.items():
        click.echo(f"  skipped {n}: {reason}")


@places_group.command("search")
@click.argument("text")
def search_command(text: str) -> None:
    """Show what the map's search box finds for TEXT."""
    from tryggkarta.cli import get_database

    for hit in places.search(get_database(), places.parse_search(text), 20):
        click.echo(f"{hit['kind']:<9} {hit['name']}  ({hit['lon']:.5f}, {hit['lat']:.5f})")
