"""Confirmation and notification messages: a message names its form, its sequence, the contact it tells of

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 00:51:51.162020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from roost.migrations.batch import foreign_keys_off

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (column, referenced table): each nullable, cleared when its row is deleted.
REFERENCES = (("form_id", "forms"), ("sequence_id", "sequences"), ("about_contact_id", "contacts"))
PENDING_CONFIRMATION = "kind = 'confirmation' AND status IN ('queued', 'sending')"


def _where(condition: str) -> dict[str, sa.TextClause]:
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def upgrade() -> None:
    with foreign_keys_off(), op.batch_alter_table("messages") as batch_op:
        for column, table in REFERENCES:
            batch_op.add_column(sa.Column(column, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))
            batch_op.create_foreign_key(f"fk_messages_{column}_{table}", table, [column], ["id"], ondelete="SET NULL")
    with op.batch_alter_table("messages") as batch_op:
        for column, _ in REFERENCES:
            batch_op.create_index(f"ix_messages_{column}", [column], **_where(f"{column} IS NOT NULL"))
        batch_op.create_index(
            "uq_messages_form_id_contact_id_pending",
            ["form_id", "contact_id"],
            unique=True,
            **_where(PENDING_CONFIRMATION),
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index("uq_messages_form_id_contact_id_pending")
        for column, _ in REFERENCES:
            batch_op.drop_index(f"ix_messages_{column}")
    with foreign_keys_off(), op.batch_alter_table("messages") as batch_op:
        for column, table in reversed(REFERENCES):
            batch_op.drop_constraint(f"fk_messages_{column}_{table}", type_="foreignkey")
            batch_op.drop_column(column)
