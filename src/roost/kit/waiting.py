"""Waiting in background loops: for whichever comes first of a few events and a timeout."""

from __future__ import annotations

import asyncio


async def first_of(*events: asyncio.Event, seconds: float) -> None:
    """Return when any of the events is set, or after `seconds`."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
