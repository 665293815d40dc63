"""EST groups of municipalities (issue #16): ``est_groups`` and ``est_group_members``.

One installation can serve several municipalities (``TRYGGKARTA_REGION=1495,1471``). A group
lists municipalities whose members see each other's records at their role's detail; an
organisation bound to a municipality outside every group of another sees none of its raw
records. Nothing existing changes: with no groups, every organisation sees its own
municipality (and unbound organisations the whole installation), as before.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "est_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "est_group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("municipality_code", sa.String(length=4), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["est_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "municipality_code"),
    )
    op.create_index(
        op.f("ix_est_group_members_municipality_code"),
        "est_group_members",
        ["municipality_code"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_est_group_members_municipality_code"), table_name="est_group_members")
    op.drop_table("est_group_members")
    op.drop_table("est_groups")
