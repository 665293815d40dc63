"""Survey campaigns collected in tryggkarta itself (the public map form, issue #14).

``survey_campaigns`` gets what a form campaign needs: a public slug, a status, a period, an
area (district ids), the optional questions and the dataset its answers go to.
``survey_responses`` gets ``review_status`` and ``held_comment``: a comment that may hold
personal data is kept out of ``comment`` until a municipality user has reviewed it;
``repeat_answer`` flags an answer from a browser that had answered the campaign before.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("survey_campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slug", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("status", sa.String(length=10), nullable=False, server_default="draft")
        )
        batch_op.add_column(sa.Column("starts_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("ends_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("area_ids", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("questions", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("dataset_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("created_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint("uq_survey_campaigns_slug", ["slug"])
        batch_op.create_foreign_key(
            "fk_survey_campaigns_dataset_id",
            "datasets",
            ["dataset_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            "fk_survey_campaigns_created_by", "users", ["created_by"], ["id"]
        )
    with op.batch_alter_table("survey_campaigns", schema=None) as batch_op:
        batch_op.alter_column("status", server_default=None)
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("weekday", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("review_status", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("held_comment", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("repeat_answer", sa.Boolean(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_survey_responses_review_status"), ["review_status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_responses_review_status"))
        batch_op.drop_column("repeat_answer")
        batch_op.drop_column("held_comment")
        batch_op.drop_column("review_status")
        batch_op.drop_column("weekday")
    with op.batch_alter_table("survey_campaigns", schema=None) as batch_op:
        batch_op.drop_constraint("fk_survey_campaigns_created_by", type_="foreignkey")
        batch_op.drop_constraint("fk_survey_campaigns_dataset_id", type_="foreignkey")
        batch_op.drop_constraint("uq_survey_campaigns_slug", type_="unique")
        for col in ("created_at", "created_by", "dataset_id", "questions", "area_ids"):
            batch_op.drop_column(col)
        for col in ("ends_on", "starts_on", "status", "slug"):
            batch_op.drop_column(col)
