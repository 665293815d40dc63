"""CLI: ``tryggkarta hotspots {gistar|kde|emerging|patrol|design}`` and ``tryggkarta evaluate``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from tryggkarta.config import local_timezone
from tryggkarta.domain import INCIDENT_CATEGORIES
from tryggkarta.errors import BadInput


def parse_day(value: str | None, name: str) -> datetime | None:
    """``YYYY-MM-DD`` (local calendar day start, ``TRYGGKARTA_TIMEZONE``) as an aware UTC datetime."""
    if not value:
        return None
    import pandas as pd

    try:
        day = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise BadInput(f"{name} must be a date like 2026-01-31, got {value!r}.") from None
    if day.tzinfo is None:
        day = day.tz_localize(local_timezone())
    return day.tz_convert("UTC").to_pydatetime()


def build_filters(
    categories: tuple[str, ...], start: str | None, end: str | None, municipality: str | None
):  # noqa: ANN201
    from tryggkarta.store import Filters

    unknown = [c for c in categories if c not in INCIDENT_CATEGORIES]
    if unknown:
        raise BadInput(
            f"Unknown category {unknown[0]!r}; choose from {', '.join(INCIDENT_CATEGORIES)}."
        )
    begin, finish = parse_day(start, "--from"), parse_day(end, "--to")
    if begin and finish and finish <= begin:
        raise BadInput("--to must be after --from.")
    return Filters(
        categories=categories or None, start=begin, end=finish, municipality_code=municipality
    )


def _common(func):  # noqa: ANN001, ANN202
    for option in reversed(
        [
            click.option(
                "--category",
                "-c",
                "categories",
                multiple=True,
                help="Incident category key (repeatable).",
            ),
            click.option("--from", "start", help="First day, YYYY-MM-DD."),
            click.option("--to", "end", help="Day after the last, YYYY-MM-DD."),
            click.option("--municipality", help="Municipality code."),
            click.option(
                "--out",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Write the GeoJSON here.",
            ),
        ]
    ):
        func = option(func)
    return func


def _report(layer, out: Path | None) -> None:  # noqa: ANN001
    summary = {
        k: v
        for k, v in layer.summary.items()
        if k not in ("cell_reason", "bandwidth_rule", "table")
    }
    click.echo(f"{layer.title_en}: {len(layer.features)} features (analysis run {layer.run_id})")
    for key, value in summary.items():
        click.echo(f"  {key}: {value}")
    for key in ("cell_reason", "bandwidth_rule"):
        if layer.summary.get(key):
            click.echo(f"  {key}: {layer.summary[key]}")
    if out:
        out.write_text(json.dumps(layer.geojson, ensure_ascii=False), encoding="utf-8")
        click.echo(f"Wrote {out}")


@click.group("hotspots")
def hotspots_group() -> None:
    """Compute hotspot layers (stored as reproducible analysis runs)."""


@hotspots_group.command("gistar")
@_common
@click.option("--cell-size", type=float, help="Cell size in metres (automatic if omitted).")
@click.option(
    "--neighbourhood", type=click.Choice(["queen", "rook"]), default="queen", show_default=True
)
def cmd_gistar(categories, start, end, municipality, out, cell_size, neighbourhood) -> None:  # noqa: ANN001
    """Getis-Ord Gi* hot and cold spots with FDR correction."""
    from tryggkarta.cli import get_database
    from tryggkarta.services.hotspots import gistar_layer

    filters = build_filters(categories, start, end, municipality)
    _report(
        gistar_layer(get_database(), filters, cell_size=cell_size, neighbourhood=neighbourhood), out
    )


@hotspots_group.command("kde")
@_common
@click.option("--cell-size", type=float)
@click.option("--bandwidth", type=float, help="Bandwidth in metres (automatic if omitted).")
@click.option(
    "--share", type=float, default=0.05, show_default=True, help="Hotspot share of the area."
)
def cmd_kde(categories, start, end, municipality, out, cell_size, bandwidth, share) -> None:  # noqa: ANN001
    """Quartic kernel density; the top share of the area is the hotspot."""
    from tryggkarta.cli import get_database
    from tryggkarta.services.hotspots import kde_layer

    filters = build_filters(categories, start, end, municipality)
    _report(
        kde_layer(
            get_database(), filters, cell_size=cell_size, bandwidth=bandwidth, top_share=share
        ),
        out,
    )


@hotspots_group.command("emerging")
@_common
@click.option("--step", type=click.Choice(["week", "month"]), default="week", show_default=True)
@click.option("--periods", type=int, help="Number of time steps (default 52 weeks / 24 months).")
@click.option("--cell-size", type=float)
def cmd_emerging(categories, start, end, municipality, out, step, periods, cell_size) -> None:  # noqa: ANN001
    """Emerging hot spots (Mann-Kendall trend of Gi* over time)."""
    from tryggkarta.cli import get_database
    from tryggkarta.services.hotspots import emerging_layer

    filters = build_filters(categories, start, end, municipality)
    _report(
        emerging_layer(get_database(), filters, step=step, periods=periods, cell_size=cell_size),
        out,
    )


@hotspots_group.command("patrol")
@_common
@click.option("--now", "now", help="End of the recent window, YYYY-MM-DD (default: now).")
@click.option("--recent-weeks", type=int, default=4, show_default=True)
@click.option("--baseline-weeks", type=int, default=12, show_default=True)
def cmd_patrol(
    categories, start, end, municipality, out, now, recent_weeks, baseline_weeks
) -> None:  # noqa: ANN001
    """Where and when to patrol: recent clusters against the weeks before."""
    from tryggkarta.cli import get_database
    from tryggkarta.services.hotspots import patrol_layer

    filters = build_filters(categories, start, end, municipality)
    layer = patrol_layer(
        get_database(),
        filters,
        now=parse_day(now, "--now") or datetime.now(UTC),
        recent_weeks=recent_weeks,
        baseline_weeks=baseline_weeks,
    )
    _report(layer, out)
    for feat in layer.features:
        p = feat["properties"]
        click.echo(
            f"  #{p['rank']} {p['name']}: {p['count']} incidents, {p['baseline']}/week before, "
            f"trend {p['trend_label_en']}; when: {p['peak_en']}"
        )


@hotspots_group.command("forecast")
@_common
@click.option(
    "--share", type=float, default=0.05, show_default=True, help="Hotspot share of the study area."
)
@click.option(
    "--test-weeks",
    type=int,
    default=12,
    show_default=True,
    help="Last weeks whose PAI is reported (the method is chosen on earlier windows).",
)
def cmd_forecast(categories, start, end, municipality, out, share, test_weeks) -> None:  # noqa: ANN001
    """The default hotspot layer: the method chosen on rolling origins, with its PAI.

    The method is chosen on 8 forecast windows before the last --test-weeks; a method other
    than all earlier incidents (naive) is chosen only if it beats naive beyond noise. The PAI
    shown is from the last --test-weeks, which the choice did not see."""
    from tryggkarta.cli import get_database
    from tryggkarta.services.forecast import trust_note
    from tryggkarta.services.hotspots import forecast_layer

    filters = build_filters(categories, start, end, municipality)
    layer = forecast_layer(get_database(), filters, area_share=share, test_weeks=test_weeks)
    click.echo(trust_note(layer.summary, "en"))
    click.echo(
        f"The same windows: tryggkarta evaluate --split {layer.summary['split_day']}"
        + (f" --metric-share {share:g}" if share != 0.05 else "")
    )
    _report(layer, out)


@hotspots_group.command("design")
@click.option("--municipality", help="Municipality code.")
@click.option("--cell-size", type=float, default=250.0, show_default=True)
@click.option("--min-n", type=int, default=5, show_default=True, help="Minimum answers per cell.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
def cmd_design(municipality, cell_size, min_n, out) -> None:  # noqa: ANN001
    """Design hotspots from the safety survey, with recommended measures."""
    from tryggkarta.cli import get_database
    from tryggkarta.services.hotspots import design_layer
    from tryggkarta.store import Filters

    layer = design_layer(
        get_database(), Filters(municipality_code=municipality), cell_size=cell_size, min_n=min_n
    )
    _report(layer, out)
    for feat in layer.features:
        p = feat["properties"]
        click.echo(
            f"  #{p['rank']} {p['name']}: {p['n_answers']} answers, {p['unsafe_share']:.0%} unsafe"
        )
        for m in p["measures"]:
            click.echo(f"      {m['key']}: {m['evidence_en']}")


@click.command("evaluate")
@click.option("--split", required=True, help="First day of the test period, YYYY-MM-DD.")
@click.option("--from", "start", help="First day of the training period.")
@click.option("--to", "end", help="Day after the test period.")
@click.option("--category", "-c", "categories", multiple=True)
@click.option(
    "--cell-size",
    type=float,
    default=None,
    help="Compare only this method cell size in metres (default 100 and 250).",
)
@click.option(
    "--share", "shares", type=float, multiple=True, help="Area shares (default 0.01 0.05 0.10)."
)
@click.option("--municipality", help="Municipality code (its polygon is the study area).")
@click.option(
    "--metric-share",
    type=float,
    default=0.05,
    show_default=True,
    help="Area share whose PAI chooses the method (as `hotspots forecast --share`).",
)
def evaluate_command(
    split,
    start,
    end,
    categories,
    cell_size,
    shares,
    municipality,
    metric_share,  # noqa: ANN001
) -> None:
    """Rolling-origin backtest of the hotspot methods: PAI, PEI and hit rate per method.

    8 forecast windows before --split choose the default method (naive = all earlier
    incidents, unless another method beats it beyond noise); the windows from --split on,
    which the choice did not see, are reported. Scores use one fixed study area of 50 m
    cells whatever the method's cell size."""
    from tryggkarta.cli import get_database
    from tryggkarta.services.evaluation import evaluate_store

    filters = build_filters(categories, start, end, municipality)
    split_at = parse_day(split, "--split")
    result = evaluate_store(
        get_database(),
        filters,
        split_at,
        cell_size=cell_size,
        area_shares=tuple(shares) or (0.01, 0.05, 0.10),
        metric_share=metric_share,
    )
    click.echo(result.markdown)
    click.echo(f"Default method: {result.best} (stored as analysis run {result.run_id})")
