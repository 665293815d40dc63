"""The incidents' spatial index as SP-GiST instead of GiST on PostgreSQL (issue #16: a weekly
100k into 15M in ≤ 5 s).

Incidents are points. A GiST insert chooses its subtree by computing the growth of every
bounding box on the way down and splits pages by a penalty search; SP-GiST's quad-tree
sends a point down by comparing coordinates. Measured on a yearly partition of 1.5M
incidents (the size of one year of the 15M national bench), 100,000 rows went in in
2.1–2.7 s with SP-GiST against 2.7–3.6 s with GiST; bounding-box reads answered the same
rows in the same time (a 5 km box: 4,588 rows, 5.9 ms against 5.7 ms; a 40 km box: 119,069
rows, 155 ms against 178 ms). Building it is slower (7.3 s against 3.6 s for the 1.5M
rows): a first load or a backfill rebuilds it (``bulk.py``), once.

The index keeps its name; on the partitioned table it is made on every yearly partition
(and on partitions made later). SQLite keeps its x/y B-tree and is not touched.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

NAME = "ix_incidents_geom"


def _rebuild(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {NAME}")
    op.execute(f"CREATE INDEX {NAME} ON incidents USING {method} (geom)")


def upgrade() -> None:
    _rebuild("SPGIST")


def downgrade() -> None:
    _rebuild("GIST")
