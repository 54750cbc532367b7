"""Domain events, recorded as rows in the transaction of the change (ARCHITECTURE: request flow)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from roost.models import Event


def record(
    session: AsyncSession,
    *,
    account_id: int,
    type: str,
    contact_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Add an event row; it commits (or not) with the change that caused it."""
    event = Event(account_id=account_id, type=type, contact_id=contact_id, data=data or {})
    session.add(event)
    return event
