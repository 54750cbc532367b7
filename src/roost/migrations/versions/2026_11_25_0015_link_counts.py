"""Tags and sequences count their contacts: `contacts_count`, kept by triggers on the links

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25 00:30:00.000000

A search by tag answers the number of matching contacts with every page. Counting a popular tag's
links each time (15,000 of them for a tag on 15 % of 100,000 contacts) was the largest part of the
search's database time, and of its latency at 32 connections. The count now lives on the tag (and
on the sequence, for a search by sequence name), and a trigger on the link table changes it with
every link inserted or deleted, by any statement, the cascades of a deleted contact or account
included, in the same transaction.

The price, on PostgreSQL: a transaction that links or unlinks a tag holds the tag's row until it
commits, so transactions tagging contacts with the same tag take turns at that moment. SQLite has
one writer at a time anyway, and counts row by row.

A migration that rebuilds `contact_tags` or `contact_sequences` on SQLite (copy, drop, rename) drops
their triggers with the old table and must create them again (`create_triggers`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (counted table, link table, the link's column naming the counted row)
COUNTED = (("tags", "contact_tags", "tag_id"), ("sequences", "contact_sequences", "sequence_id"))

BACKFILL = "UPDATE {table} SET contacts_count = (SELECT count(*) FROM {links} WHERE {links}.{key} = {table}.id)"
# PostgreSQL counts once per statement, from the rows it changed (a transition table): a row trigger
# would update the tag once per link, and a bulk load of 15,000 links to one tag in one transaction
# walks an ever longer chain of that row's versions (quadratic: minutes for 300,000 links). The tag
# rows are locked in id order first, so that two statements linking the same tags cannot deadlock;
# NO KEY UPDATE, as the UPDATE takes, leaves the key-share locks of the links' foreign key checks be.
POSTGRES_TRIGGERS = (
    """CREATE FUNCTION {links}_counted() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        step integer := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
    BEGIN
        PERFORM 1 FROM {table} WHERE id IN (SELECT {key} FROM changed) ORDER BY id FOR NO KEY UPDATE;
        UPDATE {table} SET contacts_count = {table}.contacts_count + step * counted.links
        FROM (SELECT {key}, count(*) AS links FROM changed GROUP BY {key}) AS counted
        WHERE {table}.id = counted.{key};
        RETURN NULL;
    END
    $$""",
    "CREATE TRIGGER {links}_counted_in AFTER INSERT ON {links} REFERENCING NEW TABLE AS changed "
    "FOR EACH STATEMENT EXECUTE FUNCTION {links}_counted()",
    "CREATE TRIGGER {links}_counted_out AFTER DELETE ON {links} REFERENCING OLD TABLE AS changed "
    "FOR EACH STATEMENT EXECUTE FUNCTION {links}_counted()",
)
SQLITE_TRIGGERS = (
    """CREATE TRIGGER {links}_counted_in AFTER INSERT ON {links} BEGIN
        UPDATE {table} SET contacts_count = contacts_count + 1 WHERE id = NEW.{key};
    END""",
    """CREATE TRIGGER {links}_counted_out AFTER DELETE ON {links} BEGIN
        UPDATE {table} SET contacts_count = contacts_count - 1 WHERE id = OLD.{key};
    END""",
)
POSTGRES_DROPS = (
    "DROP TRIGGER {links}_counted_in ON {links}",
    "DROP TRIGGER {links}_counted_out ON {links}",
    "DROP FUNCTION {links}_counted()",
)
SQLITE_DROPS = ("DROP TRIGGER {links}_counted_in", "DROP TRIGGER {links}_counted_out")


def upgrade() -> None:
    for table, links, key in COUNTED:
        op.add_column(table, sa.Column("contacts_count", sa.BigInteger(), server_default="0", nullable=False))
        op.execute(BACKFILL.format(table=table, links=links, key=key))
        create_triggers(table, links, key)


def downgrade() -> None:
    drops = POSTGRES_DROPS if _postgres() else SQLITE_DROPS
    for table, links, _ in COUNTED:
        for statement in drops:
            op.execute(statement.format(links=links))
        # In place (SQLite 3.35+ drops a column itself): a batch copy would lose the table's
        # AUTOINCREMENT and its expression index.
        op.drop_column(table, "contacts_count")


def create_triggers(table: str, links: str, key: str) -> None:
    """Count `links` rows into `table.contacts_count`: +1 for a row inserted, -1 for a row deleted."""
    for statement in POSTGRES_TRIGGERS if _postgres() else SQLITE_TRIGGERS:
        op.execute(statement.format(table=table, links=links, key=key))


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"
