"""SQLite through aiosqlite, one trip to the driver's thread per statement.

aiosqlite runs each connection in a thread of its own and SQLAlchemy's adapter crosses to it
for every DBAPI call: making a cursor, executing, fetching, closing it, four crossings per
statement, plus a rollback on every return to the pool even when no transaction is open. A
crossing is a queue put, a thread wake-up and a wake-up of the event loop back, and with a second
core free the two threads contend for the GIL on each one: a contact read cost 3.3 ms of CPU in
one process, against 1.8 ms per request with two processes sharing the cores.

Here a statement's execute, fetch and close run in one crossing, as aiosqlite's own
`execute_fetchall` does, and a commit or rollback with no transaction open stays on the event loop.
Everything else (server-side cursors, isolation levels, errors) is SQLAlchemy's adapter as is.

`OneTripDBAPI(inline=True)` makes connections whose statements run on the event loop's thread
until they prove long (see `_InlineCursor`), for the reads of `roost.db.create_read_engine`.
"""

from __future__ import annotations

import collections
import sqlite3
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT

_Outcome = tuple[Any, int, int | None, list[Any]]


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """In the driver's thread: the whole statement, its rows and what the cursor tells of it."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


# How long a statement may run on the event loop's thread before it moves to the driver's. A page
# of fifteen contacts with their tags takes 0.1-0.25 ms; counting the contacts of twenty tags
# (300,000 links) 110 ms.
INLINE_SECONDS = 0.002
# SQLite instructions between two looks at the clock (about 0.1 ms of a statement's work).
_INSTRUCTIONS_PER_LOOK = 1_000


def _run_inline(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """`_run` on the calling thread, interrupted (SQLITE_INTERRUPT) once it has run INLINE_SECONDS."""
    deadline = time.perf_counter() + INLINE_SECONDS

    def too_long() -> bool:
        return time.perf_counter() > deadline

    # A progress handler, rather than a count of instructions to abort at: SQLite counts a cached
    # statement's instructions across its executions, so such a count would stop short ones too.
    connection.set_progress_handler(too_long, _INSTRUCTIONS_PER_LOOK)
    try:
        return _run(connection, operation, parameters, many)
    finally:
        connection.set_progress_handler(None, 0)


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement crosses to the driver's thread once."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        # No driver cursor to make (a crossing): each statement makes, uses and closes its own.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            outcome: _Outcome = await self._connection._execute(
                _run, self._connection._conn, operation, parameters, many
            )
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._run(operation, seq_of_parameters, many=True)

    async def _async_soft_close(self) -> None:
        return None  # the driver's cursor is closed already: the rows are all here


class _InlineCursor(_OneTripCursor):
    """A cursor whose statement runs on the calling thread, the event loop's, without crossing,
    unless it proves long: past INLINE_SECONDS it is interrupted and run again in the driver's
    thread. Its connections cannot write (`PRAGMA query_only`), so running a statement
    again undoes nothing, and in WAL mode a reader never waits for a writer: nothing here sleeps
    in SQLite's busy handler while the event loop waits.

    A crossing cost more than the reads it carries: about 110 µs of CPU for a `SELECT 1` against
    30 inline; a contact read 700 µs against 335, a search by tag 1.8 ms against 0.9 (one process,
    16 requests at a time).
    """

    __slots__ = ()

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        # The driver's thread is idle: each call on this connection (the pragmas when it opens,
        # every statement since) is awaited before the next one starts.
        driver = self._connection._conn
        try:
            outcome = _run_inline(driver, operation, parameters, many)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_INTERRUPT:
                raise
            await super()._run(operation, parameters, many=many)
            return
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows)


class SQLiteConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _OneTripCursor

    async def fetch(self, operation: str, parameters: Sequence[Any]) -> list[Any]:
        """The rows of a statement, run as this connection's cursors run theirs (`roost.db.driver`)."""
        cursor = self._cursor_cls(self)
        await cursor._run(operation, parameters, many=False)
        return list(cursor._rows)

    def _in_transaction(self) -> bool:
        driver = self._connection._connection
        return driver is not None and bool(driver.in_transaction)

    def rollback(self) -> None:
        # Pool returns and read sessions roll back connections that never began a transaction.
        if self._in_transaction():
            super().rollback()

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()


class _InlineConnection(SQLiteConnection):
    __slots__ = ()
    _cursor_cls = _InlineCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module to give `create_async_engine(module=...)` for sqlite+aiosqlite URLs;
    with `inline`, one whose statements run on the event loop's thread."""

    def __init__(self, *, inline: bool = False) -> None:
        aiosqlite: ModuleType = __import__("aiosqlite")
        super().__init__(aiosqlite, sqlite3)
        self._connection_cls = _InlineConnection if inline else SQLiteConnection

    def connect(self, *arg: Any, **kw: Any) -> SQLiteConnection:
        adapted = super().connect(*arg, **kw)
        return self._connection_cls(self, adapted._connection)
