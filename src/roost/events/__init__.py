"""Domain events, recorded as rows in the transaction of the change (ARCHITECTURE: request flow).

The dispatcher (`roost.events.dispatcher`) hands each row, once, to the consumers of events
(the rules engine and the webhook fan-out). A change made while handling an event is caused by it: inside
`caused_by`, the events the change records carry the chain's origin and a depth one deeper,
so that rules can stop chains (CONVENTIONS §7).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit.clock import utcnow_seconds
from roost.models import Event

_CAUSE = "roost.events.cause"


@contextlib.contextmanager
def caused_by(session: AsyncSession, *, origin_id: int, depth: int) -> Iterator[None]:
    """Events recorded in this block on `session` belong to the chain started by `origin_id`, at `depth`."""
    previous = session.info.get(_CAUSE)
    session.info[_CAUSE] = (origin_id, depth)
    try:
        yield
    finally:
        if previous is None:
            session.info.pop(_CAUSE, None)
        else:
            session.info[_CAUSE] = previous


def record(
    session: AsyncSession,
    *,
    account_id: int,
    type: str,
    contact_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Add an event row; it commits (or not) with the change that caused it."""
    origin_id, depth = session.info.get(_CAUSE, (None, 0))
    event = Event(
        account_id=account_id, type=type, contact_id=contact_id, data=data or {}, origin_id=origin_id, depth=depth
    )
    session.add(event)
    return event


async def record_many(
    session: AsyncSession, *, type: str, entries: Sequence[tuple[int, int | None, dict[str, Any]]]
) -> None:
    """Add events of one type, one `(account_id, contact_id, data)` each, in a single INSERT.

    For changes made in bulk (a sender's group commit), where an ORM object per event would cost
    more than the change itself. They commit (or not) with the change, as `record`'s do.
    """
    if not entries:
        return
    origin_id, depth = session.info.get(_CAUSE, (None, 0))
    now = utcnow_seconds()
    await session.execute(
        insert(Event),
        [
            {
                "account_id": account_id,
                "type": type,
                "contact_id": contact_id,
                "data": data,
                "origin_id": origin_id,
                "depth": depth,
                "occurred_at": now,
            }
            for account_id, contact_id, data in entries
        ],
    )
