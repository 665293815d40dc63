"""Fill ``municipality_code`` on stored rows that have none (data only; no schema change).

Imports before this revision stored the code only for incidents (from the file or a chosen
municipality), yet every layer is filtered by it when TRYGGKARTA_REGION is a municipality:
survey answers, projects and areas then disappeared from the API, the start page and OGC.
Each row now gets the municipality it lies in (a polygon: its inner point; a point just
outside every boundary: the nearest municipality within 1 km). In an installation whose
region is a municipality, rows within 1 km of it get its code, as an import gives them.
County-precision incidents (a Polisen event for a whole county) keep none.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import os

import numpy as np
import sqlalchemy as sa
from alembic import context, op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

POINT_TABLES = ("incidents", "survey_responses")
POLYGON_TABLES = ("projects", "areas")
BATCH = 50_000


def _region_code() -> str | None:
    from tryggkarta.errors import ConfigError
    from tryggkarta.geo import parse_region

    region = context.config.attributes.get("region") or os.environ.get("TRYGGKARTA_REGION")
    try:
        return parse_region(region or "SE").municipality_code
    except ConfigError:
        return None


def _codes(x: np.ndarray, y: np.ndarray, srid: int, region: str | None) -> np.ndarray:
    import shapely

    from tryggkarta import geo

    codes = geo.municipality_codes_at(x, y, srid)
    if region:
        near = shapely.contains_xy(
            geo.municipality(region, srid).buffer(1000.0), np.nan_to_num(x), np.nan_to_num(y)
        )
        codes[near] = region
    return codes


def upgrade() -> None:
    import shapely

    bind = op.get_bind()
    srid = int(context.config.attributes.get("srid", 3006))
    region = _region_code()
    for table in POINT_TABLES + POLYGON_TABLES:
        t = sa.table(
            table,
            sa.column("id", sa.Integer),
            sa.column("municipality_code", sa.String),
            sa.column("x", sa.Float),
            sa.column("y", sa.Float),
            sa.column("geom_wkb", sa.LargeBinary),
            sa.column("precision", sa.String),
        )
        cols = [t.c.id] + ([t.c.x, t.c.y] if table in POINT_TABLES else [t.c.geom_wkb])
        stmt = sa.select(*cols).where(t.c.municipality_code.is_(None))
        if table == "incidents":
            stmt = stmt.where(sa.or_(t.c.precision.is_(None), t.c.precision != "county"))
        last = 0
        while True:
            rows = bind.execute(stmt.where(t.c.id > last).order_by(t.c.id).limit(BATCH)).all()
            if not rows:
                break
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            last = int(ids[-1])
            if table in POINT_TABLES:
                x = np.array([r[1] for r in rows], dtype=float)
                y = np.array([r[2] for r in rows], dtype=float)
            else:
                geoms = shapely.from_wkb(np.array([r[1] for r in rows], dtype=object))
                inner = shapely.point_on_surface(geoms)
                x, y = shapely.get_x(inner), shapely.get_y(inner)
            codes = _codes(x, y, srid, region)
            for code in {c for c in codes if c is not None}:
                chosen = ids[codes == code].tolist()
                for start in range(0, len(chosen), 5000):
                    bind.execute(
                        sa.update(t)
                        .where(t.c.id.in_(chosen[start : start + 5000]))
                        .values(municipality_code=code)
                    )


def downgrade() -> None:
    """Nothing to undo: the codes filled in are correct for the older schema too."""
