"""A session version per staff user, so that the server can end a user's sessions (copies included).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add staff_users.session_version, 0 for existing users (their open sessions are ended: a
    cookie from before this version carries none)."""
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    """Drop staff_users.session_version."""
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("session_version")
