"""The public releases computed ahead: ``tryggkarta releases refresh`` and after each import.

After an import commits, the public releases of the new data version (the page's default
period, incidents and survey, at the public rule) are computed and kept in the database
(:mod:`tryggkarta.store.releases`), so the first visitor after an import reads a kept release
instead of counting the country. The refresh runs after the import's transaction, outside its
timing; a refresh that fails is logged and reported, and the import stays as committed.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from tryggkarta import disclosure, policy
from tryggkarta.domain import Detail, Layer

if TYPE_CHECKING:
    from tryggkarta.ingest.report import ImportReport
    from tryggkarta.store.engine import Database

log = logging.getLogger(__name__)

#: The layers whose public releases are kept ahead.
LAYERS = (Layer.INCIDENTS, Layer.SURVEY)


def public_rule(db: Database, layer: str) -> disclosure.Rule | None:
    """The rule an anonymous visitor gets on ``layer`` (``None``: the layer is not public)."""
    level = policy.detail(None, layer)
    if level is Detail.HIDDEN:
        return None
    return disclosure.rule_for(level, db.settings.min_count)


def refresh(db: Database, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Compute (or find kept) the public releases of the current data version, as the start
    page and ``/publik`` ask for them: per layer the seconds taken and the occupied cells."""
    from tryggkarta.config import local_timezone
    from tryggkarta.geo import parse_region

    code = parse_region(db.settings.region).municipality_code
    period = disclosure.parse_period(None, now, local_timezone(db.settings))
    out: dict[str, dict[str, Any]] = {}
    for layer in LAYERS:
        rule = public_rule(db, layer)
        if rule is None:
            continue
        started = time.perf_counter()
        if layer == Layer.INCIDENTS:
            rel = disclosure.incident_release(db, code, period, rule)
        else:
            rel = disclosure.survey_release(db, code, rule)
        out[str(layer)] = {
            "seconds": round(time.perf_counter() - started, 3),
            "cells": 0 if rel is None else rel.n_cells,
        }
    return out


def after_import(db: Database, report: ImportReport) -> None:
    """Refresh the public releases after a committed import of a released layer; the time
    (or the failure) goes into ``report`` — the import itself is never undone by it."""
    from tryggkarta.ingest.report import Note

    if report.dry_run or report.dataset_id is None or report.layer not in LAYERS:
        return
    started = time.perf_counter()
    try:
        refresh(db)
    except Exception as exc:  # noqa: BLE001 - the import is committed; visitors compute instead
        log.warning(
            "public releases not refreshed after dataset %s", report.dataset_id, exc_info=True
        )
        report.release_refresh_error = f"{type(exc).__name__}: {exc}"[:300]
        report.warn(Note.RELEASE_NOT_REFRESHED)
        return
    report.release_refresh_s = round(time.perf_counter() - started, 3)


def after_undo(db: Database, layers: list[str]) -> float | None:
    """Refresh the public releases after an undone import of a released layer: the seconds
    taken, ``None`` when nothing was to refresh or the refresh failed (logged; the undo
    stands)."""
    if not any(layer in LAYERS for layer in layers):
        return None
    started = time.perf_counter()
    try:
        refresh(db)
    except Exception:  # noqa: BLE001 - the undo is committed; visitors compute instead
        log.warning("public releases not refreshed after an undo", exc_info=True)
        return None
    return round(time.perf_counter() - started, 3)


@click.group("releases")
def releases_group() -> None:
    """Public releases kept per data version (what was published when)."""


@releases_group.command("refresh")
def refresh_command() -> None:
    """Compute and keep the public releases of the current data version."""
    from tryggkarta.cli import get_database

    db = get_database()
    for layer, got in refresh(db).items():
        click.echo(f"{layer}: {got['cells']:,} occupied cells, {got['seconds']:.2f} s")


@releases_group.command("list")
@click.option("--layer", type=click.Choice([str(x) for x in LAYERS]), default=None)
def list_command(layer: str | None) -> None:
    """The kept releases, newest first (what was published when)."""
    from tryggkarta.cli import get_database
    from tryggkarta.store.releases import history

    rows = history(get_database(), layer)
    if not rows:
        click.echo("No releases kept yet.")
    for r in rows:
        click.echo(
            f"{r['id']:>6}  {r['created_at']:%Y-%m-%d %H:%M}  {r['layer']:<9} "
            f"{r['scope'] or 'alla':<4} {r['period_key']:<6} [{r['period_start'][:16]}, "
            f"{r['period_end'][:16]}) UTC  k={r['rule_k']} base={r['rule_base']}  "
            f"{r['n_cells']:,} cells  version {r['version'][:12]}"
        )
