"""Incidents per 1 km cell, local month and category group (``incident_month_counts``).

The coarse roll-up of ``incident_cell_counts`` for maps of a region or the country (issue
#16): a tile at zoom 9 or less (1 km and 5 km cells) read the 250 m per-bucket counts, about
one row per incident at county zoom (z8 92–108 ms warm at 15M); a police start page of the
country counted all history. This revision creates the table with its indexes (by month and
cell for tiles; by ``cx`` and ``cy`` for the page's extent) and counts the incidents already
stored, with the code the store's write paths use (:mod:`tryggkarta.store.cellcounts`).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TABLE = "incident_month_counts"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("municipality_code", sa.String(length=4), nullable=False),
        sa.Column("street", sa.SmallInteger(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("grp", sa.String(length=20), nullable=False),
        sa.Column("cx", sa.Integer(), nullable=False),
        sa.Column("cy", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("municipality_code", "street", "month", "grp", "cx", "cy"),
    )
    from sqlalchemy.orm import Session

    from tryggkarta.store import cellcounts

    # fill before the secondary indexes: one sort per index instead of upkeep per row
    cellcounts.rebuild(Session(bind=op.get_bind()), only=(cellcounts.MONTHS,))
    op.create_index(
        "ix_incident_month_counts_month_cell",
        TABLE,
        ["month", "cx", "cy"],
        postgresql_include=["n", "street", "grp", "municipality_code"],
    )
    op.create_index("ix_incident_month_counts_cx", TABLE, ["cx"])
    op.create_index("ix_incident_month_counts_cy", TABLE, ["cy"])


def downgrade() -> None:
    op.drop_index("ix_incident_month_counts_cy", table_name=TABLE)
    op.drop_index("ix_incident_month_counts_cx", table_name=TABLE)
    op.drop_index("ix_incident_month_counts_month_cell", table_name=TABLE)
    op.drop_table(TABLE)
