"""sync: per-user visibility of cases (scope changes reach phones in commit order)

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_visibility",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.Column("sync_seq", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"], name=op.f("fk_sync_visibility_case_id_case_record")),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_sync_visibility_user_id_app_user")),
        sa.PrimaryKeyConstraint("user_id", "case_id", name=op.f("pk_sync_visibility")),
    )
    op.create_index(op.f("ix_sync_visibility_case_id"), "sync_visibility", ["case_id"], unique=False)
    op.create_index("ix_sync_visibility_user_seq", "sync_visibility", ["user_id", "sync_seq"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sync_visibility_user_seq", table_name="sync_visibility")
    op.drop_index(op.f("ix_sync_visibility_case_id"), table_name="sync_visibility")
    op.drop_table("sync_visibility")
