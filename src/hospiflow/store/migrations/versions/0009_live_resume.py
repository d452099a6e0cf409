"""what a live run needs to be resumed after a crash: its clock and the history it continues

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 04:30:00

Additive only: ``runs.clock_min`` (the simulated minute up to which every
record of a live run is committed: each tick's rows and this clock go in one
transaction) and ``runs.continues_run`` (the history run a live run
continues). ``serve --live --continue-from N`` finds the live run that
continued N and was orphaned, and carries it on from its clock
(``live.plan_live``, ``store.runs.claim_interrupted``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("clock_min", sa.Float(), nullable=True))
    op.add_column("runs", sa.Column("continues_run", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "continues_run")
    op.drop_column("runs", "clock_min")
