"""sync_mutation: drop `user_id` (its device's user: a device belongs to one user, sync.clients) and
the `case_id` index no query reads

Nothing read `sync_mutation.user_id`; each row written by a push paid for it with a foreign-key check
and an index entry, and `ix_sync_mutation_case_id` with another entry (the device exposure report
reads a device's rows by the primary key). A push of 500 contacts on PostgreSQL: `COPY sync_mutation`
7.2 → 4.7 ms, the push 72–74 → 63–68 ms (docs/performance.md, "Session 9 (issue #9)").

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_sync_mutation_case_id", table_name="sync_mutation")
    op.drop_index("ix_sync_mutation_user_id", table_name="sync_mutation")
    with op.batch_alter_table("sync_mutation") as batch:  # SQLite rebuilds the table without the column
        batch.drop_constraint("fk_sync_mutation_user_id_app_user", type_="foreignkey")
        batch.drop_column("user_id")


def downgrade() -> None:
    with op.batch_alter_table("sync_mutation") as batch:
        batch.add_column(sa.Column("user_id", sa.Uuid(), nullable=True))
    op.execute("UPDATE sync_mutation SET user_id = (SELECT user_id FROM device WHERE device.id = sync_mutation.device_id)")
    with op.batch_alter_table("sync_mutation") as batch:
        batch.alter_column("user_id", existing_type=sa.Uuid(), nullable=False)
        batch.create_foreign_key("fk_sync_mutation_user_id_app_user", "app_user", ["user_id"], ["id"])
    op.create_index("ix_sync_mutation_user_id", "sync_mutation", ["user_id"], unique=False)
    op.create_index("ix_sync_mutation_case_id", "sync_mutation", ["case_id"], unique=False)
