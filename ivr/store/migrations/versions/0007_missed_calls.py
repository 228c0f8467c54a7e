"""Missed calls and their free call-backs (issue 16): the missed_calls table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = ("queued", "retry", "calling", "answered", "given-up", "failed", "capped")


def _when(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create missed_calls with its indexes."""
    op.create_table(
        "missed_calls",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("caller_hash", sa.String(64), nullable=False),
        sa.Column("to_number", sa.String(32), nullable=True),
        sa.Column("line_number", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        _when("created_at", nullable=False),
        _when("next_attempt_at"),
        _when("claimed_at"),
        _when("done_at"),
        sa.Column("outbound_sid", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.CheckConstraint(f"state IN {STATES!r}", name=op.f("ck_missed_calls_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_missed_calls")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_missed_calls_call_sid")),
    )
    for column in ("caller_hash", "state", "created_at", "next_attempt_at", "outbound_sid"):
        op.create_index(op.f(f"ix_missed_calls_{column}"), "missed_calls", [column])


def downgrade() -> None:
    """Drop missed_calls (its indexes go with it)."""
    op.drop_table("missed_calls")
