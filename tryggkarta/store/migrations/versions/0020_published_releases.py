"""Published releases kept per data version (issue #16: a cold public page in ≤ 1 s).

A public release (the sparse published 250 m cells of the default period, incidents and
survey) is written once when it is first computed for a data version and read by every
worker process and after restarts; it is also the record of what was published when. The
table starts empty: releases are computed again on first use or by
``tryggkarta releases refresh``, so there are no existing rows to fill.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

TABLE = "published_releases"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("layer", sa.String(length=20), nullable=False),
        sa.Column("scope", sa.String(length=4), nullable=False),
        sa.Column("period_key", sa.String(length=20), nullable=False),
        sa.Column("period_start", sa.String(length=40), nullable=False),
        sa.Column("period_end", sa.String(length=40), nullable=False),
        sa.Column("rule_k", sa.Integer(), nullable=False),
        sa.Column("rule_base", sa.Integer(), nullable=False),
        sa.Column("with_trend", sa.Boolean(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("n_cells", sa.Integer(), nullable=False),
        sa.Column("compute_ms", sa.Double(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint(
            "layer",
            "scope",
            "period_key",
            "period_start",
            "rule_k",
            "rule_base",
            "with_trend",
            "version",
            name="uq_published_releases_key",
        ),
    )


def downgrade() -> None:
    op.drop_table(TABLE)
