"""The counters of broadcasts and sequence emails (CONVENTIONS §7: stats), kept in SQL.

`UPDATE … SET n = n + k`: concurrent senders, trackers and bounce handlers never lose an
increment, and nothing is read back into Python first. Only marketing mail counts: a test
send, opened or bounced, leaves its broadcast's stats alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import Literal, Protocol, cast

from sqlalchemy import Table, update
from sqlalchemy.ext.asyncio import AsyncSession

from roost.models import MARKETING_KINDS, Broadcast, Message, SequenceEmail

Stat = Literal["sent", "opens", "clicks", "bounces", "spams", "unsubscribes"]
# The email a message belongs to: ("broadcast", id) or ("sequence", sequence email id).
Owner = tuple[str, int]


class Counted(Protocol):
    """What `owner` needs of a message: an ORM row or a claimed one."""

    @property
    def kind(self) -> str: ...
    @property
    def broadcast_id(self) -> int | None: ...
    @property
    def sequence_email_id(self) -> int | None: ...


def owner(message: Message | Counted) -> Owner | None:
    """The email whose stats a message counts in, or None when it counts nowhere."""
    return owner_of(kind=message.kind, broadcast_id=message.broadcast_id, sequence_email_id=message.sequence_email_id)


def owner_of(*, kind: str, broadcast_id: int | None, sequence_email_id: int | None) -> Owner | None:
    """`owner` from a message's columns."""
    if kind not in MARKETING_KINDS:
        return None
    if broadcast_id is not None:
        return ("broadcast", broadcast_id)
    if sequence_email_id is not None:
        return ("sequence", sequence_email_id)
    return None


async def count(session: AsyncSession, message: Message, stat: Stat) -> None:
    """Add one to a counter of the email the message belongs to."""
    await count_many(session, [message], stat)


async def count_many(session: AsyncSession, messages: Iterable[Message | Counted], stat: Stat) -> None:
    """Add the messages to a counter of their emails: one UPDATE per email, not per message."""
    totals = Counter(key for key in map(owner, messages) if key is not None)
    for (kind, owner_id), amount in totals.items():
        model: type[Broadcast] | type[SequenceEmail] = Broadcast if kind == "broadcast" else SequenceEmail
        table = cast(Table, model.__table__)  # Core: the ORM bulk-update path costs more than the UPDATE
        await session.execute(update(table).where(table.c.id == owner_id).values({stat: table.c[stat] + amount}))


async def add_value(session: AsyncSession, email: Owner, amount: Decimal) -> None:
    """Add a conversion's value to the email's `conversion_value`, the sum behind `altv`/`ltv` (negative: take
    it back). An email deleted since changes nothing."""
    kind, owner_id = email
    model: type[Broadcast] | type[SequenceEmail] = Broadcast if kind == "broadcast" else SequenceEmail
    await session.execute(
        update(model).where(model.id == owner_id).values(conversion_value=model.conversion_value + amount)
    )
