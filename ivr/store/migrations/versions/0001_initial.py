"""Initial tables: callers, calls, journey events, callbacks, recordings, SMS outbox, staff users.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create every table of the first version."""
    op.create_table(
        "callers",
        sa.Column("caller_hash", sa.String(64), nullable=False),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("rate", sa.String(16), nullable=True),
        _when("first_seen"),
        _when("last_seen"),
        sa.PrimaryKeyConstraint("caller_hash", name=op.f("pk_callers")),
    )
    op.create_table(
        "calls",
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("caller_hash", sa.String(64), nullable=True),
        _when("started_at"),
        _when("ended_at", nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("language", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("call_sid", name=op.f("pk_calls")),
    )
    op.create_index(op.f("ix_calls_caller_hash"), "calls", ["caller_hash"])
    op.create_index(op.f("ix_calls_started_at"), "calls", ["started_at"])
    op.create_table(
        "journey_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=False),
        _when("at"),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_events")),
    )
    op.create_index(op.f("ix_journey_events_call_sid"), "journey_events", ["call_sid"])
    op.create_table(
        "callbacks",
        sa.Column("id", ID, nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("caller_hash", sa.String(64), nullable=True),
        sa.Column("callback_number", sa.String(32), nullable=False),
        sa.Column("specialty", sa.String(64), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        _when("requested_at"),
        _when("done_at", nullable=True),
        sa.Column("done_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
    )
    op.create_index(op.f("ix_callbacks_call_sid"), "callbacks", ["call_sid"])
    op.create_table(
        "recordings",
        sa.Column("id", ID, nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("recording_url", sa.String(500), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("specialty", sa.String(64), nullable=True),
        _when("created_at"),
        _when("reviewed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
    )
    op.create_index(op.f("ix_recordings_call_sid"), "recordings", ["call_sid"])
    op.create_table(
        "sms_outbox",
        sa.Column("id", ID, nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=True),
        sa.Column("to_number", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("twilio_sid", sa.String(64), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        _when("created_at"),
        _when("sent_at", nullable=True),
        sa.CheckConstraint("status IN ('queued', 'sent', 'failed')", name=op.f("ck_sms_outbox_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_outbox")),
    )
    op.create_index(op.f("ix_sms_outbox_call_sid"), "sms_outbox", ["call_sid"])
    op.create_index(op.f("ix_sms_outbox_status"), "sms_outbox", ["status"])
    op.create_table(
        "staff_users",
        sa.Column("id", ID, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_users_username")),
    )


def downgrade() -> None:
    """Drop every table (their indexes go with them)."""
    for table in (
        "staff_users",
        "sms_outbox",
        "recordings",
        "callbacks",
        "journey_events",
        "calls",
        "callers",
    ):
        op.drop_table(table)
