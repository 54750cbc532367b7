"""The webhook fan-out: an `EventHandler` that makes one message per (endpoint, event) in the dispatcher's
transaction.

The dispatcher hands every event over exactly once, and the messages commit with the mark that the
event was handled (or are undone with it), so each subscribed endpoint gets each event exactly once
as a message row; the sender (`roost.webhook.sender`) then delivers it at least once. Endpoints are
read once per batch: one switched off, or on, applies from the next batch. Only active endpoints
get messages, so an inactive one receives nothing that happened while it was off.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from roost.contact import service as contact_service
from roost.events.dispatcher import PendingEvent
from roost.kit.clock import utcnow
from roost.webhook import catalogue, repository
from roost.webhook.types import ActiveEndpoint


class WebhookFanout:
    """Turns events into webhook messages: an `EventHandler` for `roost.events.dispatcher.Dispatcher`."""

    def __init__(self) -> None:
        self._endpoints: dict[int, list[ActiveEndpoint]] = {}
        self._contacts: dict[tuple[int, int], dict[str, Any]] = {}

    async def prepare(self, session: AsyncSession, batch: Sequence[PendingEvent]) -> None:
        """Read the active endpoints of the batch's accounts, and the contacts their events are about."""
        accounts = {event.account_id for event in batch if event.type in catalogue.TYPES}
        self._endpoints = await repository.active_endpoints(session, accounts)
        about: defaultdict[int, set[int]] = defaultdict(set)
        for event in batch:
            if event.contact_id is not None and self._subscribers(event):
                about[event.account_id].add(event.contact_id)
        self._contacts = {}
        for account_id, contact_ids in about.items():
            found = await contact_service.summaries(session, account_id=account_id, contact_ids=sorted(contact_ids))
            self._contacts.update(((account_id, contact_id), summary) for contact_id, summary in found.items())

    def _subscribers(self, event: PendingEvent) -> list[ActiveEndpoint]:
        if event.type not in catalogue.TYPES:
            return []
        return [
            endpoint
            for endpoint in self._endpoints.get(event.account_id, ())
            if catalogue.wants(endpoint.events, event.type)
        ]

    def wants(self, event: PendingEvent) -> bool:
        """Whether an active endpoint of the event's account subscribes to its type."""
        return bool(self._subscribers(event))

    async def handle(self, session: AsyncSession, event: PendingEvent) -> None:
        endpoints = self._subscribers(event)
        if not endpoints:
            return
        data = dict(event.data)
        if event.contact_id is not None:
            data["contact_id"] = event.contact_id
            data["contact"] = self._contacts.get((event.account_id, event.contact_id))
        body = catalogue.payload(event.type, event.occurred_at, data)
        now = utcnow()
        await repository.add_messages(
            session,
            [
                {
                    "account_id": event.account_id,
                    "endpoint_id": endpoint.id,
                    "event_id": event.id,
                    "event_type": event.type,
                    "contact_id": event.contact_id,
                    "body": body,
                    "status": "pending",
                    "attempts": 0,
                    "scheduled_attempts": 0,
                    "manual": False,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for endpoint in endpoints
            ],
        )
