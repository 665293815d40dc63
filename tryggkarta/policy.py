"""Who may see what: the one access policy. Flask-free; pages, nav, API, OGC, exports, shared
maps, the project check, the weekly picture, popups and downloads all ask it.

Two questions, two tables:

* **layers** — how much of a data layer a role sees: ``RAW`` (every record, sensitive text
  included), ``AGGREGATED`` (only fixed releases through :mod:`tryggkarta.disclosure`) or
  ``HIDDEN``. :func:`detail` and :func:`allowed` answer it.
* **actions** — which roles may use a part of the application (the weekly picture, imports,
  projects, administration …). :func:`can` answers it, and :data:`ROUTES` maps every web
  endpoint to the action it needs, so a route without a policy entry is refused (and fails the
  route × role test).

A *scope* narrows an answer to records of an organisation or a municipality: a user sees raw
records of other organisations only where their role's detail allows it, and only inside their
own municipality (or EST group) when their organisation names one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from tryggkarta.domain import Detail, Layer, Role
from tryggkarta.hotspot_methods import METHODS as HOTSPOT_METHODS

__all__ = [
    "ACTIONS",
    "PERMISSIONS",
    "ROUTES",
    "Action",
    "Scope",
    "allowed",
    "can",
    "detail",
    "hotspot_detail",
    "raw_scope",
    "route_action",
    "route_allowed",
]


class Principal(Protocol):
    """What the policy needs to know of a user (a web session user, a CLI user, an export)."""

    role: str


#: Order of detail levels, lowest first.
_RANK = {Detail.HIDDEN: 0, Detail.AGGREGATED: 1, Detail.RAW: 2}

_RAW_ALL = {
    Layer.INCIDENTS: Detail.RAW,
    Layer.SURVEY: Detail.RAW,
    Layer.PROJECTS: Detail.RAW,
    Layer.AREAS: Detail.RAW,
}
_AGGREGATED = {
    Layer.INCIDENTS: Detail.AGGREGATED,
    Layer.SURVEY: Detail.AGGREGATED,
    Layer.PROJECTS: Detail.RAW,
    Layer.AREAS: Detail.RAW,
}

#: Role -> layer -> detail. Raw incident descriptions, survey pins and comments: police,
#: municipality and admin only. Everyone else sees fixed, suppressed releases.
PERMISSIONS: dict[str, dict[str, Detail]] = {
    Role.ADMIN: dict(_RAW_ALL),
    Role.POLICE: dict(_RAW_ALL),
    Role.MUNICIPALITY: dict(_RAW_ALL),
    Role.PLANNER: dict(_AGGREGATED),
    Role.PARTNER: dict(_AGGREGATED),
    # An EST reporter (property staff, youth workers, housing company, guards) sees releases
    # like a partner; its own organisation's form reports it reads through Action.REPORT.
    Role.REPORTER: dict(_AGGREGATED),
    Role.PUBLIC: dict(_AGGREGATED),
}


class Action(StrEnum):
    """Parts of the application, each open to a set of roles (:data:`ACTIONS`)."""

    OPEN = "open"  # everyone, anonymous included (data inside is still role-filtered)
    SIGNED_IN = "signed_in"  # any logged-in user
    LAGESBILD = "lagesbild"  # the weekly EST picture and its decisions
    MEASURES = "measures"  # the register of measures and their effect (raw counts)
    REPORT = "report"  # file EST reports from a phone; see and correct one's own organisation's
    PROMISES = "promises"  # citizen promises (medborgarlöften): commitments, activities, follow-up
    PATROL = "patrol"  # where and when to patrol (street-level, from raw incidents)
    RAW_TILES = "raw_tiles"  # incidents as vector tiles: the roles that see them raw
    IMPORT = "import"  # upload files, see import reports
    PROJECTS = "projects"  # project list, project check, follow-up
    PROJECTS_EDIT = "projects_edit"  # record measures on a project
    SHARED_MAPS = "shared_maps"  # save, list and link shared maps
    CAMPAIGNS = "campaigns"  # survey campaigns: create, open/close, QR, review comments
    ADMIN = "admin"  # organisations, users, tokens, audit log


_STAFF = frozenset({Role.ADMIN, Role.POLICE, Role.MUNICIPALITY})
_LOGGED_IN = frozenset(r for r in Role if r is not Role.PUBLIC)

ACTIONS: dict[Action, frozenset[str]] = {
    Action.OPEN: frozenset(Role),
    Action.SIGNED_IN: _LOGGED_IN,
    Action.LAGESBILD: _STAFF,
    Action.MEASURES: _STAFF,
    Action.REPORT: _STAFF | {Role.REPORTER},
    Action.PROMISES: _STAFF,
    Action.PATROL: _STAFF,
    Action.RAW_TILES: frozenset(
        r for r, layers in PERMISSIONS.items() if layers[Layer.INCIDENTS] == Detail.RAW
    ),
    Action.IMPORT: _STAFF | {Role.PLANNER},
    Action.PROJECTS: _STAFF | {Role.PLANNER},
    Action.PROJECTS_EDIT: frozenset({Role.ADMIN, Role.MUNICIPALITY, Role.PLANNER}),
    Action.SHARED_MAPS: _LOGGED_IN,
    Action.CAMPAIGNS: frozenset({Role.ADMIN, Role.MUNICIPALITY}),
    Action.ADMIN: frozenset({Role.ADMIN}),
}

#: Roles that report from the field without being staff (property staff, youth workers …):
#: their organisations are the ones expected to report every week (the weekly picture lists
#: those that did not). Staff report too, but are not chased for it.
FIELD_REPORTERS: frozenset[str] = ACTIONS[Action.REPORT] - _STAFF

#: Every web endpoint and the action it needs. Data inside OPEN routes is filtered by
#: :func:`detail`; a route missing here is refused (see ``tryggkarta.web.access``).
ROUTES: dict[str, Action] = {
    "static": Action.OPEN,
    "assets.vendor": Action.OPEN,
    "basemap.tile": Action.OPEN,  # background map tiles: no incident data
    "basemap.vector_tile": Action.OPEN,  # the same as vector tiles
    "basemap.context": Action.OPEN,  # boundaries and place names (what /publik shows)
    "views.healthz": Action.OPEN,
    "views.index": Action.OPEN,
    "places.search": Action.OPEN,  # names and points of districts, places, addresses only
    "auth.login": Action.OPEN,
    "auth.logout": Action.OPEN,
    "auth.change_password": Action.SIGNED_IN,
    "api.layers": Action.OPEN,
    "api.features": Action.OPEN,
    "api.grid": Action.OPEN,
    "api.hotspot": Action.OPEN,
    "api.survey_pins": Action.OPEN,  # answers only for raw survey detail, else none
    "api.releases": Action.OPEN,
    "tiles.incidents": Action.RAW_TILES,
    "ogc.landing": Action.OPEN,
    "ogc.conformance": Action.OPEN,
    "ogc.api_document": Action.OPEN,
    "ogc.collections": Action.OPEN,
    "ogc.one_collection": Action.OPEN,
    "ogc.items": Action.OPEN,
    "ogc.item": Action.OPEN,
    "shared.link": Action.OPEN,  # a share link: the viewer keeps their own (public) rights
    "shared.public": Action.OPEN,
    "shared.public_geojson": Action.OPEN,
    "shared.index": Action.SHARED_MAPS,
    "shared.view": Action.SHARED_MAPS,
    "shared.thumbnail": Action.SHARED_MAPS,
    "shared.new_link": Action.SHARED_MAPS,
    "shared.delete": Action.SHARED_MAPS,
    "lagesbild.index": Action.LAGESBILD,
    "lagesbild.decide": Action.LAGESBILD,
    "measures.index": Action.MEASURES,
    "measures.new": Action.MEASURES,
    "measures.edit": Action.MEASURES,
    "measures.show": Action.MEASURES,
    "measures.done": Action.MEASURES,
    "measures.from_decision": Action.MEASURES,
    "measures.from_project": Action.MEASURES,
    "reports.form": Action.REPORT,
    "reports.submit": Action.REPORT,
    "reports.mine": Action.REPORT,
    "reports.edit": Action.REPORT,
    "promises.index": Action.PROMISES,
    "promises.create": Action.PROMISES,
    "promises.show": Action.PROMISES,
    "promises.add_commitment": Action.PROMISES,
    "promises.add_activity": Action.PROMISES,
    "promises.activity_status": Action.PROMISES,
    "promises.follow_up": Action.PROMISES,
    "promises.follow_up_csv": Action.PROMISES,
    "imports.upload": Action.IMPORT,
    "imports.preview": Action.IMPORT,
    "imports.confirm": Action.IMPORT,
    "imports.rejected_csv": Action.IMPORT,
    "imports.api_import": Action.IMPORT,
    "projects.index": Action.PROJECTS,
    "projects.show": Action.PROJECTS,
    "projects.new": Action.PROJECTS_EDIT,
    "projects.check": Action.PROJECTS,
    "projects.follow_up": Action.PROJECTS,
    "projects.follow_up_csv": Action.PROJECTS,
    "projects.follow_up_geojson": Action.PROJECTS,
    "survey.form": Action.OPEN,  # the public survey form (anonymous answers)
    "survey.thanks": Action.OPEN,
    "survey.place_search": Action.OPEN,  # names and points of places in an open campaign's area
    "survey.result": Action.OPEN,  # a closed campaign's published result (releases only)
    "survey.result_geojson": Action.OPEN,
    "survey.campaigns": Action.CAMPAIGNS,
    "survey.campaign": Action.CAMPAIGNS,
    "survey.set_status": Action.CAMPAIGNS,
    "survey.qr": Action.CAMPAIGNS,
    "survey.answers_csv": Action.CAMPAIGNS,
    "survey.answers_geojson": Action.CAMPAIGNS,
    "survey.answers_xlsx": Action.CAMPAIGNS,
    "survey.review_queue": Action.CAMPAIGNS,
    "admin.index": Action.ADMIN,
    "admin.create_organisation": Action.ADMIN,
    "admin.create_user": Action.ADMIN,
    "admin.set_active": Action.ADMIN,
    "admin.audit_log": Action.ADMIN,
    "admin.tokens": Action.ADMIN,
    "admin.revoke_token": Action.ADMIN,
    "admin.end_sessions": Action.ADMIN,
    # named places for the place search: replaces what every map's search finds (the CLI's
    # `tryggkarta places import` runs on the server, so the web page is for admins)
    "admin.places": Action.ADMIN,
    "admin.places_preview": Action.ADMIN,
    "admin.places_confirm": Action.ADMIN,
    "admin.places_delete": Action.ADMIN,
}

#: The data layer behind each hotspot method (its detail decides who sees it).
HOTSPOT_LAYERS: dict[str, str] = {k: m.layer for k, m in HOTSPOT_METHODS.items()}
#: The fields a raw-detail caller gets per layer (the API, OGC raw collections, exports):
#: sensitive text included — description (incidents) and comment (survey).
RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    Layer.INCIDENTS: (
        "id",
        "occurred_at",
        "category",
        "subcategory",
        "description",
        "address",
        "reporter_org",
        "precision",
    ),
    Layer.SURVEY: ("id", "answered_at", "rating", "reasons", "time_of_day", "comment"),
    Layer.PROJECTS: (
        "id",
        "name",
        "case_number",
        "kind",
        "status",
        "start_date",
        "end_date",
        "description",
    ),
    Layer.AREAS: ("id", "name", "kind", "code"),
}
#: Layers whose raw records are sensitive (every raw read is audit-logged).
SENSITIVE_LAYERS = (Layer.INCIDENTS, Layer.SURVEY)

#: Kinds of EST measures never named on public pages (police presence is police tactics).
NON_PUBLIC_MEASURE_KINDS = frozenset({"polisiar_narvaro"})
#: Hotspot methods that need raw detail (they show street-level times and counts).
RAW_ONLY_METHODS = frozenset(k for k, m in HOTSPOT_METHODS.items() if m.raw_only)


@dataclass(frozen=True)
class Scope:
    """Whose records: an organisation and/or a municipality (or EST group of them)."""

    organisation_id: int | None = None
    municipality_codes: tuple[str, ...] | None = None


def _role(user: Principal | str | None) -> str:
    if user is None:
        return Role.PUBLIC.value
    if isinstance(user, str):
        role = user
    else:
        role = getattr(user, "role", None) or Role.PUBLIC.value
    return role if role in PERMISSIONS else Role.PUBLIC.value


def detail(user: Principal | str | None, layer: str) -> Detail:
    """How much of ``layer`` ``user`` (or a role name; ``None`` = anonymous) may see."""
    return PERMISSIONS[_role(user)].get(layer, Detail.HIDDEN)


def allowed(
    user: Principal | str | None,
    layer: str,
    level: Detail = Detail.AGGREGATED,
    scope: Scope | None = None,
) -> bool:
    """May ``user`` see ``layer`` at ``level`` (or more), for records in ``scope``?

    Aggregated releases are not scoped (they are public). Raw records of another
    organisation need a raw-detail role; raw records of another municipality are refused when
    the user's organisation is bound to municipalities (``user.municipality_codes``).
    """
    have = detail(user, layer)
    if _RANK[have] < _RANK[Detail(level)] or have is Detail.HIDDEN:
        return False
    if scope is None or Detail(level) is not Detail.RAW or _role(user) == Role.ADMIN:
        return True
    mine = getattr(user, "municipality_codes", None)
    if scope.municipality_codes and mine:
        if not set(scope.municipality_codes) & set(mine):
            return False
    return True


def sees_every_municipality(user: Principal | str | None) -> bool:
    """Is ``user`` outside any municipality scope (admin)?"""
    return _role(user) == Role.ADMIN


def manages(user: Principal | None, owner_id: int | None) -> bool:
    """May ``user`` change or delete a record owned by ``owner_id`` (its owner, or admin)?"""
    own = owner_id is not None and getattr(user, "id", None) == owner_id
    return own or _role(user) == Role.ADMIN


def raw_scope(user: Principal | str | None) -> tuple[str, ...] | None:
    """The municipalities whose records ``user`` may read (their organisation's municipality
    and its EST groups, set at login by :func:`tryggkarta.services.municipalities.scope_for`);
    ``None`` = the whole installation (admin, an organisation bound to no municipality)."""
    if sees_every_municipality(user):
        return None
    codes = getattr(user, "municipality_codes", None)
    return tuple(codes) if codes is not None else None


def owns(user: Principal | None, scope: Scope) -> bool:
    """Is ``user`` in the organisation of ``scope`` (admin always is)?"""
    if _role(user) == Role.ADMIN:
        return True
    org = getattr(user, "organisation_id", None)
    return org is not None and scope.organisation_id is not None and org == scope.organisation_id


def may_read_import_rows(
    user: Principal | None, *, layer: str, importer_id: int | None, organisation_id: int | None
) -> bool:
    """May ``user`` read the raw rows of an import (its rejected rows)? The importer, users
    with raw detail of the layer in the importing organisation, and admins."""
    if _role(user) == Role.ADMIN:
        return True
    if importer_id is not None and importer_id == getattr(user, "id", None):
        return True
    return allowed(user, layer, Detail.RAW) and owns(user, Scope(organisation_id=organisation_id))


def may_correct_report(user: Principal | None, report_organisation_id: int | None) -> bool:
    """May ``user`` read and correct a form report of ``report_organisation_id``? Its own
    organisation's reporters, and raw-detail staff (who read every incident anyway)."""
    if not can(user, Action.REPORT):
        return False
    if allowed(user, Layer.INCIDENTS, Detail.RAW):
        return True
    return owns(user, Scope(organisation_id=report_organisation_id))


def can(user: Principal | str | None, action: Action | str) -> bool:
    """May ``user`` use ``action`` (a part of the application)?"""
    roles = ACTIONS.get(Action(action))
    return roles is not None and _role(user) in roles


def method_visible_at(level: Detail, method: str) -> bool:
    """May someone with ``level`` of a hotspot method's data see the method's layer at all?"""
    if level is Detail.HIDDEN or method not in HOTSPOT_LAYERS:
        return False
    return method not in RAW_ONLY_METHODS or level is Detail.RAW


def hotspot_detail(user: Principal | str | None, method: str) -> Detail:
    """The detail ``user`` gets of hotspot ``method``: HIDDEN where they may not see it."""
    layer = HOTSPOT_LAYERS.get(method)
    if layer is None:
        return Detail.HIDDEN
    level = detail(user, layer)
    if not method_visible_at(level, method):
        return Detail.HIDDEN
    if method == "patrol" and not can(user, Action.PATROL):
        return Detail.HIDDEN
    return level


def route_action(endpoint: str | None) -> Action | None:
    """The action an endpoint needs; ``None`` for an endpoint the policy does not know."""
    if endpoint is None:
        return None
    return ROUTES.get(endpoint)


def route_allowed(user: Principal | str | None, endpoint: str | None) -> bool:
    """May ``user`` call ``endpoint`` at all? Unknown endpoints are refused."""
    action = route_action(endpoint)
    return action is not None and can(user, action)
