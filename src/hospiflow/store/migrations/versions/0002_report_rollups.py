"""rollups that reproduce the five CSV reports; indexes for reports and dashboard queries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 09:00:00

* ``hourly_specialty`` is keyed by the UTC hour (``hour_ms``) so the repeated
  local hour of an autumn DST change is two rows, and gains the simulator's
  time-averaged state and mean wait.
* ``daily_pathology`` gains the pathology's specialty, its month and the
  simulator's mean/p90 wait and mean treatment time.
* new ``monthly_specialty`` (``monthly_summary.csv``) and
  ``performance_metrics`` (the KPI rows).
* new index: treatments by patient number (the order of ``treatments.csv``);
  ``ix_visits_arrival`` also carries wait, length of stay and disposition, so
  wait percentiles and KPIs over a range never touch the table.

The rollups of runs already complete are rebuilt from their visits (what SQL
can derive; the state columns and KPIs of older simulation runs stay empty:
re-run them for full reports). Everything happens in the upgrade's
transaction.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HOUR = 3_600_000
DAY = 86_400_000
LWBS = 4  # Disposition.LEFT_WITHOUT_BEING_SEEN
VISITS_ARRIVAL = ["run_id", "arrival_ms", "arrival_local_ms", "specialty_idx", "pathology_idx"]
VISITS_ARRIVAL_EXTRA = ["wait_min", "los_min", "disposition"]


def _fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["run_id"], ["runs.id"], name=op.f(f"fk_{table}_run_id_runs"), ondelete="CASCADE"
    )


def _month_start(column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return (
            "(CAST(EXTRACT(EPOCH FROM date_trunc('month', "
            f"to_timestamp(({column}) / 1000) AT TIME ZONE 'UTC')) AS BIGINT) * 1000)"
        )
    start = f"strftime('%s', ({column}) / 1000, 'unixepoch', 'start of month')"
    return f"(CAST({start} AS INTEGER) * 1000)"


MEASURES = (
    "COUNT(*), COUNT(wait_min), "
    f"COALESCE(SUM(CASE WHEN disposition = {LWBS} THEN 1 ELSE 0 END), 0), "
    "COALESCE(SUM(wait_min), 0.0), COALESCE(SUM(los_min), 0.0)"
)
COMPLETE = "run_id IN (SELECT id FROM runs WHERE status = 'complete')"


def upgrade() -> None:
    op.drop_table("hourly_specialty")
    op.drop_table("daily_pathology")
    op.create_table(
        "hourly_specialty",
        sa.Column("run_id", RowId, nullable=False),
        sa.Column("hour_ms", sa.BigInteger(), nullable=False),
        sa.Column("specialty_idx", sa.Integer(), nullable=False),
        sa.Column("hour_local_ms", sa.BigInteger(), nullable=False),
        sa.Column("arrivals", sa.Integer(), nullable=False),
        sa.Column("treated", sa.Integer(), nullable=False),
        sa.Column("left_without_being_seen", sa.Integer(), nullable=False),
        sa.Column("wait_sum_min", sa.Float(), nullable=False),
        sa.Column("los_sum_min", sa.Float(), nullable=False),
        sa.Column("mean_wait_min", sa.Float(), nullable=True),
        sa.Column("waiting", sa.Float(), nullable=True),
        sa.Column("in_treatment", sa.Float(), nullable=True),
        sa.Column("doctors_on_duty", sa.Float(), nullable=True),
        _fk("hourly_specialty"),
        sa.PrimaryKeyConstraint(
            "run_id", "hour_ms", "specialty_idx", name=op.f("pk_hourly_specialty")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "daily_pathology",
        sa.Column("run_id", RowId, nullable=False),
        sa.Column("day_local_ms", sa.BigInteger(), nullable=False),
        sa.Column("pathology_idx", sa.Integer(), nullable=False),
        sa.Column("specialty_idx", sa.Integer(), nullable=False),
        sa.Column("month_local_ms", sa.BigInteger(), nullable=False),
        sa.Column("arrivals", sa.Integer(), nullable=False),
        sa.Column("treated", sa.Integer(), nullable=False),
        sa.Column("left_without_being_seen", sa.Integer(), nullable=False),
        sa.Column("wait_sum_min", sa.Float(), nullable=False),
        sa.Column("los_sum_min", sa.Float(), nullable=False),
        sa.Column("mean_wait_min", sa.Float(), nullable=True),
        sa.Column("p90_wait_min", sa.Float(), nullable=True),
        sa.Column("mean_treatment_min", sa.Float(), nullable=True),
        _fk("daily_pathology"),
        sa.PrimaryKeyConstraint(
            "run_id", "day_local_ms", "pathology_idx", name=op.f("pk_daily_pathology")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "monthly_specialty",
        sa.Column("run_id", RowId, nullable=False),
        sa.Column("month_local_ms", sa.BigInteger(), nullable=False),
        sa.Column("specialty_idx", sa.Integer(), nullable=False),
        sa.Column("arrivals", sa.Integer(), nullable=False),
        sa.Column("treated", sa.Integer(), nullable=False),
        sa.Column("left_without_being_seen", sa.Integer(), nullable=False),
        sa.Column("mean_wait_min", sa.Float(), nullable=True),
        sa.Column("p50_wait_min", sa.Float(), nullable=True),
        sa.Column("p90_wait_min", sa.Float(), nullable=True),
        sa.Column("mean_treatment_min", sa.Float(), nullable=True),
        sa.Column("mean_waiting", sa.Float(), nullable=True),
        sa.Column("doctor_hours", sa.Float(), nullable=True),
        sa.Column("busy_hours", sa.Float(), nullable=True),
        _fk("monthly_specialty"),
        sa.PrimaryKeyConstraint(
            "run_id", "month_local_ms", "specialty_idx", name=op.f("pk_monthly_specialty")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "performance_metrics",
        sa.Column("run_id", RowId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("ci95_low", sa.Float(), nullable=True),
        sa.Column("ci95_high", sa.Float(), nullable=True),
        sa.Column("replications", sa.Integer(), server_default="1", nullable=False),
        _fk("performance_metrics"),
        sa.PrimaryKeyConstraint("run_id", "position", name=op.f("pk_performance_metrics")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_treatments_patient", "treatments", ["run_id", "patient_no"])
    op.drop_index("ix_visits_arrival", table_name="visits")
    op.create_index("ix_visits_arrival", "visits", VISITS_ARRIVAL + VISITS_ARRIVAL_EXTRA)

    # rollups of the runs already complete, from their visits
    hour = f"(arrival_local_ms / {HOUR}) * {HOUR}"
    offset = "(arrival_local_ms - arrival_ms)"
    day = f"(arrival_local_ms / {DAY}) * {DAY}"
    op.execute(
        "INSERT INTO hourly_specialty (run_id, hour_ms, specialty_idx, hour_local_ms, arrivals,"
        " treated, left_without_being_seen, wait_sum_min, los_sum_min, mean_wait_min)"
        f" SELECT run_id, {hour} - {offset}, specialty_idx, {hour}, {MEASURES}, AVG(wait_min)"
        f" FROM visits WHERE {COMPLETE} GROUP BY run_id, {hour}, {offset}, specialty_idx"
    )
    op.execute(
        "INSERT INTO daily_pathology (run_id, day_local_ms, pathology_idx, specialty_idx,"
        " month_local_ms, arrivals, treated, left_without_being_seen, wait_sum_min,"
        " los_sum_min, mean_wait_min)"
        f" SELECT run_id, {day}, pathology_idx, MIN(specialty_idx), {_month_start(day)},"
        f" {MEASURES}, AVG(wait_min) FROM visits"
        f" WHERE {COMPLETE} AND pathology_idx IS NOT NULL GROUP BY run_id, {day}, pathology_idx"
    )
    month = _month_start("arrival_local_ms")
    op.execute(
        "INSERT INTO monthly_specialty (run_id, month_local_ms, specialty_idx, arrivals, treated,"
        " left_without_being_seen, mean_wait_min)"
        f" SELECT run_id, {month}, specialty_idx, COUNT(*), COUNT(wait_min),"
        f" COALESCE(SUM(CASE WHEN disposition = {LWBS} THEN 1 ELSE 0 END), 0), AVG(wait_min)"
        f" FROM visits WHERE {COMPLETE} GROUP BY run_id, {month}, specialty_idx"
    )


def _sums() -> list[sa.Column[Any]]:
    return [
        sa.Column("arrivals", sa.Integer(), nullable=False),
        sa.Column("treated", sa.Integer(), nullable=False),
        sa.Column("left_without_being_seen", sa.Integer(), nullable=False),
        sa.Column("wait_sum_min", sa.Float(), nullable=False),
        sa.Column("los_sum_min", sa.Float(), nullable=False),
    ]


def downgrade() -> None:
    op.drop_index("ix_visits_arrival", table_name="visits")
    op.create_index("ix_visits_arrival", "visits", VISITS_ARRIVAL)
    op.drop_index("ix_treatments_patient", table_name="treatments")
    for table in (
        "performance_metrics",
        "monthly_specialty",
        "daily_pathology",
        "hourly_specialty",
    ):
        op.drop_table(table)
    op.create_table(
        "daily_pathology",
        sa.Column("run_id", RowId, nullable=False),
        sa.Column("day_local_ms", sa.BigInteger(), nullable=False),
        sa.Column("pathology_idx", sa.Integer(), nullable=False),
        *_sums(),
        _fk("daily_pathology"),
        sa.PrimaryKeyConstraint(
            "run_id", "day_local_ms", "pathology_idx", name=op.f("pk_daily_pathology")
        ),
    )
    op.create_table(
        "hourly_specialty",
        sa.Column("run_id", RowId, nullable=False),
        sa.Column("hour_local_ms", sa.BigInteger(), nullable=False),
        sa.Column("specialty_idx", sa.Integer(), nullable=False),
        *_sums(),
        _fk("hourly_specialty"),
        sa.PrimaryKeyConstraint(
            "run_id", "hour_local_ms", "specialty_idx", name=op.f("pk_hourly_specialty")
        ),
    )
    hour = f"(arrival_local_ms / {HOUR}) * {HOUR}"
    day = f"(arrival_local_ms / {DAY}) * {DAY}"
    op.execute(
        f"INSERT INTO hourly_specialty SELECT run_id, {hour}, specialty_idx, {MEASURES}"
        f" FROM visits WHERE {COMPLETE} GROUP BY run_id, {hour}, specialty_idx"
    )
    op.execute(
        f"INSERT INTO daily_pathology SELECT run_id, {day}, pathology_idx, {MEASURES}"
        f" FROM visits WHERE {COMPLETE} AND pathology_idx IS NOT NULL"
        f" GROUP BY run_id, {day}, pathology_idx"
    )
