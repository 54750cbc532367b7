"""Bird channels: channels, channel messages and their tags, template projects and versions, media

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 03:27:40.347799
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from roost.db import UTCDateTime
from roost.migrations.batch import foreign_keys_off

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
HAS_CHANNEL_MESSAGE = "channel_message_id IS NOT NULL"


def _id() -> sa.Column[int]:
    return sa.Column("id", BIG_ID, autoincrement=True, nullable=False)


def _public_id() -> sa.Column[object]:
    return sa.Column("uuid", sa.Uuid(), nullable=False)


def _account(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f(f"fk_{table}_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("uuid", name=op.f(f"uq_{table}_uuid")),
    ]


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def _index_account(table: str) -> None:
    op.create_index(op.f(f"ix_{table}_account_id"), table, ["account_id"])


def upgrade() -> None:
    op.create_table(
        "channels",
        _id(),
        _public_id(),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sender_email", sa.String(length=254), nullable=False),
        sa.Column("sender_name", sa.String(length=200), nullable=False),
        sa.Column("reply_to", sa.String(length=254), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        *_account("channels"),
    )
    _index_account("channels")

    op.create_table(
        "template_projects",
        _id(),
        _public_id(),
        sa.Column("name", sa.String(length=200), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        *_account("template_projects"),
    )
    _index_account("template_projects")

    op.create_table(
        "template_versions",
        _id(),
        _public_id(),
        sa.Column("project_id", BIG_ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("default_locale", sa.String(length=35), nullable=False),
        sa.Column("contents", JSON_DOC, nullable=False),
        sa.Column("variables", JSON_DOC, nullable=False),
        _time("created_at"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["template_projects.id"],
            name=op.f("fk_template_versions_project_id_template_projects"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("project_id", "number", name=op.f("uq_template_versions_project_id_number")),
        *_account("template_versions"),
    )
    _index_account("template_versions")

    op.create_table(
        "media",
        _id(),
        _public_id(),
        sa.Column("channel_id", BIG_ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        _time("upload_expires_at"),
        _time("created_at"),
        _time("uploaded_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_media_channel_id_channels"), ondelete="SET NULL"
        ),
        *_account("media"),
    )
    _index_account("media")

    op.create_table(
        "channel_messages",
        _id(),
        _public_id(),
        sa.Column("channel_id", BIG_ID, nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("use_case", sa.String(length=16), nullable=False),
        sa.Column("link_tracking", sa.Boolean(), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("from_email", sa.String(length=254), nullable=False),
        sa.Column("from_name", sa.String(length=200), nullable=False),
        sa.Column("reply_to", sa.String(length=254), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("attachments", JSON_DOC, nullable=False),
        sa.Column("receivers", JSON_DOC, nullable=False),
        sa.Column("tags", JSON_DOC, nullable=False),
        sa.Column("content", JSON_DOC, nullable=False),
        sa.Column("template_version_id", BIG_ID, nullable=True),
        _time("scheduled_for", nullable=True),
        _time("expires_at"),
        sa.Column("failure_code", sa.Integer(), nullable=True),
        sa.Column("failure_description", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        _time("last_status_at"),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_channel_messages_channel_id_channels"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["template_version_id"],
            ["template_versions.id"],
            name=op.f("fk_channel_messages_template_version_id_template_versions"),
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint(
            "account_id", "idempotency_key", name=op.f("uq_channel_messages_account_id_idempotency_key")
        ),
        *_account("channel_messages"),
    )
    _index_account("channel_messages")
    op.create_index("ix_channel_messages_channel_id_id", "channel_messages", ["channel_id", "id"])

    op.create_table(
        "channel_message_tags",
        sa.Column("channel_message_id", BIG_ID, nullable=False),
        sa.Column("tag_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_message_id"],
            ["channel_messages.id"],
            name=op.f("fk_channel_message_tags_channel_message_id_channel_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_channel_message_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("channel_message_id", "tag_id", name=op.f("pk_channel_message_tags")),
    )
    op.create_index(
        "ix_channel_message_tags_tag_id_channel_message_id", "channel_message_tags", ["tag_id", "channel_message_id"]
    )

    with foreign_keys_off(), op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("channel_message_id", BIG_ID, nullable=True))
        batch_op.create_foreign_key(
            "fk_messages_channel_message_id_channel_messages",
            "channel_messages",
            ["channel_message_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.create_index(
        "ix_messages_channel_message_id",
        "messages",
        ["channel_message_id"],
        sqlite_where=sa.text(HAS_CHANNEL_MESSAGE),
        postgresql_where=sa.text(HAS_CHANNEL_MESSAGE),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_channel_message_id", table_name="messages")
    with foreign_keys_off(), op.batch_alter_table("messages") as batch_op:
        batch_op.drop_constraint("fk_messages_channel_message_id_channel_messages", type_="foreignkey")
        batch_op.drop_column("channel_message_id")
    for table in ("channel_message_tags", "channel_messages", "media", "template_versions", "template_projects"):
        op.drop_table(table)
    op.drop_table("channels")
