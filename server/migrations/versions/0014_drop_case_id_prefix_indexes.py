"""synced child tables: drop the single-column case_id indexes that (case_id, sync_seq, id) covers

`ix_<table>_case_seq` (0008) begins with `case_id`, so it serves every lookup and foreign-key check
by `case_id` that `ix_<table>_case_id` served; each row inserted or renumbered wrote both. A first
stall evaluation at 40,000 cases inserts 42,000 alerts: 2.52-2.58 s → 2.27-2.32 s on SQLite
(docs/performance.md, "Session 9 (issue #9)").

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("milestone_event", "consent", "alert", "case_conflict")


def upgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_case_id", table_name=table)


def downgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_case_id", table, ["case_id"], unique=False)
