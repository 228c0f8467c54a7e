"""Consent to be remembered (issue 17, DPDP Act 2023): callers.consent_at and consent_version,
callers.last_seen indexed for the retention purge, and recordings marked for deletion.

What it does to data already kept: before this revision the line remembered every caller who
chose a language (their language, speed and where they stopped in a topic) without asking. None
of them consented, so upgrading DELETES every row of `callers` (each holds only a pseudonym, a
language, a speed, a place and when they were seen): those callers are new callers again on
their next call and are asked, once they choose a language, whether to be remembered. Nothing
else is touched (calls and their journeys keep their pseudonym; call-backs, recordings and texts
have their own retention, `flask data purge`). The number of rows deleted is logged.

Downgrading drops the new columns; the callers forgotten are not brought back.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    """Forget the callers remembered without consent (counted in the log), then add the columns."""
    bind = op.get_bind()
    forgotten = bind.execute(sa.text("DELETE FROM callers")).rowcount
    log.info(
        "0009: forgot %d caller(s) remembered without consent (language, speed, place); they are"
        " asked on their next call",
        forgotten,
    )
    # Plain ADD COLUMN and CREATE INDEX: both work in place on SQLite and PostgreSQL.
    op.add_column("callers", sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("callers", sa.Column("consent_version", sa.String(16), nullable=True))
    op.create_index(op.f("ix_callers_last_seen"), "callers", ["last_seen"])
    op.add_column("recordings", sa.Column("erase_requested_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("recordings", sa.Column("erase_claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_recordings_erase_requested_at"), "recordings", ["erase_requested_at"])


def downgrade() -> None:
    """Drop the columns (SQLite copies the tables in batch mode); consents kept are lost."""
    op.drop_index(op.f("ix_recordings_erase_requested_at"), "recordings")
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("erase_claimed_at")
        batch.drop_column("erase_requested_at")
    op.drop_index(op.f("ix_callers_last_seen"), "callers")
    with op.batch_alter_table("callers") as batch:
        batch.drop_column("consent_version")
        batch.drop_column("consent_at")
