"""Partial indexes of unfinished messages: by due time for the claim, by broadcast for its end

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 02:00:00.000000

The (status, due_at) index made every claim read all unfinished messages to sort them by
id: with 100,000 queued, each batch of 200 scanned the whole queue. Whether a broadcast has
unfinished messages left read its sent ones too, more of them with every batch.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNFINISHED = "status IN ('queued', 'sending')"


def upgrade() -> None:
    op.drop_index("ix_messages_status_due_at", table_name="messages")
    op.create_index(
        "ix_messages_unfinished_due_at_id",
        "messages",
        ["due_at", "id"],
        sqlite_where=sa.text(UNFINISHED),
        postgresql_where=sa.text(UNFINISHED),
    )
    op.create_index(
        "ix_messages_unfinished_broadcast_id",
        "messages",
        ["broadcast_id"],
        sqlite_where=sa.text(UNFINISHED),
        postgresql_where=sa.text(UNFINISHED),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_unfinished_broadcast_id", table_name="messages")
    op.drop_index("ix_messages_unfinished_due_at_id", table_name="messages")
    op.create_index("ix_messages_status_due_at", "messages", ["status", "due_at"])
