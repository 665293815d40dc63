"""Two indexes for national scale (issue #16.5): the kept cell counts by (day, cx, cy) for
cell tiles, and the incidents by (municipality_code, id) for OGC pages of a scoped reader.

A 1 km or 5 km cell tile of a year, a quarter or 52 weeks is read from
``incident_cell_counts`` (:func:`tryggkarta.store.cellcounts.coarse_cells`): the period's
buckets, and in each only the cells in the tile's box. The primary key starts with the
municipality, so without this index that read scanned the whole table (0.27 s for a z8 tile
at 1M incidents, slower than scanning the incidents). On PostgreSQL the other columns are
INCLUDEd so the read is index-only.

A reader bound to one municipality (its OGC items, ``WHERE municipality_code = … AND id >
last ORDER BY id``) walked the primary key until 100 of its rows came by, and its capped count
until 10,001 did: 1.5 s a page for Skara at 15M. ``(municipality_code, id)`` answers both from
the index (created on every yearly partition on PostgreSQL).

Revision ID: 0015
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None

NAME = "ix_incident_cell_counts_day_cell"
SCOPED = "ix_incidents_municipality_id"


def upgrade() -> None:
    op.create_index(
        NAME,
        "incident_cell_counts",
        ["day", "cx", "cy"],
        postgresql_include=["n", "street", "grp", "municipality_code"],
    )
    op.create_index(SCOPED, "incidents", ["municipality_code", "id"])


def downgrade() -> None:
    op.drop_index(SCOPED, table_name="incidents")
    op.drop_index(NAME, table_name="incident_cell_counts")
