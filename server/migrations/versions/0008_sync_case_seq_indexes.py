"""synced child tables: an index on (case_id, sync_seq, id) for the pull's keyset pages

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("contact", "milestone_event", "consent", "alert", "case_conflict")


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_case_seq", table, ["case_id", "sync_seq", "id"], unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_case_seq", table_name=table)
