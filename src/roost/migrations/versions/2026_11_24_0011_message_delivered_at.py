"""When a message was delivered, as the relay's success DSN reports it

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 06:12:54.634204

A nullable column: SQLite adds it in place (ALTER TABLE ADD COLUMN), without copying
`messages`; only the downgrade copies the table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from roost.db import UTCDateTime
from roost.migrations.batch import foreign_keys_off

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("delivered_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with foreign_keys_off(), op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("delivered_at")
