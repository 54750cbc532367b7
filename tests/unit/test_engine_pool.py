"""The engines Roost makes (roost.db.engine): how their pools treat connections, on the suite's database."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, text

from roost.db import create_engine
from tests.helpers import eventually


async def test_a_busy_process_keeps_the_connections_it_opened(database_url: str) -> None:
    # More requests at once than pool_size: the connections opened for them are reused by the next
    # ones, not closed and opened again for nearly every request.
    engine = create_engine(database_url, pool_size=2)
    opened: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda connection, _record: opened.append(connection))

    holding: list[object] = []

    async def read(release: asyncio.Event) -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            holding.append(connection)
            await release.wait()
            holding.remove(connection)

    try:
        for _ in range(3):
            release = asyncio.Event()
            readers = [asyncio.create_task(read(release)) for _ in range(4)]
            await eventually(lambda: len(holding) == 4, within=10)
            release.set()
            await asyncio.gather(*readers)
        assert len(opened) == 4
    finally:
        await engine.dispose()
