from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from roost.models import WebhookDelivery, WebhookEndpoint, WebhookMessage


@dataclass(frozen=True, slots=True)
class CheckedUrl:
    """A webhook URL whose host resolved to addresses webhooks may reach (`service.checked_url`).

    Resolving can take seconds, so it is done before the change's session opens: on SQLite a writing
    session holds the process's write gate, and every other write would wait on the resolver.
    """

    value: str


@dataclass(frozen=True, slots=True)
class CreatedEndpoint:
    """A new endpoint, or one whose secret was just rotated: the secret is shown this once."""

    endpoint: WebhookEndpoint
    secret: str


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One attempt, with the message it carried as that message is now."""

    delivery: WebhookDelivery
    message: WebhookMessage


@dataclass(frozen=True, slots=True)
class ActiveEndpoint:
    """An endpoint the fan-out makes messages for: plain values, read once per batch of events."""

    id: int
    account_id: int
    events: frozenset[str]


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """A message a sender holds until `lease_until`, with what sending it needs."""

    id: int
    account_id: int
    endpoint_id: int
    event_type: str
    body: str
    attempts: int
    scheduled_attempts: int
    manual: bool
    url: str
    secret: str
    lease_until: datetime

    @property
    def webhook_id(self) -> str:
        return webhook_id(self.id)


def webhook_id(message_id: int) -> str:
    """The `webhook-id` of a message: the same on every attempt, so receivers can drop repeats."""
    return f"msg_{message_id}"
