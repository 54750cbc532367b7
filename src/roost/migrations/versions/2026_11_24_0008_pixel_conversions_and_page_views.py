"""The pixel: conversions keyed by the site's event id, clicks found by contact, page views per day

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 01:55:52.500320

Conversions recorded before this revision keep `attribution` `{}`: they are not attributed
after the fact, so no email's `altv`/`ltv` changes on upgrading.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "page_view_days",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("page_views", sa.BigInteger(), nullable=False),
        sa.Column("identified", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_page_view_days_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_view_days")),
        sa.UniqueConstraint("account_id", "day", name=op.f("uq_page_view_days_account_id_day")),
    )
    with op.batch_alter_table("conversions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_conversions_account_id_event_id"), ["account_id", "event_id"])
    op.create_index("ix_interactions_contact_id_type_created_at", "interactions", ["contact_id", "type", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_interactions_contact_id_type_created_at", table_name="interactions")
    with op.batch_alter_table("conversions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_conversions_account_id_event_id"), type_="unique")
        batch_op.drop_column("event_id")
    op.drop_table("page_view_days")
