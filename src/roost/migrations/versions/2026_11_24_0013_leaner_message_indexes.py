"""Fewer index entries a message: partial unique indexes, no second account index on channel messages

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 17:30:00.000000

A transactional message has no broadcast and no sequence step, yet each of its versions (queued,
sending, sent) was written into both (…, contact_id) unique indexes and the unfinished-broadcast
index under NULL keys. A NULL never collides, so indexing only the rows that have the column
keeps the same uniqueness. Channel messages' unique (account_id, idempotency_key) index already
serves every lookup by account.

SQLite changes a table's unique constraints by copying it: `foreign_keys_off` keeps the copy from
cascading into the messages' interactions.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from roost.migrations.batch import foreign_keys_off

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNFINISHED = "status IN ('queued', 'sending')"
UNFINISHED_BROADCAST = f"{UNFINISHED} AND broadcast_id IS NOT NULL"
UNIQUE_PER_CONTACT = ("broadcast_id", "sequence_email_id")


def upgrade() -> None:
    op.drop_index("ix_channel_messages_account_id", table_name="channel_messages")
    with foreign_keys_off(), op.batch_alter_table("messages") as batch_op:
        for column in UNIQUE_PER_CONTACT:
            name = f"uq_messages_{column}_contact_id"
            batch_op.drop_constraint(name, type_="unique")
            where = sa.text(f"{column} IS NOT NULL")
            batch_op.create_index(name, [column, "contact_id"], unique=True, sqlite_where=where, postgresql_where=where)
        batch_op.drop_index("ix_messages_unfinished_broadcast_id")
        where = sa.text(UNFINISHED_BROADCAST)
        batch_op.create_index(
            "ix_messages_unfinished_broadcast_id", ["broadcast_id"], sqlite_where=where, postgresql_where=where
        )


def downgrade() -> None:
    with foreign_keys_off(), op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index("ix_messages_unfinished_broadcast_id")
        where = sa.text(UNFINISHED)
        batch_op.create_index(
            "ix_messages_unfinished_broadcast_id", ["broadcast_id"], sqlite_where=where, postgresql_where=where
        )
        for column in UNIQUE_PER_CONTACT:
            name = f"uq_messages_{column}_contact_id"
            batch_op.drop_index(name)
            batch_op.create_unique_constraint(name, [column, "contact_id"])
    op.create_index("ix_channel_messages_account_id", "channel_messages", ["account_id"])
