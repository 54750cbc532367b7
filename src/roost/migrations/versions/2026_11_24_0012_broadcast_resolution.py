"""How far a sending broadcast's recipients are queued, while they are queued in chunks

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 07:50:00.000000

A nullable column: SQLite adds it in place (ALTER TABLE ADD COLUMN); only the downgrade
copies the table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from roost.migrations.batch import foreign_keys_off

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.add_column("broadcasts", sa.Column("resolved_through", big_id, nullable=True))


def downgrade() -> None:
    with foreign_keys_off(), op.batch_alter_table("broadcasts") as batch_op:
        batch_op.drop_column("resolved_through")
