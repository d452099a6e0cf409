"""hospital tension: daily FEDORU indicator inputs per run

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 01:00:00

Additive only: ``tension_daily`` (run, local day, the fingerprint of the visits it
was computed from, and the daily inputs of the HET indicators).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tension_daily",
        sa.Column("run_id", RowId, nullable=False),
        sa.Column("day_local_ms", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("attendances", sa.Integer(), nullable=False),
        sa.Column("admitted", sa.Integer(), nullable=True),
        sa.Column("disposition_known", sa.Integer(), nullable=True),
        sa.Column("admitted_mean_stay_min", sa.Float(), nullable=True),
        sa.Column("present_at_15", sa.Integer(), nullable=True),
        sa.Column("attendances_75_plus", sa.Integer(), nullable=True),
        sa.Column("beds_available", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_tension_daily_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "day_local_ms", name=op.f("pk_tension_daily")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("tension_daily")
