"""the dashboard's summary of contacts keeps each case's team and program item on its rows, and their
totals per team, program item and month beside them (report_team_month; server/services/
report_summary.py)

Both derived: the summary is recreated empty with the new columns and its watermark row dropped, so
the next refresh (`yorisoi migrate` runs one right after upgrading) rebuilds both from the contacts.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METHOD_COLUMNS = (
    "m_home_visit", "m_accompaniment", "m_phone", "m_letter", "m_digital_message",
    "m_office_visit", "m_community_setting", "m_agency_liaison", "m_meeting",
)  # fmt: skip
COUNTS = ("n_person", "n_family", "n_none", "meet_shien", "meet_jusou", "unusual")
SUMMARY = "report_contact_month"


def _summary(with_group: bool) -> None:
    op.create_table(
        SUMMARY,
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        *(
            (sa.Column("team_id", sa.Uuid(), nullable=False), sa.Column("program_item", sa.Integer(), nullable=False))
            if with_group
            else ()
        ),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        sa.Column("first_person_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("case_first_person_at", server.db.UTCDateTime(timezone=True), nullable=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in METHOD_COLUMNS),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_report_contact_month_case_id_case_record")
        ),
        sa.PrimaryKeyConstraint("case_id", "month", name=op.f("pk_report_contact_month")),
        sqlite_with_rowid=False,
    )


def _forget_summary() -> None:
    op.execute(sa.text("DELETE FROM derived_watermark WHERE name = 'report_contact_month'"))
    op.drop_table(SUMMARY)


def upgrade() -> None:
    _forget_summary()
    _summary(with_group=True)
    op.create_index("ix_report_contact_month_group", SUMMARY, ["team_id", "program_item", "month"])
    op.create_table(
        "report_team_month",
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("program_item", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in METHOD_COLUMNS),
        sa.PrimaryKeyConstraint("team_id", "program_item", "month", name=op.f("pk_report_team_month")),
    )


def downgrade() -> None:
    op.drop_table("report_team_month")
    op.drop_index("ix_report_contact_month_group", table_name=SUMMARY)
    _forget_summary()
    _summary(with_group=False)
