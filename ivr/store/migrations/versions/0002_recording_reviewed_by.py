"""Who reviewed a recorded question: recordings.reviewed_by, like callbacks.done_by.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add recordings.reviewed_by (empty for recordings reviewed before it existed)."""
    # Batch mode, as SQLite can't ALTER most things (it copies the table when it must).
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("reviewed_by", sa.String(64), nullable=True))


def downgrade() -> None:
    """Drop recordings.reviewed_by."""
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("reviewed_by")
