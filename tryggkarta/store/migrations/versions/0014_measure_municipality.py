"""Every record a user opens by id carries its municipality (issue #16.1, EST-group scope).

Campaigns, projects and promises already had ``municipality_code``; measures
(``interventions``) get it here. A user sees and changes only records of the municipalities
of their EST group, so the code is filled for existing rows:

- measures: the municipality at their place (a polygon's inner point, a point itself), else
  that of their project, else that of their promise, else their owner organisation's;
- projects, campaigns without one: the municipality at their area's inner point;
- promises without one: their owner organisation's.

In an installation of one municipality, rows within 1 km of it get its code (as 0005 did).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import os

import numpy as np
import sqlalchemy as sa
from alembic import context, op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BATCH = 20_000


def _region_code() -> str | None:
    from tryggkarta.errors import ConfigError
    from tryggkarta.geo import parse_region

    region = context.config.attributes.get("region") or os.environ.get("TRYGGKARTA_REGION")
    try:
        return parse_region(region or "SE").municipality_code
    except ConfigError:
        return None


def _codes_at(wkbs: list[bytes | None], srid: int, region: str | None) -> list[str | None]:
    """The municipality at each geometry's inner point (None without a geometry)."""
    import shapely

    from tryggkarta import geo

    out: list[str | None] = [None] * len(wkbs)
    have = [i for i, w in enumerate(wkbs) if w]
    if not have:
        return out
    inner = shapely.point_on_surface(shapely.from_wkb(np.array([wkbs[i] for i in have], object)))
    x, y = shapely.get_x(inner), shapely.get_y(inner)
    codes = geo.municipality_codes_at(x, y, srid)
    if region:
        near = shapely.contains_xy(
            geo.municipality(region, srid).buffer(1000.0), np.nan_to_num(x), np.nan_to_num(y)
        )
        codes[near] = region
    for i, code in zip(have, codes, strict=True):
        out[i] = None if code is None else str(code)
    return out


def _fill(bind, table: sa.Table, geom: sa.ColumnElement, srid: int, region: str | None) -> None:
    """``municipality_code`` from ``geom`` (WKB) for the rows of ``table`` without one."""
    last = 0
    while True:
        rows = bind.execute(
            sa.select(table.c.id, geom)
            .where(table.c.municipality_code.is_(None), table.c.id > last)
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = int(rows[-1][0])
        for (row_id, _wkb), code in zip(
            rows, _codes_at([r[1] for r in rows], srid, region), strict=True
        ):
            if code is not None:
                bind.execute(
                    sa.update(table).where(table.c.id == row_id).values(municipality_code=code)
                )


def upgrade() -> None:
    import shapely

    op.add_column("interventions", sa.Column("municipality_code", sa.String(4), nullable=True))
    op.create_index(
        op.f("ix_interventions_municipality_code"), "interventions", ["municipality_code"]
    )
    bind = op.get_bind()
    srid = int(context.config.attributes.get("srid", 3006))
    region = _region_code()

    def table(name: str, *cols: str) -> sa.Table:
        return sa.table(
            name,
            sa.column("id", sa.Integer),
            sa.column("municipality_code"),
            *(sa.column(c) for c in cols),
        )

    projects = table("projects", "geom_wkb")
    _fill(bind, projects, projects.c.geom_wkb, srid, region)
    campaigns = table("survey_campaigns", "area_wkb")
    _fill(bind, campaigns, campaigns.c.area_wkb, srid, region)

    orgs = table("organisations")
    promises = table("promises", "owner_org_id")
    bind.execute(
        sa.update(promises)
        .where(promises.c.municipality_code.is_(None), promises.c.owner_org_id.is_not(None))
        .values(
            municipality_code=sa.select(orgs.c.municipality_code)
            .where(orgs.c.id == promises.c.owner_org_id)
            .scalar_subquery()
        )
    )

    measures = table(
        "interventions", "geom_wkb", "x", "y", "project_id", "promise_id", "owner_org_id"
    )
    rows = bind.execute(
        sa.select(
            measures.c.id,
            measures.c.geom_wkb,
            measures.c.x,
            measures.c.y,
            measures.c.project_id,
            measures.c.promise_id,
            measures.c.owner_org_id,
        )
    ).all()
    wkbs = [
        r[1]
        or (
            shapely.to_wkb(shapely.Point(r[2], r[3]))
            if r[2] is not None and r[3] is not None
            else None
        )
        for r in rows
    ]
    placed = _codes_at(wkbs, srid, region)
    project_code = dict(bind.execute(sa.select(projects.c.id, projects.c.municipality_code)).all())
    promise_code = dict(bind.execute(sa.select(promises.c.id, promises.c.municipality_code)).all())
    org_code = dict(bind.execute(sa.select(orgs.c.id, orgs.c.municipality_code)).all())
    for r, code in zip(rows, placed, strict=True):
        code = code or project_code.get(r[4]) or promise_code.get(r[5]) or org_code.get(r[6])
        if code:
            bind.execute(
                sa.update(measures).where(measures.c.id == r[0]).values(municipality_code=code)
            )


def downgrade() -> None:
    op.drop_index(op.f("ix_interventions_municipality_code"), table_name="interventions")
    op.drop_column("interventions", "municipality_code")
