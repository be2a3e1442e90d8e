"""derived per-case milestone facts for the stall rules (S4, S5)

Created empty: without a watermark row the next alert evaluation computes the facts of every case.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_milestone_facts",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("top_rank", sa.Integer(), nullable=True),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("had_setback", sa.Integer(), nullable=False),
        sa.Column("last_rung_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_case_milestone_facts_case_id_case_record")
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_milestone_facts")),
    )


def downgrade() -> None:
    op.drop_table("case_milestone_facts")
