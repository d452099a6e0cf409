"""a site's observed run counts its patient numbers: runs.next_patient_no

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 16:00:00

``runs.next_patient_no``: the next free patient number of a site's observed
run, taken and advanced under a lock by every writer of its visits (imports,
live feeds: ``hospiflow.store.patient_numbers``), so two writers interleaving
can no longer give the same number twice. Back-filled for every site's run
from its largest number + 1 (one pass over the run's visits, once); NULL for
simulated and live runs, whose engine numbers its patients.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("next_patient_no", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE runs SET next_patient_no = 1 + COALESCE("
        "(SELECT MAX(patient_no) FROM visits WHERE visits.run_id = runs.id), 0) "
        "WHERE id IN (SELECT run_id FROM sites WHERE run_id IS NOT NULL)"
    )


def downgrade() -> None:
    op.drop_column("runs", "next_patient_no")
