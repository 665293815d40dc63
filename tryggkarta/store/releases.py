"""Published releases kept in the database, one per data version (issue #16).

Every worker process used to compute the national release itself on the first request after
an import (a ``GROUP BY`` over the kept 250 m counts of two periods: 1.45 s at 1M incidents,
several seconds at 15M). A release below raw detail is a published fact: it is written here
once, the first time it is computed for a data version (usually ahead of visitors, by
``tryggkarta releases refresh`` after an import), and read by every process and after
restarts. The table is also the record of what was published when (:func:`history`).

What is kept is only what is published anyway: the sparse cells' published values (−1 where
suppressed, never a count below k), bands, trends and reason counts, the rule and the period.
Releases for raw-detail roles are never kept (:func:`keepable`).

The key is the release's key (layer, installation municipality, period, rule, trend) and the
SHA-256 of the layer's data version; a release is written only when the data version was the
same before and after computing it, so an import that commits meanwhile cannot put new numbers
under an old version. Two processes keeping the same release insert once (unique key, ``ON
CONFLICT DO NOTHING``). The newest :data:`KEEP` versions per key are kept; older ones are
deleted when a new one is written.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, select

from tryggkarta.store.models import PublishedRelease

if TYPE_CHECKING:
    from tryggkarta.disclosure import Period, Release, Rule
    from tryggkarta.store.engine import Database

log = logging.getLogger(__name__)

#: Versions kept per release key (layer, municipality, period kind, rule, trend): the last
#: imports' releases stay for the record; older ones are deleted when a new one is written.
KEEP = 20
#: Payload format (bump when the arrays change).
FORMAT = 1


@dataclass(frozen=True)
class Key:
    """What identifies one kept release."""

    layer: str
    scope: str
    period_key: str
    period_start: str
    period_end: str
    rule_k: int
    rule_base: int
    with_trend: bool
    version: str

    def where(self) -> list[Any]:
        t = PublishedRelease
        return [
            t.layer == self.layer,
            t.scope == self.scope,
            t.period_key == self.period_key,
            t.period_start == self.period_start,
            t.rule_k == self.rule_k,
            t.rule_base == self.rule_base,
            t.with_trend == self.with_trend,
            t.version == self.version,
        ]


def keepable(rule: Rule) -> bool:
    """Only releases below raw detail are published facts; raw counts are never kept."""
    return not rule.raw


def key_for(
    layer: str,
    municipality_code: str | None,
    period: Period | None,
    rule: Rule,
    with_trend: bool,
    version: str,
) -> Key:
    """The key of a release of ``layer`` at data version ``version`` (its text)."""
    return Key(
        layer,
        municipality_code or "",
        period.key if period else "alla",
        period.start.isoformat() if period else "",
        period.end.isoformat() if period else "",
        int(rule.k),
        int(rule.base),
        bool(with_trend),
        hashlib.sha256(version.encode()).hexdigest(),
    )


def encode(release: Release) -> bytes:
    """The release's published arrays as a compressed ``.npz`` (no pickle)."""
    arrays: dict[str, np.ndarray] = {"cx": release.cx, "cy": release.cy}
    meta: dict[str, Any] = {
        "format": FORMAT,
        "cell_size": release.cell_size,
        "group": release.group,
    }
    for name, value in release.values.items():
        if name == "reasons":
            meta["reasons"] = [[int(i), r] for i, r in value.items()]
        else:
            arrays[f"v:{name}"] = np.asarray(value)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def decode(payload: bytes, layer: str, period: Period | None, rule: Rule) -> Release:
    """:func:`encode` read back as a :class:`~tryggkarta.disclosure.Release`."""
    from tryggkarta.disclosure import Release

    with np.load(io.BytesIO(payload), allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes().decode())
        if meta.get("format") != FORMAT:
            raise ValueError(f"kept release of format {meta.get('format')}, expected {FORMAT}")
        values: dict[str, Any] = {n[2:]: z[n] for n in z.files if n.startswith("v:")}
        cx, cy = z["cx"], z["cy"]
    if "reasons" in meta:
        values["reasons"] = {int(i): r for i, r in meta["reasons"]}
    return Release(layer, period, meta["group"], rule, float(meta["cell_size"]), cx, cy, values)


def load(db: Database, key: Key, period: Period | None, rule: Rule) -> Release | None:
    """The kept release of ``key``; ``None`` when none is kept (or it cannot be read)."""
    try:
        with db.session() as s:
            payload = s.execute(select(PublishedRelease.payload).where(*key.where())).scalar()
        return None if payload is None else decode(bytes(payload), key.layer, period, rule)
    except Exception:  # noqa: BLE001 - a kept copy is an optimisation: compute instead
        log.warning("could not read a kept %s release; computing it", key.layer, exc_info=True)
        return None


def keep(
    db: Database,
    key: Key,
    release: Release,
    compute_ms: float,
    unchanged: Callable[[], bool],
) -> bool:
    """Write ``release`` under ``key`` once (``ON CONFLICT DO NOTHING``) when ``unchanged()``
    (the data version is still the one the key names), then delete versions beyond
    :data:`KEEP`. True when this call wrote it. Never raises: a release not kept is computed
    again by the next process."""
    if not keepable(release.rule):
        return False
    try:
        if not unchanged():
            log.info("data changed while the %s release was computed: not kept", key.layer)
            return False
        row = {
            **key.__dict__,
            "n_cells": int(release.n_cells),
            "compute_ms": float(compute_ms),
            "payload": encode(release),
        }
        table = PublishedRelease.__table__
        if db.is_postgis:
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        from tryggkarta.store.models import utcnow

        row["created_at"] = utcnow()
        stmt = insert(table).values(**row).on_conflict_do_nothing().returning(table.c.id)
        with db.session() as s:
            wrote = s.execute(stmt).scalar() is not None
            if wrote:
                _prune(s, key)
        return wrote
    except Exception:  # noqa: BLE001 - see above
        log.warning("could not keep the %s release", key.layer, exc_info=True)
        return False


def _prune(session: Any, key: Key) -> None:
    """Delete all but the newest :data:`KEEP` kept releases of ``key`` (any version, any
    period start: the 52-week release moves on every week)."""
    t = PublishedRelease
    same = [
        t.layer == key.layer,
        t.scope == key.scope,
        t.period_key == key.period_key,
        t.rule_k == key.rule_k,
        t.rule_base == key.rule_base,
        t.with_trend == key.with_trend,
    ]
    newest = select(t.id).where(*same).order_by(t.id.desc()).limit(KEEP).scalar_subquery()
    session.execute(delete(t).where(*same, t.id.not_in(newest)))


def history(db: Database, layer: str | None = None) -> list[dict[str, Any]]:
    """What was published when: every kept release (newest first), without its cells."""
    t = PublishedRelease
    cols = [
        t.id,
        t.layer,
        t.scope,
        t.period_key,
        t.period_start,
        t.period_end,
        t.rule_k,
        t.rule_base,
        t.with_trend,
        t.version,
        t.n_cells,
        t.compute_ms,
        t.created_at,
    ]
    query = select(*cols).order_by(t.id.desc())
    if layer:
        query = query.where(t.layer == layer)
    with db.session() as s:
        return [dict(r._mapping) for r in s.execute(query)]
