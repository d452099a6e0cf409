"""the writer's lease of a running run: who writes it, and its last sign of life

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 01:30:00

Additive only: ``runs.writer`` (``host:pid`` of the process writing the run)
and ``runs.heartbeat_ms`` (when that writer last showed it was alive). A
``running`` run whose writer is gone, or silent longer than the lease, is an
orphan and is marked ``failed`` (``store.runs.reap_orphans``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("writer", sa.Text(), nullable=True))
    op.add_column("runs", sa.Column("heartbeat_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # a plain DROP COLUMN (SQLite >= 3.35): rebuilding ``runs`` would cascade-delete its children
    op.drop_column("runs", "heartbeat_ms")
    op.drop_column("runs", "writer")
