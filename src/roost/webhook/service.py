"""Webhook endpoints, their secrets and their delivery log (CONVENTIONS §7: webhooks).

Sending is the job of `roost.webhook.fanout` (one message per endpoint and event, made in the
dispatcher's transaction) and `roost.webhook.sender` (attempts, retries, the log).
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Collection, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from roost.errors import Invalid, NotFound
from roost.kit.clock import utcnow, utcnow_seconds
from roost.kit.paging import ListParams, Page
from roost.models import WebhookEndpoint, WebhookMessage
from roost.net import guard
from roost.webhook import catalogue, repository
from roost.webhook.catalogue import EventSpec
from roost.webhook.repository import DeliveryRepository, EndpointRepository
from roost.webhook.sender import DESTINATION_RULE, LEASE
from roost.webhook.types import CheckedUrl, CreatedEndpoint, DeliveryView

SEARCH_BY = ("url",)
ORDER_BY = ("url", "created_at")
DELIVERY_SEARCH_BY = ("event", "status", "error")
DELIVERY_ORDER_BY = ("created_at", "status_code", "latency_ms")
EVENT_SEARCH_BY = ("type",)
EVENT_ORDER_BY = ("type",)
# How long whether an account has a webhook listening to an event type is taken as known: a webhook
# created or switched on meanwhile hears of the events from at most this long after the change.
LISTENERS_TTL = 1.0
_LISTENERS_KEPT = 4096
MAX_ENDPOINTS = 20  # per account: every event is one message per subscribed endpoint
SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix Standard Webhooks secrets carry, not a secret)
SECRET_BYTES = 32


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _checked_events(events: Sequence[str]) -> list[str]:
    """The subscribed types, each once, in the order given; Invalid naming each unknown one."""
    errors = {
        f"events.{index}": [f"The selected events.{index} is invalid."]
        for index, name in enumerate(events)
        if name != catalogue.WILDCARD and name not in catalogue.TYPES
    }
    if errors:
        raise Invalid(errors)
    return list(dict.fromkeys(events))


async def checked_url(url: str, *, allow_private: bool) -> CheckedUrl:
    """The URL, once its host resolves to addresses webhooks may reach; Invalid (on `url`) otherwise."""
    try:
        await guard.check_url(url, allow_private=allow_private, rule=DESTINATION_RULE)
    except guard.Refused as refused:
        raise Invalid.field("url", refused.message) from None
    return CheckedUrl(url)


async def _get_row(repo: EndpointRepository, webhook_id: int) -> WebhookEndpoint:
    endpoint = await repo.get(webhook_id)
    if endpoint is None:
        raise NotFound()
    return endpoint


async def accounts_listening(session: AsyncSession, *, account_ids: Collection[int], event_type: str) -> set[int]:
    """Those of the accounts with an active webhook that receives this event type.

    Events recorded only for webhooks (`email.sent`, one per message) are skipped for the others:
    an event row nobody reads still costs its insert and its dispatch.
    """
    if not account_ids:
        return set()
    endpoints = await repository.active_endpoints(session, account_ids)
    return {
        account_id
        for account_id, active in endpoints.items()
        if any(catalogue.wants(endpoint.events, event_type) for endpoint in active)
    }


class Listeners:
    """`accounts_listening`, each answer kept for `ttl` seconds per account and event type.

    Events recorded only for webhooks (a contact made by a send, `message.status`, `email.sent`)
    come a batch at a time; asking at every batch would cost a query each. With `ttl=0` every call
    asks the database.
    """

    def __init__(self, ttl: float = LISTENERS_TTL, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._known: dict[tuple[int, str], tuple[bool, float]] = {}  # -> (listening, known until)

    async def among(self, session: AsyncSession, account_ids: Collection[int], event_type: str) -> set[int]:
        """Those of the accounts with an active webhook that receives this event type."""
        now = self._clock()
        unknown = {a for a in account_ids if self._known.get((a, event_type), (False, now))[1] <= now}
        if unknown:
            found = await accounts_listening(session, account_ids=unknown, event_type=event_type)
            if len(self._known) > _LISTENERS_KEPT:
                self._known = {key: known for key, known in self._known.items() if known[1] > now}
            for account_id in unknown:
                self._known[(account_id, event_type)] = (account_id in found, now + self.ttl)
        return {a for a in account_ids if self._known[(a, event_type)][0]}


async def list_page(session: AsyncSession, *, account_id: int, params: ListParams) -> Page[WebhookEndpoint]:
    """A page of the account's webhooks."""
    return await EndpointRepository(session, account_id).page(params)


async def get(session: AsyncSession, *, account_id: int, webhook_id: int) -> WebhookEndpoint:
    """One webhook, or NotFound."""
    return await _get_row(EndpointRepository(session, account_id), webhook_id)


async def create(
    session: AsyncSession,
    *,
    account_id: int,
    url: CheckedUrl,
    events: Sequence[str],
    active: bool,
) -> CreatedEndpoint:
    """Subscribe a URL to event types (`*`: all); its signing secret is given out this once."""
    repo = EndpointRepository(session, account_id)
    subscribed = _checked_events(events)
    if await repo.count() >= MAX_ENDPOINTS:
        raise Invalid.field("url", f"An account may have at most {MAX_ENDPOINTS} webhooks.")
    now = utcnow_seconds()
    secret = new_secret()
    endpoint = repo.add(
        WebhookEndpoint(
            account_id=account_id,
            url=url.value,
            events=subscribed,
            active=active,
            secret=secret,
            created_at=now,
            updated_at=now,
        )
    )
    await session.flush()
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


async def update(
    session: AsyncSession,
    *,
    account_id: int,
    webhook_id: int,
    url: CheckedUrl | None = None,
    events: Sequence[str] | None = None,
    active: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given. Switching a webhook on again clears why it was switched off; its messages
    still pending are then sent, in order."""
    repo = EndpointRepository(session, account_id)
    endpoint = await _get_row(repo, webhook_id)
    changed = False
    if events is not None:
        subscribed = _checked_events(events)
        if subscribed != endpoint.events:
            endpoint.events = subscribed
            changed = True
    if url is not None and url.value != endpoint.url:
        endpoint.url = url.value
        changed = True
    if active is not None and active != endpoint.active:
        endpoint.active = active
        endpoint.disabled_reason = None
        changed = True
    if changed:
        endpoint.updated_at = utcnow_seconds()
    await session.flush()
    return endpoint


async def delete(session: AsyncSession, *, account_id: int, webhook_id: int) -> None:
    """Delete a webhook with its pending messages and its delivery log."""
    repo = EndpointRepository(session, account_id)
    await repo.delete(await _get_row(repo, webhook_id))


async def rotate_secret(session: AsyncSession, *, account_id: int, webhook_id: int) -> CreatedEndpoint:
    """A new signing secret, given out this once; every attempt from now on is signed with it alone."""
    repo = EndpointRepository(session, account_id)
    endpoint = await _get_row(repo, webhook_id)
    endpoint.secret = new_secret()
    endpoint.updated_at = utcnow_seconds()
    await session.flush()
    return CreatedEndpoint(endpoint=endpoint, secret=endpoint.secret)


async def list_deliveries(
    session: AsyncSession, *, account_id: int, webhook_id: int, params: ListParams
) -> Page[DeliveryView]:
    """A page of a webhook's delivery attempts, newest first; an unknown webhook is NotFound."""
    await _get_row(EndpointRepository(session, account_id), webhook_id)
    repo = DeliveryRepository(session, account_id)
    page = await repo.page(params, base=repo.of_endpoint(webhook_id))
    messages = await repo.messages({delivery.message_id for delivery in page.items})
    # A message pruned between the two reads takes its deliveries with it: they are left out.
    views = [
        DeliveryView(delivery=delivery, message=messages[delivery.message_id])
        for delivery in page.items
        if delivery.message_id in messages
    ]
    return Page(items=views, total=page.total, page=page.page, per_page=page.per_page)


async def redeliver(session: AsyncSession, *, account_id: int, webhook_id: int, delivery_id: int) -> WebhookMessage:
    """Send the message a delivery carried again, now, with a fresh retry schedule.

    A message that is being sent, or is due within the lease, is left as it is: it goes out
    anyway. The webhook must be active (Invalid otherwise), since nothing goes to an inactive one.
    """
    endpoint = await _get_row(EndpointRepository(session, account_id), webhook_id)
    message = await DeliveryRepository(session, account_id).message_of(webhook_id, delivery_id)
    if message is None:
        raise NotFound()
    if not endpoint.active:
        raise Invalid.field("active", "The webhook is inactive: switch it on to redeliver.")
    now = utcnow()
    if message.status != "pending" or message.next_attempt_at > now + LEASE:
        message.status = "pending"
        message.next_attempt_at = now
        message.scheduled_attempts = 0
        message.manual = True
        await session.flush()
    return message


def event_types(params: ListParams) -> Page[EventSpec]:
    """The event catalogue, in its own order (`order_by=type` sorts it by name)."""
    keyword = (params.keyword or "").lower()
    specs = [spec for spec in catalogue.CATALOGUE if keyword in spec.type.lower()]
    if params.order_by == "type" or params.sort is not None:
        specs.sort(key=lambda spec: spec.type, reverse=params.sort == "desc")
    items = specs[params.offset : params.offset + params.per_page]
    return Page(items=items, total=len(specs), page=params.page, per_page=params.per_page)
