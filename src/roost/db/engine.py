"""Engines from the plain URLs users write (CONVENTIONS §11); Roost picks the drivers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from roost.db.sqlite import OneTripDBAPI

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def _with_driver(url: str, drivers: dict[str, str]) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")
    return parsed.set(drivername=drivers[backend]).render_as_string(hide_password=False)


def async_url(url: str) -> str:
    return _with_driver(url, _ASYNC_DRIVERS)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; busy_timeout makes writers queue
    # instead of failing at once when several processes share the file.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_read_pragmas(dbapi_connection: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def create_engine(url: str, *, pool_size: int = 10, synchronous_commit: bool = True) -> AsyncEngine:
    """An engine for the URL. `synchronous_commit=False` (PostgreSQL; ignored on SQLite) makes the
    commits of its connections return before PostgreSQL has flushed them to disk: an engine of its
    own for the work that may lose its last fraction of a second to a database crash, never the API's.
    """
    full = async_url(url)
    # Up to twice pool_size connections, and every one opened is kept. A pool that closes what it
    # opened beyond pool_size when it comes back (SQLAlchemy's default) made a process serving more
    # requests at once than that open a connection for nearly every request: on SQLite a thread, the
    # file, the pragmas and a cold page cache; on PostgreSQL a backend and its authentication. One
    # process, 32 connections reading contacts: SQLite 604-625 -> 721-827 requests a second;
    # PostgreSQL 969-1,095 -> 1,316-1,546, p99 72-74 -> 33-35 ms. The most open at once is the same.
    pool = {"pool_size": 2 * pool_size, "max_overflow": 0}
    if full.startswith("sqlite"):
        engine = create_async_engine(full, **pool, module=OneTripDBAPI())
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = {} if synchronous_commit else {"server_settings": {"synchronous_commit": "off"}}
    engine = create_async_engine(full, **pool, pool_pre_ping=False, connect_args=connect_args)
    # An executemany INSERT goes as multi-row statements: asyncpg's own executemany has the server run
    # the statement once per row, which cost a `messages` row 85 µs of PostgreSQL time against 49 µs.
    engine.dialect.use_insertmanyvalues_wo_returning = True
    return engine


def create_sessionmaker(engine: AsyncEngine, *, reading: bool = False) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info={"reading": reading})


def is_reading(session: AsyncSession) -> bool:
    """Whether the session came from a read-only maker: what it writes would not be committed."""
    return bool(session.info.get("reading"))


# What write transactions pass through: a WriteGate, or no_gate where nothing else writes.
Gate = Callable[[], contextlib.AbstractAsyncContextManager[None]]


@contextlib.asynccontextmanager
async def no_gate() -> AsyncIterator[None]:
    yield


class WriteGate:
    """Lets one write transaction of this process at a time reach SQLite.

    SQLite has a single writer. When many connections of one process contend for it,
    the losers sleep in SQLite's busy handler with growing back-off and the tail latency
    reaches seconds; queueing them on an asyncio lock instead hands the file over in
    order, at once. PostgreSQL locks rows, not the database, so there the gate is open.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        if self._lock is None:
            yield
            return
        async with self._lock:
            yield


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for requests that only read.

    On PostgreSQL they run in autocommit: under READ COMMITTED every statement takes its
    own snapshot anyway, so an explicit transaction only adds the BEGIN and COMMIT round
    trips. SQLite's driver opens no transaction for SELECTs, so there it is the same maker.
    """
    return create_statement_sessionmaker(engine, reading=True)


def create_statement_sessionmaker(engine: AsyncEngine, *, reading: bool = False) -> async_sessionmaker[AsyncSession]:
    """Sessions whose every statement commits on its own on PostgreSQL (autocommit): for reads, and
    for a change made by one statement, which is atomic without a BEGIN and a COMMIT round trip.
    On SQLite, the usual sessions.
    """
    return create_sessionmaker(_statement_engine(engine), reading=reading)


def create_read_engine(engine: AsyncEngine) -> AsyncEngine:
    """The engine of the short reads that most requests make: the token lookups, a contact, a page
    of a search by tag.

    PostgreSQL: `engine` in autocommit, as the statement sessions have it. SQLite: an engine of its own on the
    same file, whose connections cannot write (`PRAGMA query_only`) and run their statements on the
    event loop's thread rather than crossing to the driver's (`roost.db.sqlite._InlineCursor`):
    a contact read took half the CPU. A statement still running after about 2 ms is interrupted
    and run again in the driver's thread, so a long one costs the other requests that much at
    most. The most recently returned connection is handed out first (LIFO): a read holds one for a
    moment, so one or two connections serve, with warm caches. An in-memory database is private
    to a connection: there it is `engine` itself.
    """
    if engine.dialect.name != "sqlite":
        return _statement_engine(engine)
    if engine.url.database in (None, "", ":memory:"):
        return engine
    pool_size = engine.pool.size()  # type: ignore[attr-defined]  # a QueuePool, as create_engine makes
    read = create_async_engine(
        engine.url, pool_size=pool_size, max_overflow=0, pool_use_lifo=True, module=OneTripDBAPI(inline=True)
    )
    event.listen(read.sync_engine, "connect", _sqlite_read_pragmas)
    return read


def _statement_engine(engine: AsyncEngine) -> AsyncEngine:
    """The engine whose every statement commits on its own on PostgreSQL (autocommit); on SQLite, itself."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine
