"""the dashboard's summary of contacts per case and Tokyo month (server/services/report_summary.py;
its watermark is a derived_watermark row); an index of milestone events by rung and day

Created empty: without a watermark row the next dashboard builds the summary from every contact.
Written as 0009 and renumbered 0012 before it was ever deployed: it is applied after 0011, and the
numbers now follow the order.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METHOD_COLUMNS = (
    "m_home_visit", "m_accompaniment", "m_phone", "m_letter", "m_digital_message",
    "m_office_visit", "m_community_setting", "m_agency_liaison", "m_meeting",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "report_contact_month",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("n_person", sa.Integer(), nullable=False),
        sa.Column("n_family", sa.Integer(), nullable=False),
        sa.Column("n_none", sa.Integer(), nullable=False),
        sa.Column("meet_shien", sa.Integer(), nullable=False),
        sa.Column("meet_jusou", sa.Integer(), nullable=False),
        sa.Column("unusual", sa.Integer(), nullable=False),
        sa.Column("first_person_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("case_first_person_at", server.db.UTCDateTime(timezone=True), nullable=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in METHOD_COLUMNS),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_report_contact_month_case_id_case_record")
        ),
        sa.PrimaryKeyConstraint("case_id", "month", name=op.f("pk_report_contact_month")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_milestone_event_milestone_reached", "milestone_event", ["milestone", "reached_on"])


def downgrade() -> None:
    op.drop_index("ix_milestone_event_milestone_reached", table_name="milestone_event")
    op.drop_table("report_contact_month")
