"""Request dependencies shared by the faces: the unit of work and the app state."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from roost.api.state import AppState

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.roost
    return state


@contextlib.asynccontextmanager
async def unit_of_work(state: AppState, *, reading: bool) -> AsyncIterator[AsyncSession]:
    """Commit on success, roll back on any error; reads get the read-only maker, writes pass the write gate.

    A read is closed, not committed: it wrote nothing, and the commit would cost a round trip
    (SQLite: a hop to the driver's thread) on the most frequent requests.
    """
    gate = contextlib.nullcontext() if reading else state.write_gate()
    maker = state.read_sessionmaker if reading else state.sessionmaker
    async with gate, maker() as session:
        try:
            yield session
            if not reading:
                await session.commit()
        except BaseException:
            await session.rollback()
            raise


@contextlib.asynccontextmanager
async def read_connection(state: AppState) -> AsyncIterator[AsyncConnection]:
    """A Core connection of the engine of short reads (`roost.db.create_read_engine`): no ORM
    session to open and close around it, and on SQLite no crossing to the driver's thread."""
    async with state.read_engine.connect() as connection:
        yield connection


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request (ARCHITECTURE step 3), read-only for the read methods.

    scope="function" below makes the commit happen before the response is sent, so a
    client never sees a 2xx for a change that did not land.
    """
    async with unit_of_work(_state(request), reading=request.method in READ_METHODS) as session:
        yield session


async def write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A writing session whatever the method: for GETs that record something (a tracking pixel)."""
    async with unit_of_work(_state(request), reading=False) as session:
        yield session


async def app_state(request: Request) -> AppState:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hand-off that costs
    # more than the whole lookup.
    return _state(request)


StateDep = Annotated[AppState, Depends(app_state)]
SessionDep = Annotated[AsyncSession, Depends(db_session, scope="function")]
WriteSessionDep = Annotated[AsyncSession, Depends(write_session, scope="function")]
