"""Group commit for the Bird face's sends: the requests that arrive together are accepted together.

Accepting a message on its own takes a transaction of about eight round trips, and that cost,
not the work, is what limited how many a process could accept. Here a process's sends wait in one
queue; a single task takes everything waiting (up to a batch) and accepts it with `send_many`, a
handful of statements and one commit for the whole batch, while the next requests gather behind
it. A quiet process sends a lone request at once, so nothing waits for a timer; a busy one makes
bigger batches.

A request is answered only after its batch has committed, so an answered message is never lost;
one whose process dies before that gets no answer and can be retried (safely, with an
Idempotency-Key).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.channel.messages import send_many
from roost.channel.types import Accepted, Submission
from roost.db import WriteGate
from roost.errors import DomainError

log = logging.getLogger(__name__)

# Enough to spread a transaction's round trips thin; more only makes the first requests wait longer.
MAX_BATCH = 200

_Waiting = tuple[Submission, "asyncio.Future[Accepted | DomainError]"]


class Intake:
    """Accepts a process's sends in batches, one transaction each."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], write_gate: WriteGate) -> None:
        self._sessionmaker = sessionmaker
        self._write_gate = write_gate
        self._waiting: list[_Waiting] = []
        self._runner: asyncio.Task[None] | None = None

    async def send(self, submission: Submission) -> Accepted:
        """Accept the message once its batch has committed; raises the DomainError that refused it."""
        future: asyncio.Future[Accepted | DomainError] = asyncio.get_running_loop().create_future()
        self._waiting.append((submission, future))
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())
        outcome = await future
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    async def _run(self) -> None:
        """Accept batches until none waits; a later send starts a new runner."""
        batch: list[_Waiting] = []
        try:
            while self._waiting:
                batch = self._waiting[:MAX_BATCH]
                del self._waiting[:MAX_BATCH]
                await self._accept(batch)
        finally:
            self._runner = None
            # Only when the runner itself is cancelled (the process stopping): no request waits forever.
            for _, future in [*batch, *self._waiting]:
                future.cancel()

    async def _accept(self, batch: list[_Waiting]) -> None:
        try:
            async with self._write_gate(), self._sessionmaker() as session:
                outcomes = await send_many(session, [submission for submission, _ in batch])
                await session.commit()
        except Exception as error:
            if len(batch) > 1:
                # One submission's trouble (say, a race on its Idempotency-Key with another process)
                # must not fail the others: each is accepted on its own.
                log.warning("accepting %d messages together failed; accepting them one by one", len(batch))
                for waiting in batch:
                    await self._accept([waiting])
            elif not batch[0][1].done():
                batch[0][1].set_exception(error)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():  # its client may have gone: the message is accepted all the same
                future.set_result(outcome)
