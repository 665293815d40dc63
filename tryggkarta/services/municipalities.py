"""Municipalities as data: the installation's municipalities, EST groups and users' scopes.

One installation serves the municipalities of ``TRYGGKARTA_REGION`` (one code, several codes
for a joint EST group, or all of Sweden). An :class:`~tryggkarta.store.EstGroup` lists
municipalities whose members see each other's records. A user's *scope* is the set of
municipalities whose raw records the user may read:

- admin, and users of an organisation bound to no municipality (a police region, the
  installation's own staff): the whole installation (``None``);
- everybody else: the municipality of their organisation plus every municipality that shares
  an EST group with it.

Aggregated releases are public and not scoped (:mod:`tryggkarta.disclosure`); the scope only
narrows raw reads, through :attr:`tryggkarta.store.Filters.municipality_codes`.

>>> create_group(session, "EST Skara–Götene", ["1495", "1471"])   # doctest: +SKIP
>>> scope_for(session, user)                                        # doctest: +SKIP
('1471', '1495')
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, false, or_, select
from sqlalchemy.orm import Session

from tryggkarta import geo, params, policy
from tryggkarta.errors import BadInput, ConfigError
from tryggkarta.store import EstGroup, EstGroupMember, Filters, Organisation

#: Municipalities one group may hold (a police region has up to 49).
MAX_GROUP_SIZE = 60

Translate = Callable[..., str]


def _same(text: str, **values: Any) -> str:
    return text % values if values else text


@dataclass(frozen=True)
class Municipality:
    code: str
    name: str


@functools.lru_cache(maxsize=16)
def installation_codes(region: str) -> tuple[str, ...]:
    """The municipalities ``TRYGGKARTA_REGION`` names (``()`` for a bbox or all of Sweden).
    Cached: parsing a group region builds its outline (~8 ms), and every page that keeps to
    an EST group asks for it."""
    return tuple(geo.parse_region(region).municipality_codes)


def check_code(code: str) -> str:
    """``code`` if it is one of Sweden's 290 municipality codes, else :class:`BadInput`."""
    text = str(code or "").strip()
    if not (len(text) == 4 and text.isdigit()) or text not in geo.municipality_codes():
        raise BadInput(
            f"{text[:20]!r} is not a Swedish municipality code (kommunkod, e.g. 1495 for Skara)."
        )
    return text


def municipalities(codes: Iterable[str]) -> list[Municipality]:
    """``codes`` with their names, in name order."""
    names = geo.municipality_codes()
    return sorted(
        (Municipality(c, names.get(c, c)) for c in dict.fromkeys(codes)), key=lambda m: m.name
    )


def group_codes(session: Session | Connection, code: str) -> tuple[str, ...]:
    """``code`` and every municipality that shares an EST group with it (sorted)."""
    groups = select(EstGroupMember.group_id).where(EstGroupMember.municipality_code == code)
    rows = session.scalars(
        select(EstGroupMember.municipality_code).where(EstGroupMember.group_id.in_(groups))
    ).all()
    return tuple(sorted({code, *rows}))


def scope_for(session: Session | Connection, user: Any) -> tuple[str, ...] | None:
    """The municipalities whose raw records ``user`` may read; ``None`` = the whole
    installation (admin, or an organisation bound to no municipality)."""
    if user is None or policy.sees_every_municipality(user) or user.organisation_id is None:
        return None
    code = session.scalar(
        select(Organisation.municipality_code).where(Organisation.id == user.organisation_id)
    )
    if not code:
        return None
    return group_codes(session, code)


def create_group(session: Session, name: str, codes: Iterable[str]) -> EstGroup:
    """A new EST group of ``codes`` (each a real municipality code, at least two)."""
    title = str(name or "").strip()
    if not title or len(title) > 200:
        raise BadInput("An EST group needs a name (at most 200 characters).")
    checked = tuple(dict.fromkeys(check_code(c) for c in codes))
    if len(checked) < 2:
        raise BadInput("An EST group needs at least two municipalities.")
    if len(checked) > MAX_GROUP_SIZE:
        raise BadInput(f"An EST group holds at most {MAX_GROUP_SIZE} municipalities.")
    if session.scalar(select(EstGroup.id).where(EstGroup.name == title)) is not None:
        raise BadInput(f"An EST group named {title!r} already exists.")
    group = EstGroup(name=title, members=[EstGroupMember(municipality_code=c) for c in checked])
    session.add(group)
    session.flush()
    return group


def delete_group(session: Session, name: str) -> None:
    group = session.scalar(select(EstGroup).where(EstGroup.name == name))
    if group is None:
        raise BadInput(f"No EST group named {str(name)[:200]!r}.")
    session.execute(delete(EstGroupMember).where(EstGroupMember.group_id == group.id))
    session.delete(group)


def list_groups(session: Session) -> list[tuple[str, tuple[str, ...]]]:
    """Every group's name and municipality codes, by name."""
    groups = session.scalars(select(EstGroup).order_by(EstGroup.name)).all()
    return [(g.name, tuple(m.municipality_code for m in g.members)) for g in groups]


def choose(
    value: str | None,
    installation: tuple[str, ...],
    scope: tuple[str, ...] | None,
    t: Translate = _same,
) -> str | None:
    """The one municipality a page is asked for (``?kommun=1471``), or ``None`` = all the user
    may see. A code outside the installation, or outside the user's scope, is refused (the
    same sentence for "not in this installation" and "not yours" would hide nothing: the
    installation's municipalities are public)."""
    text = str(value or "").strip()
    if not text or text.lower() in ("alla", "all", "grupp", "group"):
        return None
    try:
        code = check_code(text)
    except BadInput:
        raise BadInput(t("Okänd kommunkod: %(code)s.", code=params.shown(text))) from None
    if installation and code not in installation:
        raise BadInput(t("Kommunen %(code)s ingår inte i den här installationen.", code=code))
    if scope is not None and code not in scope:
        raise BadInput(t("Kommunen %(code)s ingår inte i din EST-grupp.", code=code))
    return code


def visible_codes(installation: tuple[str, ...], scope: tuple[str, ...] | None) -> tuple[str, ...]:
    """The municipalities a user can choose between on a page (sorted by code)."""
    if scope is None:
        return tuple(sorted(installation))
    if not installation:
        return tuple(sorted(scope))
    return tuple(sorted(set(installation) & set(scope)))


def scope_filters(
    region: geo.Region, scope: tuple[str, ...] | None, chosen: str | None = None
) -> Filters:
    """Store filters that keep a reader inside the installation's ``region``, their
    ``scope`` (None = the whole installation) and, when given, the one ``chosen``
    municipality (checked by :func:`choose`)."""
    within = None
    if scope is not None or len(region.municipality_codes) > 1:
        within = visible_codes(region.municipality_codes, scope)
    return Filters(municipality_code=chosen or region.municipality_code, municipality_codes=within)


@dataclass(frozen=True)
class Reach:
    """The municipalities whose records (campaigns, projects, measures, promises, imported
    rows) a user may see and change in this installation: the installation's municipalities
    (``TRYGGKARTA_REGION``; ``()`` for a bbox or all of Sweden) narrowed to the user's
    ``scope`` (:func:`tryggkarta.policy.raw_scope`; ``None`` = the whole installation).

    A record without a municipality code (drawn before codes were stored, a promise of an
    organisation bound to none) belongs to the installation's municipality when there is
    exactly one; in a group installation only readers of the whole installation see it, as
    nobody can tell whose it is.
    """

    installation: tuple[str, ...]
    scope: tuple[str, ...] | None

    @classmethod
    def of(cls, region: geo.Region | str, scope: tuple[str, ...] | None) -> Reach:
        codes = installation_codes(region) if isinstance(region, str) else region.municipality_codes
        return cls(tuple(codes), None if scope is None else tuple(scope))

    @property
    def codes(self) -> tuple[str, ...] | None:
        """The municipalities admitted (sorted); ``None`` = no limit at all."""
        if self.scope is None and not self.installation:
            return None
        return visible_codes(self.installation, self.scope)

    @property
    def unknown_admitted(self) -> bool:
        """Are records without a municipality code admitted?"""
        if self.scope is None:
            return True
        return len(self.installation) == 1 and self.installation[0] in self.scope

    def admits(self, code: str | None) -> bool:
        """Is a record of municipality ``code`` inside the reach?"""
        if not code:
            return self.unknown_admitted
        codes = self.codes
        return codes is None or code in codes

    def where(self, column: Any, chosen: str | None = None) -> ColumnElement[bool] | None:
        """A SQL condition on a ``municipality_code`` column that keeps to the reach and,
        when given, to the one ``chosen`` municipality (checked by :func:`choose`; a page's
        ``?kommun=``). None: no condition needed."""
        if chosen:
            return column == chosen if self.admits(chosen) else false()
        codes = self.codes
        if codes is None:
            return None
        inside = column.in_(codes) if codes else false()
        return or_(inside, column.is_(None)) if self.unknown_admitted else inside

    def check(self, code: str | None, t: Translate = _same, *, required: bool = True) -> str | None:
        """The municipality a new record is made in: ``code`` when it is inside the reach,
        the one municipality of the reach when ``code`` is empty, else :class:`BadInput` with
        a sentence. ``required=False`` lets a reader of the whole installation make a record
        without a municipality (a promise of an organisation bound to none)."""
        chosen = choose(code, self.installation, self.scope, t) if code else None
        if chosen is not None:
            return chosen
        codes = self.codes
        if codes is not None and len(codes) == 1:
            return codes[0]
        if not required and self.unknown_admitted:
            return None
        raise BadInput(t("Välj en kommun i listan."))

    @property
    def several(self) -> bool:
        """Does the reach hold more than one municipality (a page then offers a choice)?"""
        codes = self.codes
        return codes is None or len(codes) > 1


def region_name(codes: tuple[str, ...]) -> str:
    try:
        return ", ".join(geo.muni_name(c) for c in codes)
    except ConfigError:
        return ", ".join(codes)
