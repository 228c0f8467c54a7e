"""Where a caller stopped inside a topic, so that their next call can carry on there: the section,
the part and when, on the caller's row (forgotten at the topic's end and after 30 days).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add callers.place_node, place_part and place_at (empty: nobody has a place yet), and an
    index on place_at for the 30-day purge."""
    # Plain ADD COLUMN and CREATE INDEX: both work in place on SQLite and PostgreSQL.
    op.add_column("callers", sa.Column("place_node", sa.String(64), nullable=True))
    op.add_column("callers", sa.Column("place_part", sa.Integer(), nullable=True))
    op.add_column("callers", sa.Column("place_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_callers_place_at"), "callers", ["place_at"])


def downgrade() -> None:
    """Drop them (SQLite copies the table in batch mode); the places kept are lost."""
    op.drop_index(op.f("ix_callers_place_at"), "callers")
    with op.batch_alter_table("callers") as batch:
        for column in ("place_at", "place_part", "place_node"):
            batch.drop_column(column)
