"""Reads run on the driver's connection (roost.db.driver): the rows SQLAlchemy would give, on the
engine of short reads of either database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Integer, bindparam, event, func, select, text
from sqlalchemy.exc import DBAPIError

from roost.db.driver import DriverRead
from roost.models import Tag
from tests.helpers import Api

# Parameters of each kind a DriverRead takes: bound int and str, a constant the statement carries
# (substr's 1 and 4), and LIMIT/OFFSET written into the SQL.
TAGS = DriverRead(
    select(Tag.id, func.substr(Tag.name, 1, 4))
    .where(Tag.account_id == bindparam("account_id"), Tag.name.like(bindparam("pattern")))
    .order_by(Tag.id.desc())
    .limit(bindparam("limit", type_=Integer, literal_execute=True))
    .offset(bindparam("offset", type_=Integer, literal_execute=True))
)


async def _rows(app: FastAPI, read: DriverRead, parameters: dict[str, Any]) -> tuple[list[Any], list[Any], int]:
    """The rows of `read.rows`, the rows SQLAlchemy gives for its statement, and how many statements
    `read.rows` ran through SQLAlchemy."""
    engine = app.state.roost.read_engine.sync_engine
    runs: list[str] = []

    def count(*args: Any) -> None:
        runs.append(args[2])  # the statement

    async with app.state.roost.read_engine.connect() as connection:
        event.listen(engine, "before_cursor_execute", count)
        try:
            direct = [tuple(row) for row in await read.rows(connection, parameters)]
        finally:
            event.remove(engine, "before_cursor_execute", count)
        through = [tuple(row) for row in (await connection.execute(read.statement, parameters)).all()]
    return direct, through, len(runs)


async def test_rows_are_those_sqlalchemy_gives(app: FastAPI, api: Api, other_api: Api) -> None:
    ids = [(await api.created("/tags", {"name": f"driver-{n}"}))["tag_id"] for n in range(5)]
    await other_api.created("/tags", {"name": "driver-other"})
    parameters = {"account_id": api.account.id, "pattern": "driver-%", "limit": 2, "offset": 1}
    direct, through, sqlalchemy_runs = await _rows(app, TAGS, parameters)
    assert direct == through == [(ids[3], "driv"), (ids[2], "driv")]
    assert sqlalchemy_runs == 0  # the driver ran it
    # Each page size and offset writes its own SQL; the first one's is not reused.
    direct, through, _ = await _rows(app, TAGS, {**parameters, "limit": 10, "offset": 0})
    assert direct == through == [(tag_id, "driv") for tag_id in reversed(ids)]
    nothing = {**parameters, "pattern": "no such tag%"}
    assert await _rows(app, TAGS, nothing) == ([], [], 0)


async def test_only_integers_are_written_into_the_sql(app: FastAPI, api: Api) -> None:
    parameters = {"account_id": api.account.id, "pattern": "%", "limit": "1; DELETE FROM tags", "offset": 0}
    async with app.state.roost.read_engine.connect() as connection:
        with pytest.raises(ValueError, match="invalid literal"):
            await TAGS.rows(connection, parameters)


async def test_statements_the_driver_cannot_take_as_they_are_run_through_sqlalchemy(app: FastAPI, api: Api) -> None:
    ids = [(await api.created("/tags", {"name": f"listed-{n}"}))["tag_id"] for n in range(3)]
    # An expanding IN, and a timestamp parameter that SQLAlchemy converts for the driver.
    listed = DriverRead(select(Tag.id).where(Tag.id.in_(bindparam("ids", expanding=True))).order_by(Tag.id))
    since = DriverRead(
        select(Tag.id)
        .where(
            Tag.account_id == bindparam("account_id"), Tag.created_at > bindparam("since", type_=Tag.created_at.type)
        )
        .order_by(Tag.id)
    )
    first_two = [(ids[0],), (ids[1],)]
    assert await _rows(app, listed, {"ids": ids[:2]}) == (first_two, first_two, 1)
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    direct, through, sqlalchemy_runs = await _rows(app, since, {"account_id": api.account.id, "since": epoch})
    assert direct == through == [(tag_id,) for tag_id in ids]
    assert sqlalchemy_runs == 1


async def test_a_lost_connection_fails_through_sqlalchemy_and_leaves_the_pool(app: FastAPI, api: Api) -> None:
    engine = app.state.roost.read_engine
    if engine.dialect.name != "postgresql":
        pytest.skip("a server to lose: PostgreSQL")
    tag_id = (await api.created("/tags", {"name": "survivor"}))["tag_id"]
    parameters = {"account_id": api.account.id, "pattern": "%", "limit": 1, "offset": 0}
    async with engine.connect() as connection:
        backend = await connection.scalar(text("SELECT pg_backend_pid()"))
        async with engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        with pytest.raises(DBAPIError) as failure:
            await TAGS.rows(connection, parameters)
        assert failure.value.connection_invalidated
    # The pool made a new connection rather than handing out the dead one.
    async with engine.connect() as connection:
        assert [tuple(row) for row in await TAGS.rows(connection, parameters)] == [(tag_id, "surv")]
