"""Incident counts per 250 m cell, local bucket and category group (``incident_cell_counts``).

Kept current by the store's write paths (import, dataset delete) in the same transaction, so a
cold start page and the public releases read these narrow rows instead of all incident
history. This revision creates the table and counts the incidents already stored.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_cell_counts",
        sa.Column("municipality_code", sa.String(length=4), nullable=False),
        sa.Column("street", sa.SmallInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("grp", sa.String(length=20), nullable=False),
        sa.Column("cx", sa.Integer(), nullable=False),
        sa.Column("cy", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("municipality_code", "street", "day", "grp", "cx", "cy"),
    )
    # Count what is stored (the same code as `tryggkarta db recount`), in this transaction.
    from sqlalchemy.orm import Session

    from tryggkarta.store import cellcounts

    cellcounts.rebuild(Session(bind=op.get_bind()))


def downgrade() -> None:
    op.drop_table("incident_cell_counts")
