"""The register of measures (insatser): place, owner, due date, origin on ``interventions``.

A measure gets a place (point, line or polygon as WKB in the working CRS, or the hot spot it
answers), an owner organisation, a due date, where it came from (a weekly-picture decision, a
project measure, a citizen-promise activity) and the incident categories its effect is
evaluated on. Weekly-picture decisions stored before this revision become planned measures
of kind "ovrigt" at the decision's point (one per decision; nothing is lost).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("interventions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("geom_wkb", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("hotspot_key", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("owner_org_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("due_date", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("origin", sa.String(length=20), nullable=False, server_default="manual")
        )
        batch_op.add_column(sa.Column("promise_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("categories", sa.String(length=300), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            "fk_interventions_owner_org_id",
            "organisations",
            ["owner_org_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            "fk_interventions_promise_id", "promises", ["promise_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("interventions", schema=None) as batch_op:
        batch_op.alter_column("origin", server_default=None)
        batch_op.alter_column("categories", server_default=None)
    op.execute(
        sa.text(
            "INSERT INTO interventions (measure, title, description, status, decision_id, x, y,"
            " hotspot_key, origin, categories, created_by, created_at)"
            " SELECT 'ovrigt', CASE WHEN d.title <> '' THEN d.title ELSE substr(d.text, 1, 300) END, d.text,"
            " 'planerad', d.id, d.x, d.y, d.hotspot_key, 'decision', '', d.created_by,"
            " d.created_at FROM decisions d WHERE NOT EXISTS"
            " (SELECT 1 FROM interventions i WHERE i.decision_id = d.id)"
        )
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM interventions WHERE origin = 'decision'"))
    with op.batch_alter_table("interventions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_interventions_promise_id", type_="foreignkey")
        batch_op.drop_constraint("fk_interventions_owner_org_id", type_="foreignkey")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("categories")
        batch_op.drop_column("promise_id")
        batch_op.drop_column("origin")
        batch_op.drop_column("due_date")
        batch_op.drop_column("owner_org_id")
        batch_op.drop_column("hotspot_key")
        batch_op.drop_column("geom_wkb")
