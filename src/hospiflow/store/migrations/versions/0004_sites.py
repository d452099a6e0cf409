"""sites and their observed data: sites, import batches, quarantine, audit log, counts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 20:00:00

Additive only:

* new ``sites`` (a hospital; ``run_id`` its observed run), ``import_batches``,
  ``quarantine``, ``hourly_counts``, ``audit_log`` and ``api_tokens`` (hashed);
* ``visits`` gains the columns observed visits may keep once pseudonymised
  (``visit_key``, ``diagnosis_system``, ``age_years``, ``sex``, ``area``,
  ``doctor_key``), a unique partial index on ``(run_id, visit_key)`` (keyed
  visits only) and an index on ``(run_id, los_min)`` (the longest stay, for
  census reads).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", RowId, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("capacity_spaces", sa.Integer(), nullable=True),
        sa.Column("roster", Json, nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("run_id", RowId, nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_sites_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.UniqueConstraint("name", name=op.f("uq_sites_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "import_batches",
        sa.Column("id", RowId, nullable=False),
        sa.Column("site_id", RowId, nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("files", Json, nullable=False),
        sa.Column("actor", sa.Text(), server_default="", nullable=False),
        sa.Column("started_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("finished_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", Json, nullable=False),
        sa.CheckConstraint(
            "status IN ('complete', 'failed')", name=op.f("ck_import_batches_status")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_import_batches_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batches")),
    )
    op.create_index("ix_import_batches_site", "import_batches", ["site_id", "id"])
    op.create_table(
        "quarantine",
        sa.Column("id", RowId, nullable=False),
        sa.Column("site_id", RowId, nullable=False),
        sa.Column("batch_id", RowId, nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("field", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), server_default="", nullable=False),
        sa.Column("day_local_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["import_batches.id"],
            name=op.f("fk_quarantine_batch_id_import_batches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_quarantine_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    op.create_index("ix_quarantine_site", "quarantine", ["site_id", "reason", "id"])
    op.create_index("ix_quarantine_batch", "quarantine", ["batch_id", "id"])
    op.create_table(
        "hourly_counts",
        sa.Column("run_id", RowId, nullable=False),
        sa.Column("hour_ms", sa.BigInteger(), nullable=False),
        sa.Column("hour_local_ms", sa.BigInteger(), nullable=False),
        sa.Column("arrivals", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_hourly_counts_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "hour_ms", name=op.f("pk_hourly_counts")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "audit_log",
        sa.Column("id", RowId, nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("rows", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("details", Json, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at_ms"])
    op.create_table(
        "api_tokens",
        sa.Column("id", RowId, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("role IN ('viewer', 'admin')", name=op.f("ck_api_tokens_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    op.add_column("visits", sa.Column("visit_key", sa.Text(), nullable=True))
    op.add_column("visits", sa.Column("diagnosis_system", sa.String(8), nullable=True))
    op.add_column("visits", sa.Column("age_years", sa.SmallInteger(), nullable=True))
    op.add_column("visits", sa.Column("sex", sa.String(1), nullable=True))
    op.add_column("visits", sa.Column("area", sa.String(3), nullable=True))
    op.add_column("visits", sa.Column("doctor_key", sa.Text(), nullable=True))
    op.create_index(
        "ix_visits_key",
        "visits",
        ["run_id", "visit_key"],
        unique=True,
        sqlite_where=sa.text("visit_key IS NOT NULL"),
        postgresql_where=sa.text("visit_key IS NOT NULL"),
    )
    op.create_index("ix_visits_stay", "visits", ["run_id", "los_min"])


def downgrade() -> None:
    op.drop_index("ix_visits_stay", table_name="visits")
    op.drop_index("ix_visits_key", table_name="visits")
    with op.batch_alter_table("visits") as batch_op:
        for column in ("doctor_key", "area", "sex", "age_years", "diagnosis_system", "visit_key"):
            batch_op.drop_column(column)
    op.drop_table("api_tokens")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("hourly_counts")
    op.drop_index("ix_quarantine_batch", table_name="quarantine")
    op.drop_index("ix_quarantine_site", table_name="quarantine")
    op.drop_table("quarantine")
    op.drop_index("ix_import_batches_site", table_name="import_batches")
    op.drop_table("import_batches")
    op.drop_table("sites")
