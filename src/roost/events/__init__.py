"""Domain events, recorded as rows in the transaction of the change (ARCHITECTURE: request flow).

The dispatcher (`roost.events.dispatcher`) hands each row, once, to the consumers of events
(rules today, webhooks later). A change made while handling an event is caused by it: inside
`caused_by`, the events the change records carry the chain's origin and a depth one deeper,
so that rules can stop chains (CONVENTIONS §7).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

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
