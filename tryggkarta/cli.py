"""The ``tryggkarta`` command: a thin click layer over library functions.

Every error a user can cause ends as one sentence on stderr and a non-zero exit code:
2 for bad input or configuration, 3 when the database cannot be used; never a traceback.
"""

from __future__ import annotations

import errno
import importlib
import os
import socket
import sys
from typing import Any

import click

from tryggkarta import __version__
from tryggkarta.domain import Role
from tryggkarta.errors import BadInput, ConfigError, StoreError, TryggkartaError

EXIT_INPUT = 2
EXIT_STORE = 3

#: Sub-command groups contributed by the stages: name → (module, attribute). Each module is
#: imported when its command runs (or ``--help`` lists them): ``tryggkarta exports run`` need
#: not import the analysis stack (scipy and the rest: 258 → 199 MB before the first row).
GROUP_ATTRS = {
    "import": ("tryggkarta.ingest.cli", "import_group"),
    "hotspots": ("tryggkarta.services.cli", "hotspots_group"),
    "evaluate": ("tryggkarta.services.cli", "evaluate_command"),
    "evaluate-measure": ("tryggkarta.services.measures", "evaluate_measure_command"),
    "exports": ("tryggkarta.exports.cli", "exports_group"),
    "places": ("tryggkarta.services.places_cli", "places_group"),
    "groups": ("tryggkarta.services.municipalities_cli", "groups_group"),
    "municipalities": ("tryggkarta.services.municipalities_cli", "municipalities_group"),
    "releases": ("tryggkarta.services.releases", "releases_group"),
}


class TryggkartaGroup(click.Group):
    """A click group that turns domain errors into one clear message and an exit code, and
    imports the stages' commands (:data:`GROUP_ATTRS`) when they are asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *GROUP_ATTRS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in GROUP_ATTRS and cmd_name not in self.commands:
            module_name, attr = GROUP_ATTRS[cmd_name]
            self.add_command(getattr(importlib.import_module(module_name), attr), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StoreError as exc:
            click.echo(f"Error: {exc.message}", err=True)
            sys.exit(EXIT_STORE)
        except (ConfigError, BadInput, TryggkartaError) as exc:
            click.echo(f"Error: {exc.message}", err=True)
            sys.exit(EXIT_INPUT)


def get_settings(**overrides: Any):
    from tryggkarta.config import load_settings

    return load_settings(overrides)


def get_database(*, migrate_check: bool = True):
    """The configured database; with ``migrate_check`` it must be at the newest schema."""
    from tryggkarta.store import Database

    db = Database(get_settings())
    if migrate_check:
        db.check()
        from tryggkarta.ingest.cleanup import sweep

        sweep(db)  # staging files of killed imports, expired import previews
    return db


@click.group(cls=TryggkartaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tryggkarta")
def main() -> None:
    """tryggkarta — the shared safety map of a municipality and its local police.

    Configuration comes from TRYGGKARTA_* environment variables (see the README).
    """


@main.group(cls=TryggkartaGroup)
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema to the newest version."""
    database = get_database(migrate_check=False)
    before, after = database.upgrade()
    where = database.engine.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"Database {where} is up to date (schema {after}).")
    else:
        click.echo(f"Database {where} upgraded from {before or 'empty'} to schema {after}.")


@db.command("recount")
def db_recount() -> None:
    """Count the incidents per cell, bucket and category group again (incident_cell_counts,
    and the roll-ups incident_month_counts and incident_year_counts).

    Imports and deletes keep these counts current; rebuild them after changing
    TRYGGKARTA_TIMEZONE or after writing incidents outside tryggkarta.
    """
    from sqlalchemy import func, select

    from tryggkarta.store import cellcounts

    database = get_database()
    with database.session() as session:
        rows = cellcounts.rebuild(session)
        rolled = [
            (r.table.name, session.scalar(select(func.count()).select_from(r.table)))
            for r in cellcounts.present(session)
            if r is not cellcounts.DAYS
        ]
    click.echo(f"incident_cell_counts rebuilt: {rows:,} rows.")
    for name, count in rolled:
        click.echo(f"{name} rebuilt: {count:,} rows.")


@db.command("current")
def db_current() -> None:
    """Show the schema version of the database."""
    from tryggkarta.store.engine import current_revision, head_revision

    database = get_database(migrate_check=False)
    click.echo(f"current: {current_revision(database.engine) or 'none'}  newest: {head_revision()}")


@db.command("retention")
@click.option(
    "--before", "before", required=True, help="Remove incidents before this local day (YYYY-MM-DD)."
)
def db_retention(before: str) -> None:
    """Remove incidents older than a day: whole years by dropping their partition (PostGIS).

    Their kept cell counts go too, and cached pages and releases are made again.
    """
    from datetime import date, datetime

    from tryggkarta.config import local_timezone
    from tryggkarta.store import writes

    try:
        day = date.fromisoformat(before)
    except ValueError:
        raise click.BadParameter(
            f"{before!r} is not a day (YYYY-MM-DD).", param_hint="--before"
        ) from None
    cutoff = datetime(day.year, day.month, day.day, tzinfo=local_timezone())
    database = get_database()
    with database.session() as s:
        removed = writes.remove_incidents_before(s, cutoff)
        writes.audit(
            s, "retention", detail=f"before {day.isoformat()}", feature_count=sum(removed.values())
        )
    for name, rows in removed.items():
        click.echo(f"{name}: {rows} incidents removed")
    click.echo(f"Incidents before {day.isoformat()}: {sum(removed.values())} removed.")


@main.command()
@click.option(
    "--municipality", default="1495", show_default=True, help="Municipality code (kommunkod)."
)
@click.option("--reset/--no-reset", default=False, help="Delete earlier demo data first.")
def demo(municipality: str, reset: bool) -> None:
    """Create the schema and load the synthetic demo data with demo users."""
    from tryggkarta.config import ensure_secret_key_file
    from tryggkarta.demo import load_demo

    ensure_secret_key_file(get_settings())
    database = get_database(migrate_check=False)
    database.upgrade()
    summary = load_demo(database, municipality_code=municipality, reset=reset)
    for line in summary:
        click.echo(line)
    # Pick and store the default hotspot layer now, so the first page view need not wait.
    from tryggkarta.geo import parse_region
    from tryggkarta.services.forecast import forecast_layer
    from tryggkarta.store import Filters

    region = parse_region(database.settings.region)
    try:
        layer = forecast_layer(database, Filters(municipality_code=region.municipality_code))
    except BadInput as exc:  # e.g. a region with too few incidents: the map computes it later
        click.echo(f"Default hotspot layer not computed yet: {exc.message}")
        return
    from tryggkarta.services.forecast import trust_note

    click.echo(f"Default hotspot layer. {trust_note(layer.summary, 'en')}")


def _address_problem(host: str, port: int, error: OSError) -> BadInput:
    """One sentence for an address the server cannot listen on, with what to do."""
    if error.errno == errno.EADDRINUSE:
        return BadInput(
            f"Port {port} on {host} is already in use (another tryggkarta or program): stop it, "
            f"or choose another port with `make demo PORT={port + 1}` or "
            f"`tryggkarta serve --port {port + 1}`."
        )
    if error.errno in (errno.EACCES, errno.EPERM):
        return BadInput(
            f"Not allowed to listen on port {port} (ports below 1024 need root): "
            "choose a port above 1024, e.g. PORT=5000."
        )
    if error.errno == errno.EADDRNOTAVAIL or isinstance(error, socket.gaierror):
        return BadInput(
            f"Cannot listen on host {host!r}: it is not an address of this machine; "
            "use 127.0.0.1 (this machine only) or 0.0.0.0 (all interfaces)."
        )
    return BadInput(f"Cannot listen on {host}:{port}: {error.strerror or error}.")


def check_address(host: str, port: int) -> None:
    """Raise :class:`BadInput` unless a server could listen on ``host:port`` now (as waitress
    binds: with SO_REUSEADDR, so a port in TIME_WAIT counts as free)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _name, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise _address_problem(host, port, exc) from None


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="TRYGGKARTA_HOST")
@click.option(
    "--port",
    default=5000,
    show_default=True,
    type=click.IntRange(1, 65535),
    envvar="TRYGGKARTA_PORT",
)
@click.option("--debug/--no-debug", default=False)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    envvar="TRYGGKARTA_WORKERS",
    help="Server processes (default: one per core). 1: waitress in one process.",
)
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    envvar="TRYGGKARTA_THREADS",
    help="Threads per process.",
)
@click.option("--check-only", is_flag=True, help="Only check that the address is free, then exit.")
def serve(
    host: str, port: int, debug: bool, workers: int | None, threads: int, check_only: bool
) -> None:
    """Serve the web application: N worker processes (gunicorn), or waitress with --workers 1
    (and where fork is missing); --debug uses Flask's reloader.

    The address is checked before anything is printed: a port in use ends in one sentence
    saying what to do, not a traceback after the URL.
    """
    from tryggkarta.web import server

    check_address(host, port)
    if check_only:
        return
    if workers is None:
        workers = server.default_workers() if server.can_fork_workers() else 1
    elif workers > 1 and not server.can_fork_workers():
        click.echo(
            f"{workers} worker processes need fork and gunicorn (not available here): "
            "serving with waitress in one process.",
            err=True,
        )
        workers = 1
    if debug:
        workers = 1
    # one database connection per thread (and two spare) in each process, unless configured
    os.environ.setdefault("TRYGGKARTA_DB_POOL_SIZE", str(threads + 2))
    os.environ.setdefault(
        "TRYGGKARTA_PASSWORD_CHECKS", str(server.password_checks_per_worker(workers))
    )
    database = get_database()  # fail early and clearly when the schema is missing
    settings = database.settings
    database.dispose()  # no connection crosses a fork
    if settings.extra.get("secret_key_generated"):
        # no key configured: one key for every worker, or a session made by one is refused
        # by the others (it still does not survive a restart; create_app warns)
        os.environ["TRYGGKARTA_SECRET_KEY"] = settings.secret_key
    click.echo(f"tryggkarta {__version__} at http://{host}:{port}/")
    click.echo(_worker_line(workers, threads, settings.ratelimit_storage))
    try:
        if workers > 1:
            server.run_gunicorn(host, port, workers, threads)
            return
        from tryggkarta.web import create_app

        app = create_app()
        if debug:
            app.run(host=host, port=port, debug=True)
            return
        import gc

        # Everything loaded so far lives as long as the server: out of the collector's sight, a
        # full collection no longer walks it (a 5,000-feature GeoJSON answer took 170 ms instead
        # of 80 ms whenever one fell inside it).
        gc.freeze()
        # waitress reads a whole request body before the app sees the request: cap it at the
        # upload limit (+1 MiB for the multipart envelope) instead of waitress's default 1 GiB.
        max_body = (app.extensions["tryggkarta.settings"].max_upload_mb + 1) * 1024 * 1024
        server.run_waitress(app, host, port, threads, max_body)
    except OSError as exc:  # taken between the check and the bind
        raise _address_problem(host, port, exc) from None


def _worker_line(workers: int, threads: int, ratelimit_storage: str) -> str:
    """One line saying how the server runs (and what is per process)."""
    if workers == 1:
        return f"  1 process (waitress), {threads} threads"
    line = f"  {workers} worker processes (gunicorn), {threads} threads each"
    if ratelimit_storage.startswith("memory://"):
        line += "; rate limits counted per process (TRYGGKARTA_RATELIMIT_STORAGE shares them)"
    return line


@main.group(cls=TryggkartaGroup)
def users() -> None:
    """User accounts."""


#: Every role a user can hold (public is nobody's account).
ASSIGNABLE_ROLES = [r.value for r in Role if r is not Role.PUBLIC]


@users.command("create")
@click.argument("username")
@click.option(
    "--role",
    required=True,
    type=click.Choice(ASSIGNABLE_ROLES),
    help="The role's rights are in the README's table (reporter: the EST reporting form only).",
)
@click.option("--organisation", "--org", default=None, help="Organisation name (created if new).")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--email", default=None)
@click.option("--password", default=None, help="Password (prefer --password-stdin or the prompt).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_create(
    username: str,
    role: str,
    organisation: str | None,
    display_name: str,
    email: str | None,
    password: str | None,
    password_stdin: bool,
) -> None:
    """Create a user with a role."""
    from tryggkarta.services.accounts import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif password is None:
        if not sys.stdin.isatty():
            raise BadInput("Give the password with --password-stdin (no terminal to prompt on).")
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    database = get_database()
    with database.session() as s:
        user = create_user(
            s,
            username,
            password or "",
            role,
            organisation=organisation,
            display_name=display_name,
            email=email,
        )
        click.echo(f"Created user {user.username} ({user.role}).")


@users.command("list")
def users_list() -> None:
    """List users."""
    from sqlalchemy import select

    from tryggkarta.store import Organisation, User

    with get_database().session() as s:
        rows = s.execute(
            select(User, Organisation.name).outerjoin(Organisation).order_by(User.username)
        ).all()
        for user, org in rows:
            click.echo(
                f"{user.username:20} {user.role:13} {org or '-':30} {'active' if user.active else 'disabled'}"
            )


@users.command("token")
@click.argument("username")
@click.option("--name", default="api", show_default=True)
@click.option("--days", default=365, show_default=True, type=int)
def users_token(username: str, name: str, days: int) -> None:
    """Create an API token for a user (printed once)."""
    from tryggkarta.services.accounts import create_token, get_user
    from tryggkarta.store.writes import audit

    with get_database().session() as s:
        user = get_user(s, username)
        token = create_token(s, user, name, days)
        audit(
            s,
            "token_created",
            extra={"username": user.username, "token_name": name, "days": days, "via": "cli"},
        )
    click.echo(token)


@users.command("tokens")
@click.argument("username", required=False)
def users_tokens(username: str | None) -> None:
    """List API tokens (id, user, name, created, expires, last used, status)."""
    from datetime import UTC, datetime

    from tryggkarta.services.accounts import get_user, list_tokens

    def day(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value else "-"

    now = datetime.now(UTC)
    with get_database().session() as s:
        rows = list_tokens(s, get_user(s, username) if username else None)
        if not rows:
            click.echo("No API tokens.")
        for token, user in rows:
            status = (
                "revoked"
                if token.revoked
                else "expired"
                if token.expires_at is not None and token.expires_at < now
                else "valid"
            )
            click.echo(
                f"{token.id:6} {user.username:20} {token.name:20} created {day(token.created_at)}"
                f"  expires {day(token.expires_at)}  last used {day(token.last_used_at)}  {status}"
            )


@users.command("revoke-token")
@click.argument("username")
@click.option("--id", "token_id", type=int, default=None, help="The token's id (see 'tokens').")
@click.option("--name", default=None, help="Revoke the user's tokens with this name.")
@click.option("--all", "revoke_all", is_flag=True, help="Revoke all of the user's tokens.")
def users_revoke_token(
    username: str, token_id: int | None, name: str | None, revoke_all: bool
) -> None:
    """Revoke API tokens of a user (by --id, --name or --all); audit-logged."""
    from tryggkarta.services.accounts import find_tokens, get_user, revoke_token
    from tryggkarta.store.writes import audit

    if sum(x is not None and x is not False for x in (token_id, name, revoke_all)) != 1:
        raise BadInput("Say which token to revoke: exactly one of --id, --name or --all.")
    with get_database().session() as s:
        user = get_user(s, username)
        if token_id is not None:
            tokens = [t for t in find_tokens(s, user) if t.id == token_id]
            if not tokens:
                raise BadInput(f"{username} has no valid token with id {token_id}.")
        else:
            tokens = find_tokens(s, user, name)
            if not tokens:
                which = f"called {name!r} " if name else ""
                raise BadInput(f"{username} has no valid token {which}to revoke.")
        for token in tokens:
            revoke_token(s, token.id)
            audit(
                s,
                "admin_revoke_token",
                extra={
                    "token_id": token.id,
                    "token_name": token.name,
                    "username": user.username,
                    "via": "cli",
                },
            )
    click.echo(
        f"Revoked {len(tokens)} token(s) of {username}: "
        + ", ".join(f"{t.name} (id {t.id})" for t in tokens)
    )


@users.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_set_password(username: str, password_stdin: bool) -> None:
    """Set a user's password; every login session of the user ends."""
    from tryggkarta.services.accounts import get_user, set_password
    from tryggkarta.store.writes import audit

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        if not sys.stdin.isatty():
            raise BadInput("Give the password with --password-stdin (no terminal to prompt on).")
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with get_database().session() as s:
        user = get_user(s, username)
        ended = set_password(s, user, password)
        audit(
            s,
            "password_changed",
            user=user,
            extra={"via": "cli", "sessions_ended": ended},
        )
    click.echo(f"Password of {username} changed; {ended} login session(s) ended.")


if __name__ == "__main__":  # pragma: no cover
    main()
