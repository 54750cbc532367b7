"""Group commit: the writes of a process that arrive together commit together.

A write of its own is a transaction of several round trips (BEGIN, its checks, its INSERTs,
COMMIT), and under load that cost, not the work, limits how many a process can take. A
`GroupCommit` batches the calls (`roost.kit.batching`): a batch is written by one call of its
`write_many`, a handful of statements and one commit for all of it, while the next calls gather
behind it. A quiet process writes a lone call at once.

A call returns only after its batch has committed, so an answered write is never lost; one whose
process dies before that gets no answer and can be retried. `write_many` answers each item with its
result or the DomainError that refused it (a refused item must change nothing). If a batch fails as
a whole (a race with another process on a unique key), its items are written one by one, so one
cannot fail the others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.db.engine import Gate
from roost.errors import DomainError
from roost.kit.batching import Batcher

Item = TypeVar("Item")
Result = TypeVar("Result")

WriteMany = Callable[[AsyncSession, list[Item]], Awaitable[Sequence[Result | DomainError]]]

# Enough to spread a transaction's round trips thin; more only makes the first calls wait longer.
MAX_BATCH = 200


class GroupCommit(Generic[Item, Result]):
    """Writes items in batches, one transaction each; a call answers its item's result."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        write_gate: Gate,
        write_many: WriteMany[Item, Result],
        *,
        name: str,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._write_gate = write_gate
        self._write_many = write_many
        self._batcher = Batcher(self._write, max_batch=MAX_BATCH, name=name)

    async def __call__(self, item: Item) -> Result:
        """The item's result once its batch has committed; raises the DomainError that refused it."""
        outcome = await self._batcher(item)
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    async def _write(self, items: list[Item]) -> Sequence[Result | DomainError]:
        async with self._write_gate(), self._sessionmaker() as session:
            outcomes = await self._write_many(session, items)
            await session.commit()
        return outcomes
