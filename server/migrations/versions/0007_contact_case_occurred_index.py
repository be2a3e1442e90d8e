"""contact: one index on (case_id, occurred_at) instead of (case_id)

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_contact_case_occurred", "contact", ["case_id", "occurred_at"], unique=False)
    op.drop_index("ix_contact_case_id", table_name="contact")


def downgrade() -> None:
    op.create_index("ix_contact_case_id", "contact", ["case_id"], unique=False)
    op.drop_index("ix_contact_case_occurred", table_name="contact")
