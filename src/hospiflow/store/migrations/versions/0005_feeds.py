"""live feeds: message control ids, held out-of-order messages, per-site feed state

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 00:30:00

Additive only:

* ``feed_messages``: one row per HL7 message a site's feed took, keyed by
  ``(site_id, control_id)`` (MSH-10), so a retransmission is recognised and
  answered without being applied twice;
* ``feed_held``: pseudonymised changes of messages that came before their
  visit (a discharge before its registration), applied when it appears or
  quarantined after a time limit;
* ``feed_state``: per site, when the last message came and whether the
  rollups lag behind the visits (feeds refresh them periodically).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _site_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["site_id"], ["sites.id"], name=op.f(f"fk_{table}_site_id_sites"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "feed_messages",
        sa.Column("site_id", RowId, nullable=False),
        sa.Column("control_id", sa.Text(), nullable=False),
        sa.Column("received_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answer", sa.Text(), server_default="", nullable=False),
        _site_fk("feed_messages"),
        sa.PrimaryKeyConstraint("site_id", "control_id", name=op.f("pk_feed_messages")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "feed_held",
        sa.Column("id", RowId, nullable=False),
        sa.Column("site_id", RowId, nullable=False),
        sa.Column("visit_key", sa.Text(), nullable=False),
        sa.Column("received_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("change", Json, nullable=False),
        _site_fk("feed_held"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_held")),
    )
    op.create_index("ix_feed_held_visit", "feed_held", ["site_id", "visit_key"], unique=False)
    op.create_table(
        "feed_state",
        sa.Column("site_id", RowId, nullable=False),
        sa.Column("last_message_ms", sa.BigInteger(), nullable=True),
        sa.Column("messages", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rollups_dirty", sa.Boolean(), server_default=sa.false(), nullable=False),
        _site_fk("feed_state"),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_feed_state")),
    )


def downgrade() -> None:
    op.drop_table("feed_state")
    op.drop_index("ix_feed_held_visit", table_name="feed_held")
    op.drop_table("feed_held")
    op.drop_table("feed_messages")
