"""Survey campaigns get a drawn area and an index on their municipality; answers get a
walking-route line (issue #14).

``survey_campaigns.area_wkb``: a polygon drawn on the campaign form (WKB, working CRS), used
instead of the districts or the municipality when set. ``survey_responses.route_wkb``: the
optional walking route a resident drew (a line, WKB, working CRS), stored on the answer's first
pin; staff only. Campaigns without ``municipality_code`` (those named by imported answers, or
made before the code was required) get the installation's region when it is a municipality,
so that campaigns are scoped like every other layer.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context, op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _region_code() -> str | None:
    from tryggkarta.errors import ConfigError
    from tryggkarta.geo import parse_region

    region = context.config.attributes.get("region") or os.environ.get("TRYGGKARTA_REGION")
    try:
        return parse_region(region or "SE").municipality_code
    except ConfigError:
        return None


def upgrade() -> None:
    with op.batch_alter_table("survey_campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("area_wkb", sa.LargeBinary(), nullable=True))
        batch_op.create_index(
            "ix_survey_campaigns_municipality_code", ["municipality_code"], unique=False
        )
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("route_wkb", sa.LargeBinary(), nullable=True))
    code = _region_code()
    if code:
        campaigns = sa.table(
            "survey_campaigns", sa.column("id", sa.Integer), sa.column("municipality_code")
        )
        op.get_bind().execute(
            sa.update(campaigns)
            .where(campaigns.c.municipality_code.is_(None))
            .values(municipality_code=code)
        )


def downgrade() -> None:
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.drop_column("route_wkb")
    with op.batch_alter_table("survey_campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_campaigns_municipality_code")
        batch_op.drop_column("area_wkb")
