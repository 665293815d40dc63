"""Incidents per 5 km cell, local calendar year and category group (``incident_year_counts``).

The region roll-up (issue #16): the regional police page opens with no period, and its tiles
at zoom 7 or less (5 km cells) summed every month of the 1 km month roll-up (1.0–1.7 s warm
at 1M, loaded). This revision creates the table with its indexes (by year and cell for a
period's tiles; by cell for all history) and fills it from the month roll-up, which holds
the same incidents per 1 km cell and local month: a local year is twelve whole months, a
5 km cell five by five 1 km cells, so the sums equal a recount of the incidents (``tryggkarta
db recount`` counts them again from the incidents). From now on the store's write paths keep
it (:mod:`tryggkarta.store.cellcounts`).

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TABLE = "incident_year_counts"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("municipality_code", sa.String(length=4), nullable=False),
        sa.Column("street", sa.SmallInteger(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("grp", sa.String(length=20), nullable=False),
        sa.Column("cx", sa.Integer(), nullable=False),
        sa.Column("cy", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("municipality_code", "street", "year", "grp", "cx", "cy"),
    )
    from tryggkarta.store.types import cell_floor

    months = sa.table(
        "incident_month_counts",
        *(sa.column(name) for name in ("municipality_code", "street", "month", "grp", "cx", "cy")),
        sa.column("n", sa.Integer()),
    )
    m = months.c
    # months since 1970-01 → the year; 1 km cells → 5 km cells (labels unlike the month
    # table's columns: a GROUP BY name is an input column first)
    labels = ("k_mc", "k_st", "k_year", "k_grp", "k_x", "k_y")
    keyed = (
        m.municipality_code,
        m.street,
        1970 + cell_floor(m.month / sa.literal(12.0)),
        m.grp,
        cell_floor(m.cx / sa.literal(5.0)),
        cell_floor(m.cy / sa.literal(5.0)),
    )
    rolled = (
        sa.select(*(col.label(k) for col, k in zip(keyed, labels, strict=True)), sa.func.sum(m.n))
        .group_by(*(sa.literal_column(k) for k in labels))
        .order_by(*(sa.literal_column(k) for k in labels))
    )
    keys = ("municipality_code", "street", "year", "grp", "cx", "cy")
    target = sa.table(TABLE, *(sa.column(k) for k in (*keys, "n")))
    # fill before the secondary indexes: one sort per index instead of upkeep per row
    op.get_bind().execute(target.insert().from_select([*keys, "n"], rolled))
    op.create_index(
        "ix_incident_year_counts_year_cell",
        TABLE,
        ["year", "cx", "cy"],
        postgresql_include=["n", "street", "grp", "municipality_code"],
    )
    op.create_index(
        "ix_incident_year_counts_cell",
        TABLE,
        ["cx", "cy"],
        postgresql_include=["n", "year", "street", "grp", "municipality_code"],
    )


def downgrade() -> None:
    op.drop_index("ix_incident_year_counts_cell", table_name=TABLE)
    op.drop_index("ix_incident_year_counts_year_cell", table_name=TABLE)
    op.drop_table(TABLE)
