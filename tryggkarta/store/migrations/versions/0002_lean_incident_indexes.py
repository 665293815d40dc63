"""Leaner incident indexes: drop t_epoch, category and municipality_code B-trees.

Bulk imports maintain every index row by row; measured on 1M incidents, the six secondary
B-trees cost more than half of the PostGIS insert time. These three rarely select: category
has a dozen values, an installation mostly holds one municipality, and time windows are
selected through the ``occurred_at`` index (space-time counts filter on it too). Grid
counts scan the table in one pass either way.

On PostgreSQL the x/y B-tree goes too: bounding boxes are answered by the GiST index on
``geom`` there (SQLite keeps x/y, its only spatial index).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DROPPED = (
    ("ix_incidents_t_epoch", ["t_epoch"]),
    ("ix_incidents_category", ["category"]),
    ("ix_incidents_municipality_code", ["municipality_code"]),
)


POSTGIS_ONLY = (("ix_incidents_xy", ["x", "y"]),)


def _dropped() -> tuple[tuple[str, list[str]], ...]:
    postgis = op.get_bind().dialect.name == "postgresql"
    return DROPPED + (POSTGIS_ONLY if postgis else ())


def upgrade() -> None:
    for name, _cols in _dropped():
        op.drop_index(name, table_name="incidents")


def downgrade() -> None:
    for name, cols in _dropped():
        op.create_index(name, "incidents", cols)
