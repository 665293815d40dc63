"""An index on incidents (municipality_code, occurred_at) for installations of many
municipalities (issue #16).

Migration 0002 dropped the ``municipality_code`` B-tree because an installation then held
one municipality, so it never selected. A region or the country holds many: every query of
a user's EST group, a municipality's page, its weekly picture or its grid count names the
municipalities and a time window, and without this index scans every row of the window's
yearly partitions (Göteborg's year in a 15M national table: 100k of 1.5M rows, measured
in bench/RESULTS.md). On PostgreSQL the index is made on the partitioned table, which makes
it on every yearly partition (and on partitions made later); the bulk import drops and builds
it again with the other secondary indexes.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_incidents_municipality_time", "incidents", ["municipality_code", "occurred_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_incidents_municipality_time", table_name="incidents")
