"""SQLite never hands an id out twice: every table keyed by `id` is declared AUTOINCREMENT

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 20:20:00.000000

Without AUTOINCREMENT SQLite numbers a new row one past the largest id left, so deleting a table's
newest row gave its id to the next row, of any account. A client that kept a deleted contact's id
reached another contact; a click in an old email, whose link is signed with its message's id, was
recorded for the message that took that id. PostgreSQL's sequences never reuse an id: this
migration does nothing there.

SQLite cannot add AUTOINCREMENT in place. Each table is copied into one declared with it (the rows
keep their ids, and SQLite counts on from the largest), the original is dropped, the copy renamed,
and the indexes are created again from their own SQL: batch mode's reflection would drop the
expression index on lower(email). Foreign keys are off meanwhile, so dropping a table cascades into
nothing, and checked at the end.
"""

import re
from collections.abc import Sequence

from alembic import op
from sqlalchemy.engine import Connection

from roost.migrations.batch import foreign_keys_off

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every table keyed by an integer `id` (the order does not matter: foreign keys are off).
TABLES = (
    "accounts", "jobs", "access_tokens", "contacts", "custom_fields", "events", "tags", "appointments",
    "notes", "tasks", "broadcasts", "rules", "segments", "sequences", "forms", "sequence_emails",
    "captured_mail", "interactions", "rule_runs", "page_view_days", "conversions", "webhook_endpoints",
    "webhook_messages", "webhook_deliveries", "channels", "template_projects", "template_versions", "media",
    "channel_messages", "messages",
)  # fmt: skip
COPY = "_roost_copy"
PLAIN_ID = re.compile(r"(\n\s*)id INTEGER NOT NULL,")
TABLE_KEY = re.compile(r",\s*((?:CONSTRAINT \w+ )?)PRIMARY KEY \(id\)")
KEYED_ID = re.compile(r"(\n\s*)id INTEGER NOT NULL ((?:CONSTRAINT \w+ )?)PRIMARY KEY,")
COUNTED_ID = re.compile(r"(\n\s*)id INTEGER NOT NULL ((?:CONSTRAINT \w+ )?)PRIMARY KEY AUTOINCREMENT,")


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)


def _rebuild(*, autoincrement: bool) -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    with foreign_keys_off(TABLES):
        for table in TABLES:
            _copy(connection, table, autoincrement=autoincrement)
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"foreign keys broken by the copy: {broken[:5]}")


def _copy(connection: Connection, table: str, *, autoincrement: bool) -> None:
    schema = "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type = ? AND sql IS NOT NULL"
    [created] = connection.exec_driver_sql(schema, (table, "table")).scalars().all()
    indexes = connection.exec_driver_sql(schema, (table, "index")).scalars().all()
    columns = ", ".join(f'"{row[1]}"' for row in connection.exec_driver_sql(f'PRAGMA table_info("{table}")'))
    connection.exec_driver_sql(_declaration(created, table, autoincrement=autoincrement))
    connection.exec_driver_sql(f'INSERT INTO {COPY} ({columns}) SELECT {columns} FROM "{table}"')  # noqa: S608 (our names)
    connection.exec_driver_sql(f'DROP TABLE "{table}"')
    connection.exec_driver_sql(f'ALTER TABLE {COPY} RENAME TO "{table}"')
    for index in indexes:
        connection.exec_driver_sql(index)


def _declaration(created: str, table: str, *, autoincrement: bool) -> str:
    """The table's CREATE TABLE, for the copy, with `id` declared AUTOINCREMENT (or no longer)."""
    head = re.match(rf'CREATE TABLE ("?){re.escape(table)}\1\s*\(', created)
    body = "" if head is None else created[head.end() :]
    key = TABLE_KEY.search(body)
    if autoincrement and key is not None and PLAIN_ID.search(body):
        # Only a column key takes AUTOINCREMENT: the table key, with its name, moves onto the column.
        body = body[: key.start()] + body[key.end() :]
        body = PLAIN_ID.sub(
            lambda column: f"{column[1]}id INTEGER NOT NULL {key[1]}PRIMARY KEY AUTOINCREMENT,", body, count=1
        )
    elif autoincrement and KEYED_ID.search(body):  # the column key a downgrade left
        body = KEYED_ID.sub(r"\1id INTEGER NOT NULL \2PRIMARY KEY AUTOINCREMENT,", body, count=1)
    elif not autoincrement and COUNTED_ID.search(body):
        # A column key on an INTEGER column is the rowid, as the table key was.
        body = COUNTED_ID.sub(r"\1id INTEGER NOT NULL \2PRIMARY KEY,", body, count=1)
    else:
        raise RuntimeError(f"unexpected declaration of {table}: {created[:200]}")
    return f"CREATE TABLE {COPY} (" + body
