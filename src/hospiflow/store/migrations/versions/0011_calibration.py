"""a site's calibrations: the fitted scenario and its validation against held-out weeks

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 04:30:00

Additive only: the ``calibrations`` table (``hospiflow calibrate``, issue 12).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "calibrations",
        sa.Column("id", _ROW_ID, primary_key=True),
        sa.Column(
            "site_id", _ROW_ID, sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("until_local", sa.String(10), nullable=False),
        sa.Column("holdout_weeks", sa.Integer),
        sa.Column("replications", sa.Integer),
        sa.Column("scenario_toml", sa.Text, nullable=False),
        sa.Column("catalog_toml", sa.Text, nullable=False),
        sa.Column("criteria", _JSON),
        sa.Column("passed", sa.Boolean),
        sa.Column("details", _JSON),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_calibrations_site", "calibrations", ["site_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_calibrations_site", table_name="calibrations")
    op.drop_table("calibrations")
