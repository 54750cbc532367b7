"""Helpers shared by migrations."""

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op


@contextlib.contextmanager
def foreign_keys_off() -> Iterator[None]:
    """On SQLite, foreign keys off while batch mode copies `messages` (to change its constraints).

    SQLite changes a table's constraints by copying it and dropping the original, and with
    foreign keys on, dropping `messages` deletes every interaction of every message (ON DELETE
    CASCADE) and unlinks captured mail. The pragma does nothing inside a transaction that has
    written, which is only the case when this migration runs in the same transaction that
    created the table: then it is still empty and the copy loses nothing.
    """
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar() and connection.scalar(
        sa.text("SELECT EXISTS (SELECT 1 FROM messages)")
    ):
        raise RuntimeError("foreign keys cannot be turned off here: copying messages would delete interactions")
    try:
        yield
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
