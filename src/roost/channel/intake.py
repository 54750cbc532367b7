"""Group commit for the Bird face's sends: the requests that arrive together are accepted together.

Accepting a message on its own takes a transaction of about eight round trips, and that cost, not
the work, is what limited how many a process could accept. Here a process's sends are batched
(`roost.kit.batching`): each batch is accepted by `send_many`, a handful of statements and one
commit for all of it, while the next requests gather behind it.

A request is answered only after its batch has committed, so an answered message is never lost;
one whose process dies before that gets no answer and can be retried (safely, with an
Idempotency-Key). If a batch fails as a whole (say, a race on an Idempotency-Key with another
process), its submissions are accepted one by one, so one cannot fail the others.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.channel.messages import send_many
from roost.channel.types import Accepted, Submission
from roost.db import WriteGate
from roost.errors import DomainError
from roost.kit.batching import Batcher
from roost.webhook.service import Listeners

# Enough to spread a transaction's round trips thin; more only makes the first requests wait longer.
MAX_BATCH = 200


class Intake:
    """Accepts a process's sends in batches, one transaction each."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], write_gate: WriteGate) -> None:
        self._sessionmaker = sessionmaker
        self._write_gate = write_gate
        self._batcher = Batcher(self._accept, max_batch=MAX_BATCH, name="channel intake")
        self._listeners = Listeners()

    async def send(self, submission: Submission) -> Accepted:
        """Accept the message once its batch has committed; raises the DomainError that refused it."""
        outcome = await self._batcher(submission)
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    async def _accept(self, submissions: list[Submission]) -> list[Accepted | DomainError]:
        async with self._write_gate(), self._sessionmaker() as session:
            outcomes = await send_many(session, submissions, listeners=self._listeners)
            await session.commit()
        return outcomes
