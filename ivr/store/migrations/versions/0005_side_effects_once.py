"""Side effects done once: call backs, recordings and texts keyed so a redelivered webhook adds
nothing; texts sent with retries and a daily cap; replies kept per I-Twilio-Idempotency-Token.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Add the "once" keys (unique; empty for older rows, which never clash), the outbox's retry
    columns, and the sms_quota and webhook_replies tables."""
    # Plain ADD COLUMN and CREATE UNIQUE INDEX: both work in place on SQLite and PostgreSQL.
    op.add_column("callbacks", sa.Column("once_key", sa.String(140), nullable=True))
    op.create_index(op.f("ix_callbacks_once_key"), "callbacks", ["once_key"], unique=True)
    op.add_column("recordings", sa.Column("recording_sid", sa.String(64), nullable=True))
    op.create_index(op.f("ix_recordings_recording_sid"), "recordings", ["recording_sid"], unique=True)
    op.add_column("sms_outbox", sa.Column("once_key", sa.String(140), nullable=True))
    op.add_column("sms_outbox", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
    op.add_column("sms_outbox", _when("next_attempt_at", nullable=True))
    op.add_column("sms_outbox", _when("claimed_at", nullable=True))
    op.create_index(op.f("ix_sms_outbox_once_key"), "sms_outbox", ["once_key"], unique=True)
    op.create_index(op.f("ix_sms_outbox_next_attempt_at"), "sms_outbox", ["next_attempt_at"])
    op.create_table(
        "sms_quota",
        sa.Column("caller_hash", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("texts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("caller_hash", "day", name=op.f("pk_sms_quota")),
    )
    op.create_table(
        "webhook_replies",
        sa.Column("token", sa.String(128), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("mimetype", sa.String(64), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_webhook_replies")),
    )
    op.create_index(op.f("ix_webhook_replies_created_at"), "webhook_replies", ["created_at"])


def downgrade() -> None:
    """Drop the new tables, indexes and columns (SQLite copies the tables in batch mode)."""
    op.drop_table("webhook_replies")
    op.drop_table("sms_quota")
    op.drop_index(op.f("ix_sms_outbox_next_attempt_at"), "sms_outbox")
    op.drop_index(op.f("ix_sms_outbox_once_key"), "sms_outbox")
    op.drop_index(op.f("ix_recordings_recording_sid"), "recordings")
    op.drop_index(op.f("ix_callbacks_once_key"), "callbacks")
    with op.batch_alter_table("sms_outbox") as batch:
        for column in ("claimed_at", "next_attempt_at", "attempts", "once_key"):
            batch.drop_column(column)
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("recording_sid")
    with op.batch_alter_table("callbacks") as batch:
        batch.drop_column("once_key")
