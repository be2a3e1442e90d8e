"""contact: a partial index of amendments (the effective-contacts anti-join reads only these)

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = sa.text("amends_id IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_contact_amendment",
        "contact",
        ["amends_id", "received_at", "id"],
        unique=False,
        postgresql_where=WHERE,
        sqlite_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_contact_amendment", table_name="contact", postgresql_where=WHERE, sqlite_where=WHERE)
