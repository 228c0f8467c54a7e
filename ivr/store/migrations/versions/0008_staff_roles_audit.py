"""Staff roles and the audit log (issue 17): staff_users.role and the audit_log table.

Every existing staff user becomes "staff" (the call centre's pages, as before, but neither the audit
log nor the clinical review): an administrator is made with `flask --app app staff role NAME admin`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("staff", "clinician", "admin")


def upgrade() -> None:
    """Add staff_users.role ("staff" for every existing user) and create audit_log."""
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="staff"))
        batch.create_check_constraint(op.f("ck_staff_users_role"), f"role IN {ROLES!r}")
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("detail", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    for column in ("at", "actor", "action"):
        op.create_index(op.f(f"ix_audit_log_{column}"), "audit_log", [column])


def downgrade() -> None:
    """Drop audit_log and staff_users.role."""
    op.drop_table("audit_log")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_constraint(op.f("ck_staff_users_role"), type_="check")
        batch.drop_column("role")
