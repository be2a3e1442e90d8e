"""alerts: one live alert per worker and rule, the push delivery queue, the job lease

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBJECT_LIVE = "state <> 'resolved' AND case_id IS NULL AND subject_user_id IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "uq_alert_subject_rule_live",
        "alert",
        ["subject_user_id", "rule"],
        unique=True,
        postgresql_where=sa.text(SUBJECT_LIVE),
        sqlite_where=sa.text(SUBJECT_LIVE),
    )
    op.create_table(
        "push_delivery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("urgency", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("created_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("not_before", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("sent_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["push_subscription.id"],
            name=op.f("fk_push_delivery_subscription_id_push_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_delivery")),
    )
    op.create_index(op.f("ix_push_delivery_not_before"), "push_delivery", ["not_before"], unique=False)
    op.create_index(op.f("ix_push_delivery_state"), "push_delivery", ["state"], unique=False)
    op.create_index(
        op.f("ix_push_delivery_subscription_id"), "push_delivery", ["subscription_id"], unique=False
    )
    op.create_index(
        "uq_push_delivery_pending_topic",
        "push_delivery",
        ["subscription_id", "topic"],
        unique=True,
        postgresql_where=sa.text("state = 'pending'"),
        sqlite_where=sa.text("state = 'pending'"),
    )
    op.create_table(
        "job_lease",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("lease_until", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_lease")),
    )


def downgrade() -> None:
    op.drop_table("job_lease")
    op.drop_index(
        "uq_push_delivery_pending_topic",
        table_name="push_delivery",
        postgresql_where=sa.text("state = 'pending'"),
        sqlite_where=sa.text("state = 'pending'"),
    )
    op.drop_index(op.f("ix_push_delivery_subscription_id"), table_name="push_delivery")
    op.drop_index(op.f("ix_push_delivery_state"), table_name="push_delivery")
    op.drop_index(op.f("ix_push_delivery_not_before"), table_name="push_delivery")
    op.drop_table("push_delivery")
    op.drop_index(
        "uq_alert_subject_rule_live",
        table_name="alert",
        postgresql_where=sa.text(SUBJECT_LIVE),
        sqlite_where=sa.text(SUBJECT_LIVE),
    )
