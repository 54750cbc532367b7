"""Short reads run on the driver's connection itself, past SQLAlchemy's execution layer.

SQLAlchemy builds and compiles the statement; what it adds to each execution (a greenlet hand-off,
an execution context, the compiled cache's key, a cursor adapter and a result) cost more than the
read: 190 µs of CPU for a two-column lookup on PostgreSQL against 75 µs through asyncpg alone. A
`DriverRead` compiles its statement once per dialect and hands the SQL to the driver: asyncpg's
`fetch` (with its own cache of prepared statements), or on SQLite the connection of
`roost.db.sqlite`, inline on the engine of short reads.

The driver gets what needs nothing of SQLAlchemy's result and bind processing: parameters of
plain int and str, columns as the driver gives them (integers, text), LIMIT and OFFSET written
into the SQL (`literal_execute`) as integers. A statement with an expanding IN or a converted
parameter runs through SQLAlchemy, as does every statement on any other driver, and so does a
read the driver fails: SQLAlchemy runs it again, raising its own error and invalidating a
connection that has gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import Select

from roost.db.sqlite import SQLiteConnection

AnySelect = Select[*tuple[Any, ...]]


class _Compiled:
    __slots__ = ("constants", "direct", "literal_names", "names", "sql")

    def __init__(self, statement: AnySelect, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        # A converted parameter would reach the driver unconverted; an expanding IN needs its SQL
        # written for each list.
        self.direct = not compiled._bind_processors and not any(bind.expanding for bind in compiled.binds.values())
        self.sql = compiled.string
        self.literal_names = frozenset(bind.key for bind in compiled.literal_execute_params)
        self.names = tuple(name for name in compiled.positiontup or () if name not in self.literal_names)
        # The values the statement carries itself (a literal of a function call, bound).
        self.constants = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}


class DriverRead:
    """A read statement run on the connection's driver where it can be; `rows` answers its rows."""

    def __init__(self, statement: AnySelect) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _Compiled(self.statement, dialect)
        return compiled

    async def rows(self, connection: AsyncConnection, parameters: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        compiled = self._for(connection.dialect)
        if not compiled.direct:
            return await self._through_sqlalchemy(connection, parameters)
        sql = compiled.sql
        for name in compiled.literal_names:
            # int() refuses anything but an integer: only numbers are written into the SQL.
            sql = sql.replace(f"__[POSTCOMPILE_{name}]", str(int(parameters[name])))
        constants = compiled.constants
        values = [constants[name] if name in constants else parameters[name] for name in compiled.names]
        raw = await _pooled(connection)
        try:
            if isinstance(raw.dbapi_connection, SQLiteConnection):
                return await raw.dbapi_connection.fetch(sql, values)
            if connection.dialect.driver == "asyncpg":
                records = await raw.driver_connection.fetch(sql, *values)  # type: ignore[union-attr]
                return cast(list[Sequence[Any]], records)  # asyncpg's Records
        except Exception:
            # Run again by SQLAlchemy (a read may run twice), which raises its own error for the
            # failure and, when the connection has gone (a restarted server), invalidates it so
            # that the pool does not hand it out again.
            return await self._through_sqlalchemy(connection, parameters)
        return await self._through_sqlalchemy(connection, parameters)

    async def _through_sqlalchemy(
        self, connection: AsyncConnection, parameters: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        return (await connection.execute(self.statement, dict(parameters))).all()


async def _pooled(connection: AsyncConnection) -> PoolProxiedConnection:
    """The connection's pooled DBAPI connection: at hand while it is valid, without the greenlet
    hand-off of `get_raw_connection`, which is there for the reconnection of an invalidated one."""
    sync = connection.sync_connection
    if sync is not None and not sync.invalidated and not sync.closed:
        return sync.connection
    return await connection.get_raw_connection()
