"""derived per-case contact facts for the stall rules, and the watermark up to which they are complete

Created empty: without a watermark row the next alert evaluation computes the facts of every case.

Revision ID: 0010
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_contact_facts",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("last_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reached_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("positive_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempt_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_case_contact_facts_case_id_case_record")
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_contact_facts")),
    )
    op.create_table(
        "derived_watermark",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_derived_watermark")),
    )


def downgrade() -> None:
    op.drop_table("derived_watermark")
    op.drop_table("case_contact_facts")
