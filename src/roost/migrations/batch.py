"""Helpers shared by migrations."""

import contextlib
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op


@contextlib.contextmanager
def foreign_keys_off(copied: Sequence[str] = ("messages",)) -> Iterator[None]:
    """On SQLite, foreign keys off while tables are copied (batch mode changing `messages`'s constraints).

    SQLite changes a table's constraints by copying it and dropping the original, and with
    foreign keys on, dropping `messages` deletes every interaction of every message (ON DELETE
    CASCADE) and unlinks captured mail. The pragma does nothing inside a transaction that has
    written, which is only the case when this migration runs in the same transaction that
    created the tables: then they are still empty and the copy loses nothing.
    """
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
        for table in copied:
            if connection.scalar(sa.text(f'SELECT EXISTS (SELECT 1 FROM "{table}")')):  # noqa: S608 (our table names)
                raise RuntimeError(f"foreign keys cannot be turned off here: copying {table} would delete rows")
    try:
        yield
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
