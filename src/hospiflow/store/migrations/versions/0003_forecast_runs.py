"""forecast runs (settings, calibration, backtest scores) and an index of forecasts by metric

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 21:00:00

Additive only:

* new ``forecast_runs``: one row per forecast run and per backtest of a run (kind
  ``forecast`` | ``backtest``), with its origin, model and a JSON payload;
* new index ``ix_forecasts_metric`` on ``forecasts (run_id, metric, target_ms)``:
  the API reads a run's forecasts by kind of value over a range of hours.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "forecast_runs",
        sa.Column("id", RowId, nullable=False),
        sa.Column("run_id", RowId, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("generated_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("origin_ms", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("payload", Json, nullable=False),
        sa.CheckConstraint("kind IN ('forecast', 'backtest')", name=op.f("ck_forecast_runs_kind")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_forecast_runs_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_runs")),
    )
    with op.batch_alter_table("forecast_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_forecast_runs_run", ["run_id", "kind", "generated_at_ms"], unique=False
        )
    with op.batch_alter_table("forecasts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_forecasts_metric", ["run_id", "metric", "target_ms"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("forecasts", schema=None) as batch_op:
        batch_op.drop_index("ix_forecasts_metric")
    with op.batch_alter_table("forecast_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_forecast_runs_run")
    op.drop_table("forecast_runs")
