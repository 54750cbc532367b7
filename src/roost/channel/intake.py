"""Group commit for the Bird face's sends: the requests that arrive together are accepted together.

Accepting a message on its own takes a transaction of about eight round trips, and that cost, not
the work, is what limited how many a process could accept. Here a process's sends are batched
(`roost.db.group_commit`): each batch is accepted by `send_many`, a handful of statements and one
commit for all of it, while the next requests gather behind it.

A request is answered only after its batch has committed, so an answered message is never lost;
one whose process dies before that gets no answer and can be retried (safely, with an
Idempotency-Key). If a batch fails as a whole (say, a race on an Idempotency-Key with another
process), its submissions are accepted one by one, so one cannot fail the others.
"""

from __future__ import annotations

import functools

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.channel.messages import send_many
from roost.channel.types import Accepted, Submission
from roost.db import Gate
from roost.db.group_commit import GroupCommit
from roost.webhook.service import Listeners

Intake = GroupCommit[Submission, Accepted]


def intake(sessionmaker: async_sessionmaker[AsyncSession], write_gate: Gate) -> Intake:
    """Accepts a process's sends in batches, one transaction each; the listeners are the process's."""
    return GroupCommit(
        sessionmaker, write_gate, functools.partial(send_many, listeners=Listeners()), name="channel intake"
    )
