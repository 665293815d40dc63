"""EST reporting form and citizen promises: commitments, activities, measures that carry them.

A citizen promise (``promises``, one per year) gets commitments (``promise_commitments``: who
promises — kommunen, polisen or tillsammans — and what) and each commitment activities
(``promise_activities``: owner organisation, due date, status, note). A measure names the
activity it carries out (``interventions.activity_id``).

Form reports need no new column: each is an incident in its organisation's form dataset
(``datasets.source = 'form'``, ``organisation_id``), and the client-generated report id is its
``source_id`` and, as ``form:<id>``, its unique ``dedup_key`` — a re-sent report stores once.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "promise_commitments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("promise_id", sa.Integer(), nullable=False),
        sa.Column("party", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["promise_id"], ["promises.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_promise_commitments_promise_id", "promise_commitments", ["promise_id"], unique=False
    )
    op.create_table(
        "promise_activities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("commitment_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("owner_org_id", sa.Integer(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["commitment_id"], ["promise_commitments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_org_id"], ["organisations.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_promise_activities_commitment_id",
        "promise_activities",
        ["commitment_id"],
        unique=False,
    )
    with op.batch_alter_table("interventions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("activity_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_interventions_activity_id",
            "promise_activities",
            ["activity_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("interventions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_interventions_activity_id", type_="foreignkey")
        batch_op.drop_column("activity_id")
    op.drop_index("ix_promise_activities_commitment_id", table_name="promise_activities")
    op.drop_table("promise_activities")
    op.drop_index("ix_promise_commitments_promise_id", table_name="promise_commitments")
    op.drop_table("promise_commitments")
