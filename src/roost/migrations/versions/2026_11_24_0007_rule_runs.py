"""Rule runs: the run log of each rule, one row per (rule, contact, originating event)

Events recorded before this revision predate the rules engine: they are marked dispatched
here, so that upgrading does not run every rule on an installation's whole history at once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 01:10:24.123567
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from roost.db import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "rule_runs",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("rule_id", BIG_ID, nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("origin_id", sa.BigInteger(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("trigger_step", JSON_DOC, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("actions", JSON_DOC, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_rule_runs_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], name=op.f("fk_rule_runs_rule_id_rules"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_runs")),
        sa.UniqueConstraint(
            "rule_id", "contact_id", "origin_id", name=op.f("uq_rule_runs_rule_id_contact_id_origin_id")
        ),
    )
    with op.batch_alter_table("rule_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rule_runs_account_id"), ["account_id"], unique=False)
        batch_op.create_index("ix_rule_runs_rule_id_id", ["rule_id", "id"], unique=False)
    op.execute("UPDATE events SET dispatched_at = occurred_at WHERE dispatched_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("rule_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_rule_runs_rule_id_id")
        batch_op.drop_index(batch_op.f("ix_rule_runs_account_id"))
    op.drop_table("rule_runs")
