"""``tryggkarta groups …`` and ``tryggkarta municipalities …``: EST groups from the shell.

tryggkarta groups create "EST Skara–Götene" 1495 1471
tryggkarta groups list
tryggkarta municipalities bind "Skara kommun" 1495     # an organisation's municipality
tryggkarta municipalities list                         # the installation's, with groups
"""

from __future__ import annotations

import click
from sqlalchemy import select

from tryggkarta.errors import BadInput
from tryggkarta.services import municipalities as munis


def _database():  # noqa: ANN202 - the CLI's database (imported late: click starts fast)
    from tryggkarta.cli import get_database

    return get_database()


@click.group("groups")
def groups_group() -> None:
    """EST groups: municipalities that see each other's data."""


@groups_group.command("create")
@click.argument("name")
@click.argument("codes", nargs=-1, required=True)
def groups_create(name: str, codes: tuple[str, ...]) -> None:
    """Create an EST group of two or more municipalities (kommunkoder)."""
    with _database().session() as s:
        group = munis.create_group(s, name, codes)
        members = munis.municipalities(m.municipality_code for m in group.members)
        click.echo(f"EST group {group.name}: " + ", ".join(f"{m.name} ({m.code})" for m in members))


@groups_group.command("list")
def groups_list() -> None:
    """List EST groups and their municipalities."""
    with _database().session() as s:
        groups = munis.list_groups(s)
    if not groups:
        click.echo("No EST groups: every organisation sees its own municipality.")
    for name, codes in groups:
        click.echo(
            f"{name}: " + ", ".join(f"{m.name} ({m.code})" for m in munis.municipalities(codes))
        )


@groups_group.command("delete")
@click.argument("name")
def groups_delete(name: str) -> None:
    """Delete an EST group (its municipalities' data stays; only the sharing ends)."""
    with _database().session() as s:
        munis.delete_group(s, name)
    click.echo(f"EST group {name} deleted.")


@click.group("municipalities")
def municipalities_group() -> None:
    """The installation's municipalities and the organisations bound to them."""


@municipalities_group.command("list")
def municipalities_list() -> None:
    """The municipalities of TRYGGKARTA_REGION, with their EST groups and organisations."""
    from tryggkarta.store import Organisation

    database = _database()
    codes = munis.installation_codes(database.settings.region)
    with database.session() as s:
        groups = munis.list_groups(s)
        orgs = s.execute(select(Organisation.name, Organisation.municipality_code)).all()
    shown = codes or tuple(sorted({c for _n, cs in groups for c in cs}))
    if not codes:
        click.echo(f"Region {database.settings.region}: every municipality in it.")
    for m in munis.municipalities(shown):
        in_groups = [n for n, cs in groups if m.code in cs]
        bound = [n for n, c in orgs if c == m.code]
        click.echo(
            f"{m.code} {m.name:20} groups: {', '.join(in_groups) or '-'}; "
            f"organisations: {', '.join(bound) or '-'}"
        )


@municipalities_group.command("bind")
@click.argument("organisation")
@click.argument("code")
def municipalities_bind(organisation: str, code: str) -> None:
    """Bind an organisation to a municipality: its users see that municipality and its EST
    groups (``-`` unbinds: they see the whole installation)."""
    from tryggkarta.store import Organisation

    database = _database()
    with database.session() as s:
        org = s.scalar(select(Organisation).where(Organisation.name == organisation))
        if org is None:
            raise BadInput(f"No organisation named {organisation[:200]!r}.")
        if code == "-":
            org.municipality_code = None
            click.echo(f"{org.name} is bound to no municipality: its users see the installation.")
            return
        checked = munis.check_code(code)
        installation = munis.installation_codes(database.settings.region)
        if installation and checked not in installation:
            raise BadInput(
                f"Municipality {checked} is not in this installation's region "
                f"({database.settings.region})."
            )
        org.municipality_code = checked
        click.echo(f"{org.name} is bound to {munis.region_name((checked,))} ({checked}).")
