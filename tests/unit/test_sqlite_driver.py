"""The SQLite driver adapter (roost.db.sqlite): what the DBAPI tells SQLAlchemy after each statement."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError

from roost.db import create_engine, create_read_engine


async def test_statements_report_rows_counts_and_ids(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
            inserted = await connection.execute(text("INSERT INTO item (name) VALUES ('a')"))
            assert inserted.lastrowid == 1
            many = await connection.execute(
                text("INSERT INTO item (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}]
            )
            assert many.rowcount == 2
            returned = await connection.execute(text("INSERT INTO item (name) VALUES ('d') RETURNING id, name"))
            assert returned.all() == [(4, "d")]
            updated = await connection.execute(text("UPDATE item SET name = name || '!' WHERE id > 2"))
            assert updated.rowcount == 2
            rows = await connection.execute(text("SELECT id, name FROM item ORDER BY id"))
            assert list(rows.keys()) == ["id", "name"]
            assert rows.all() == [(1, "a"), (2, "b"), (3, "c!"), (4, "d!")]
            empty = await connection.execute(text("SELECT id FROM item WHERE id > 10"))
            assert empty.all() == []
            first = await connection.execute(text("SELECT id FROM item ORDER BY id"))
            assert first.fetchmany() == [(1,)]
            assert first.fetchmany(2) == [(2,), (3,)]
            streamed = await connection.stream(text("SELECT id FROM item ORDER BY id"))
            assert [row async for row in streamed] == [(1,), (2,), (3,), (4,)]
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO item (name) VALUES ('a')"))
    finally:
        await engine.dispose()


async def test_rollbacks_undo_open_transactions_only(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY)"))
            await connection.execute(text("INSERT INTO item (id) VALUES (1)"))
        async with engine.connect() as connection:
            await connection.execute(text("INSERT INTO item (id) VALUES (2)"))
            await connection.rollback()
            # Nothing open now: a second rollback and a commit are no-ops, not errors.
            await connection.rollback()
            await connection.commit()
            await connection.execute(text("INSERT INTO item (id) VALUES (3)"))
            await connection.commit()
        async with engine.connect() as connection:
            ids = (await connection.execute(text("SELECT id FROM item ORDER BY id"))).scalars().all()
        assert ids == [1, 3]
    finally:
        await engine.dispose()


def _record_thread(dbapi_connection: Any, _record: Any) -> None:
    """A function the statements can call: the thread SQLite runs them on."""
    driver = dbapi_connection.driver_connection._conn
    driver.create_function("thread_id", 0, threading.get_ident)


async def test_the_read_engine_reads_what_was_committed_on_the_loop_thread_and_cannot_write(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    reads = create_read_engine(engine)

    for each in (engine, reads):
        event.listen(each.sync_engine, "connect", _record_thread)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)"))
            await connection.execute(text("INSERT INTO item (name) VALUES ('a')"))
            writer_thread = await connection.scalar(text("SELECT thread_id()"))
        async with reads.connect() as connection:
            assert (await connection.execute(text("SELECT id, name FROM item"))).all() == [(1, "a")]
            # The statements run where the event loop does; the writer's cross to the driver's thread.
            assert await connection.scalar(text("SELECT thread_id()")) == threading.get_ident()
            assert writer_thread != threading.get_ident()
            with pytest.raises(OperationalError, match="readonly"):
                await connection.execute(text("INSERT INTO item (name) VALUES ('b')"))
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO item (name) VALUES ('c')"))
        async with reads.connect() as connection:
            names = (await connection.execute(text("SELECT name FROM item ORDER BY id"))).scalars().all()
        assert names == ["a", "c"]
    finally:
        await reads.dispose()
        await engine.dispose()


async def test_a_long_read_moves_to_the_drivers_thread_and_still_answers(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    reads = create_read_engine(engine)
    event.listen(reads.sync_engine, "connect", _record_thread)
    # Hundreds of thousands of instructions, far past the budget of a read on the event loop's thread.
    long_count = text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) "
        "SELECT count(*), thread_id() FROM n"
    )
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY)"))
        async with reads.connect() as connection:
            count, thread = (await connection.execute(long_count)).one()
            assert count == 200000
            assert thread != threading.get_ident()
            # The connection goes on running short statements in place.
            assert await connection.scalar(text("SELECT thread_id()")) == threading.get_ident()
    finally:
        await reads.dispose()
        await engine.dispose()
