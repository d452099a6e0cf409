"""the patient flow: bed requests of visits, treatment spaces and ward beds over time

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 01:00:00

Additive only:

* ``visits.bed_request_ms``: when an admitted patient's ward bed was asked
  for (boarding lasts until ``departure_ms``); NULL when not admitted or not
  known;
* ``resource_snapshots``: the simulator's instantaneous state of each
  treatment area (``resource = 'space'``) and ward (``'ward'``) at every
  snapshot step: capacity (0: unlimited), in use, and the queue (patients
  waiting for a space, boarders waiting for a bed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # a plain ADD COLUMN (nullable): no table rebuild on SQLite
    op.add_column("visits", sa.Column("bed_request_ms", sa.BigInteger(), nullable=True))
    op.create_table(
        "resource_snapshots",
        sa.Column("id", RowId, nullable=False),
        sa.Column("run_id", RowId, nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("local_ms", sa.BigInteger(), nullable=False),
        sa.Column("resource", sa.String(8), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("in_use", sa.Integer(), nullable=False),
        sa.Column("queue", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_resource_snapshots_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_snapshots")),
    )
    op.create_index(
        "ix_resource_snapshots_time",
        "resource_snapshots",
        ["run_id", "time_ms", "resource", "idx"],
    )


def downgrade() -> None:
    op.drop_index("ix_resource_snapshots_time", table_name="resource_snapshots")
    op.drop_table("resource_snapshots")
    with op.batch_alter_table("visits") as batch:
        batch.drop_column("bed_request_ms")
