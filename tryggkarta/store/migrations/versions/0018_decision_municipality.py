"""Weekly-picture decisions carry their municipality (issue #15 and #16.1, EST-group scope).

A decision is the action an EST group notes for a hot spot in the weekly picture. The group
sees the decisions of its municipalities only, as it sees their measures (0014), so each
decision stores the municipality it was made for. Existing rows are filled:

- the municipality at the decision's point (``x``, ``y``; within 1 km of the installation's
  one municipality counts as inside it, as in 0005 and 0014);
- else the municipality of the organisation of the user who noted it;
- else, in an installation of one municipality, that municipality.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import os

import numpy as np
import sqlalchemy as sa
from alembic import context, op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _region_code() -> str | None:
    """The installation's one municipality (None for a group, a bbox or the country)."""
    from tryggkarta.errors import ConfigError
    from tryggkarta.geo import parse_region

    region = context.config.attributes.get("region") or os.environ.get("TRYGGKARTA_REGION")
    try:
        return parse_region(region or "SE").municipality_code
    except ConfigError:
        return None


def _codes_at(x: np.ndarray, y: np.ndarray, srid: int, region: str | None) -> np.ndarray:
    """The municipality at each point (None where a coordinate is missing or outside)."""
    import shapely

    from tryggkarta import geo

    codes = geo.municipality_codes_at(x, y, srid)
    if region:
        finite = np.isfinite(x) & np.isfinite(y)
        near = np.zeros(len(x), bool)
        near[finite] = shapely.contains_xy(
            geo.municipality(region, srid).buffer(1000.0), x[finite], y[finite]
        )
        codes[near] = region
    return codes


def upgrade() -> None:
    op.add_column("decisions", sa.Column("municipality_code", sa.String(4), nullable=True))
    op.create_index(op.f("ix_decisions_municipality_code"), "decisions", ["municipality_code"])
    bind = op.get_bind()
    srid = int(context.config.attributes.get("srid", 3006))
    region = _region_code()
    decisions = sa.table(
        "decisions",
        sa.column("id", sa.Integer),
        sa.column("x", sa.Float),
        sa.column("y", sa.Float),
        sa.column("created_by", sa.Integer),
        sa.column("municipality_code", sa.String),
    )
    users = sa.table("users", sa.column("id"), sa.column("organisation_id"))
    orgs = sa.table("organisations", sa.column("id"), sa.column("municipality_code"))
    rows = bind.execute(
        sa.select(decisions.c.id, decisions.c.x, decisions.c.y, orgs.c.municipality_code)
        .select_from(decisions)
        .outerjoin(users, users.c.id == decisions.c.created_by)
        .outerjoin(orgs, orgs.c.id == users.c.organisation_id)
        .order_by(decisions.c.id)
    ).all()
    if not rows:
        return
    x = np.array([np.nan if r[1] is None else r[1] for r in rows], float)
    y = np.array([np.nan if r[2] is None else r[2] for r in rows], float)
    placed = _codes_at(x, y, srid, region)
    filled: dict[str, list[int]] = {}
    for (row_id, _x, _y, org_code), code in zip(rows, placed, strict=True):
        chosen = code or org_code or region
        if chosen:
            filled.setdefault(str(chosen), []).append(int(row_id))
    for code, ids in filled.items():  # one UPDATE per municipality, not per row
        for i in range(0, len(ids), 5000):
            bind.execute(
                sa.update(decisions)
                .where(decisions.c.id.in_(ids[i : i + 5000]))
                .values(municipality_code=code)
            )


def downgrade() -> None:
    op.drop_index(op.f("ix_decisions_municipality_code"), table_name="decisions")
    op.drop_column("decisions", "municipality_code")
