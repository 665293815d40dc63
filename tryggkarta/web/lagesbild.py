"""EST weekly situational picture (lägesbild): ``/lagesbild?week=2026-W47``.

The page logic lives in :mod:`tryggkarta.services.lagesbild`; this blueprint parses, calls, renders
and stores the decided actions (POST, CSRF-protected by the app's CSRFProtect).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from tryggkarta import params, policy
from tryggkarta.domain import category_label
from tryggkarta.errors import BadInput
from tryggkarta.geo import parse_region
from tryggkarta.services import lagesbild as lb
from tryggkarta.services import measures, municipalities, reports, weekmaps
from tryggkarta.store import Decision, Filters, Organisation
from tryggkarta.store.writes import audit
from tryggkarta.web.context import _, current_language, current_reach, get_db, get_settings

bp = Blueprint("lagesbild", __name__, url_prefix="/lagesbild")


def _week_arg(value: str | None) -> lb.Week:

    year = (value or "").strip()[:4]
    try:
        if params.is_digits(year) and int(year) <= params.MIN_DAY.year:  # later: "not begun"
            raise BadInput(_("året ska vara %(lo)s eller senare", lo=params.MIN_DAY.year + 1))
        return lb.parse_week(value)
    except BadInput as exc:
        raise BadInput(_("Ogiltig vecka: %(reason)s", reason=exc.message)) from None


@bp.route("/")
def index() -> Any:
    """The weekly picture for ``?week=`` (default: the last complete week)."""

    week = _week_arg(request.args.get("week"))
    db = get_db()
    lang = current_language()
    scope, kommun = _scope()
    reach = current_reach()
    hotspots, notes = lb.week_hotspots(db, week, lang, scope)
    with db.session() as s:
        unmatched = lb.attach_decisions(
            db, s, week, hotspots, scope, reach.where(Decision.municipality_code, kommun.chosen)
        )
        measure_of = measures.decision_measures(s, [d["id"] for h in hotspots for d in h.decisions])
        # the organisations of the reader's EST group (or the one municipality asked for)
        orgs = reach.where(Organisation.municipality_code, kommun.chosen)
        silent = reports.silent_organisations(s, week.start, (week + 1).start, orgs)
        expected = len(reports.reporting_organisations(s, orgs))
        audit(
            s,
            "view_lagesbild",
            user=current_user,
            layer="incidents",
            detail="raw",
            feature_count=len(hotspots),
            ip=request.remote_addr,
            extra={"week": week.key, "kommun": kommun.chosen or "alla"},
        )
    maps = _week_maps(db, week, hotspots, lang, scope)
    return render_template(
        "lagesbild/index.html",
        maps=maps,
        week=week,
        previous_week=week - 1,
        next_week=(week + 1) if (week + 1).start <= lb.datetime.now(lb.UTC) else None,
        hotspots=hotspots,
        notes=notes,
        unmatched=unmatched,
        measure_of=measure_of,
        silent_organisations=silent,
        reporting_expected=expected,
        categories=lb.category_table(db, week, lang, scope),
        areas=lb.area_table(db, week, scope),
        kommun=kommun,
        profile_max=lb.profile_max,
        category_name=lambda key: category_label(key, lang),
    )


@dataclass(frozen=True)
class KommunChoice:
    """The municipalities the reader may pick between on the page, and the one picked."""

    options: list[municipalities.Municipality]
    chosen: str | None


def _scope() -> tuple[Filters, KommunChoice]:
    """The reader's municipalities (their EST group) and the one asked for (``?kommun=``)."""
    region = parse_region(get_settings().region)
    scope = policy.raw_scope(current_user)
    chosen = municipalities.choose(request.args.get("kommun"), region.municipality_codes, scope, _)
    options = municipalities.municipalities(
        municipalities.visible_codes(region.municipality_codes, scope)
    )
    return municipalities.scope_filters(region, scope, chosen), KommunChoice(options, chosen)


def _week_maps(
    db: Any, week: lb.Week, hotspots: list[lb.Hotspot], lang: str, scope: Filters
) -> dict[str, Any]:
    """The overview map, one small map and one weekly trend line per hot spot (static SVG)."""
    from tryggkarta.maps import svg

    pic = weekmaps.week_picture(db, week, hotspots, weeks=lb.BASELINE_WEEKS, scope=scope)
    overview = weekmaps.overview_map(
        pic,
        hotspots,
        title=_("Karta över veckans brännpunkter"),
        desc=_("Stadsdelarna, veckans händelser (punkter) och brännpunkterna med nummer."),
        lang=lang,
    )
    small, trend = {}, {}
    radius = int(lb.FOLLOW_UP_RADIUS)
    for i, h in enumerate(hotspots, 1):
        small[h.key] = weekmaps.hotspot_map(
            pic,
            h,
            i,
            title=_("Karta: %(name)s", name=h.name),
            desc=_("Brännpunkten, veckans händelser och uppföljningscirkeln (%(r)s m).", r=radius),
            lang=lang,
        )
        values = pic.series.get(h.key)
        if values:
            trend[h.key] = svg.sparkline(
                values,
                title=_("Händelser per vecka i %(name)s", name=h.name),
                desc=_(
                    "Vecka %(first)s till %(last)s: %(values)s",
                    first=pic.weeks[0],
                    last=pic.weeks[-1],
                    values=", ".join(map(str, values)),
                ),
                ident=f"spark-{i}",
            )
    return {"overview": overview, "small": small, "trend": trend, "weeks": len(pic.weeks)}


@bp.route("/beslut", methods=["POST"])
def decide() -> Any:
    """Note a decided action on a hotspot of a week."""

    week = _week_arg(request.form.get("week") or "")
    key = params.parse_key(request.form.get("hotspot_key"), "hotspot_key", _)
    x = _float_or_none(request.form.get("x"), "x")
    y = _float_or_none(request.form.get("y"), "y")
    db = get_db()
    reach = current_reach()
    with db.session() as s:
        # the municipality of the hot spot (else the user's own): one outside the user's
        # EST group is refused with a sentence, nothing is stored
        code = lb.decision_place(x, y, db.srid, reach.codes or ()) or _own_municipality(s)
        code = reach.check(code, _, required=False)
        try:
            lb.add_decision(
                s,
                week,
                key,
                request.form.get("text") or "",
                title=(request.form.get("title") or "").strip(),
                x=x,
                y=y,
                user_id=current_user.id,
                municipality_code=code,
            )
        except BadInput as exc:
            raise BadInput(_(exc.message)) from None
        audit(
            s,
            "decision",
            user=current_user,
            ip=request.remote_addr,
            extra={"week": week.key, "hotspot_key": key},
        )
    flash(_("Åtgärden är sparad."))
    return redirect(url_for("lagesbild.index", week=week.key, _anchor=f"hs-{key}"))


def _own_municipality(s: Any) -> str | None:
    """The municipality of the signed-in user's organisation (None if bound to none)."""
    org_id = getattr(current_user, "organisation_id", None)
    org = s.get(Organisation, org_id) if org_id is not None else None
    return org.municipality_code if org is not None else None


def _float_or_none(value: str | None, name: str) -> float | None:
    """A coordinate in the working CRS (metres); a value no projection has is a BadInput."""

    return params.parse_float(value, name, -1e8, 1e8, None, _)
