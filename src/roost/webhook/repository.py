"""Webhook queries. Endpoints and the delivery log go through `ScopedRepository` (the account funnel);
the fan-out and the sender serve every account, so their statements name the rows they touch by id
(scoping happened when the rows were made)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute, aliased

from roost.db.repository import ScopedRepository
from roost.models import WebhookDelivery, WebhookEndpoint, WebhookMessage
from roost.webhook.types import ActiveEndpoint, ClaimedMessage

# Written out, not bound, so that the partial indexes on pending messages serve these queries.
_PENDING: ColumnElement[str] = literal_column("'pending'")


class EndpointRepository(ScopedRepository[WebhookEndpoint]):
    model = WebhookEndpoint

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        return func.lower(WebhookEndpoint.url).like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
        columns: dict[str, ColumnElement[Any] | QueryableAttribute[Any]] = {
            "url": func.lower(WebhookEndpoint.url),
            "created_at": WebhookEndpoint.created_at,
        }
        return columns[order_by]

    async def count(self) -> int:
        return int(
            await self.session.scalar(select(func.count()).where(WebhookEndpoint.account_id == self.account_id)) or 0
        )


class DeliveryRepository(ScopedRepository[WebhookDelivery]):
    """The delivery log: one row per attempt."""

    model = WebhookDelivery

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        if search_by == "event":
            return WebhookDelivery.message_id.in_(
                select(WebhookMessage.id).where(
                    WebhookMessage.account_id == self.account_id,
                    func.lower(WebhookMessage.event_type).like(pattern, escape="\\"),
                )
            )
        if search_by == "status":
            # `succeeded` or `failed`, matched as a substring like every keyword.
            return or_(
                and_(WebhookDelivery.succeeded.is_(True), literal_column("'succeeded'").like(pattern, escape="\\")),
                and_(WebhookDelivery.succeeded.is_(False), literal_column("'failed'").like(pattern, escape="\\")),
            )
        return func.lower(func.coalesce(WebhookDelivery.error, "")).like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
        columns: dict[str, ColumnElement[Any] | QueryableAttribute[Any]] = {
            "created_at": WebhookDelivery.created_at,
            "status_code": WebhookDelivery.status_code,
            "latency_ms": WebhookDelivery.latency_ms,
        }
        return columns[order_by]

    def of_endpoint(self, endpoint_id: int) -> Select[WebhookDelivery]:
        return self.scoped().where(WebhookDelivery.endpoint_id == endpoint_id)

    async def messages(self, ids: Collection[int]) -> dict[int, WebhookMessage]:
        if not ids:
            return {}
        rows = await self.session.scalars(
            select(WebhookMessage).where(WebhookMessage.account_id == self.account_id, WebhookMessage.id.in_(ids))
        )
        return {message.id: message for message in rows}

    async def message_of(self, endpoint_id: int, delivery_id: int) -> WebhookMessage | None:
        """The message a delivery of this endpoint carried."""
        row: WebhookMessage | None = await self.session.scalar(
            select(WebhookMessage)
            .join(WebhookDelivery, WebhookDelivery.message_id == WebhookMessage.id)
            .where(
                WebhookDelivery.account_id == self.account_id,
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.id == delivery_id,
            )
        )
        return row


# The fan-out ------------------------------------------------------------------------------


# Built once: the fan-out, the delivery engine and the Bird API ask this for every batch.
_ACTIVE_ENDPOINTS = (
    select(WebhookEndpoint.id, WebhookEndpoint.account_id, WebhookEndpoint.events)
    .where(WebhookEndpoint.account_id.in_(bindparam("account_ids", expanding=True)), WebhookEndpoint.active.is_(True))
    .order_by(WebhookEndpoint.id)
)


async def active_endpoints(session: AsyncSession, account_ids: Collection[int]) -> dict[int, list[ActiveEndpoint]]:
    """The active endpoints of several accounts, by account (read once per batch of events)."""
    if not account_ids:
        return {}
    rows = await session.execute(_ACTIVE_ENDPOINTS, {"account_ids": sorted(account_ids)})
    found: dict[int, list[ActiveEndpoint]] = {}
    for row in rows:
        endpoint = ActiveEndpoint(id=row.id, account_id=row.account_id, events=frozenset(row.events or ()))
        found.setdefault(endpoint.account_id, []).append(endpoint)
    return found


async def add_messages(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert messages; one that exists for its (endpoint, event) already is left alone."""
    if not rows:
        return
    dialect_insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        dialect_insert(WebhookMessage).on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"]), rows
    )


# The sender -------------------------------------------------------------------------------


async def any_due(session: AsyncSession, *, now: datetime) -> bool:
    """Whether any pending message is due (a read on the partial index, for idle polls)."""
    found = await session.scalar(
        select(WebhookMessage.id)
        .where(WebhookMessage.status == _PENDING, WebhookMessage.next_attempt_at <= now)
        .limit(1)
    )
    return found is not None


async def claim(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    per_endpoint: int,
    busy_endpoints: Collection[int] = (),
) -> list[ClaimedMessage]:
    """Take up to `limit` due messages of active endpoints, the longest due first, and hold them for `lease`.

    A message waits while an earlier message of the same endpoint and contact is pending (in flight
    or waiting for a retry): events about a contact reach an endpoint in the order they happened.
    Messages about no contact are not ordered. A claim pushes `next_attempt_at` to the end of the
    lease, so a sender that dies leaves its messages to be claimed again then.

    Fairness: a claim takes at most `per_endpoint` messages of one endpoint, and none of the
    `busy_endpoints` (those the sender already has that many of in flight), so an endpoint that
    answers slowly, or not at all, cannot hold every sending slot while others wait. The window
    that applies the cap runs over the oldest due messages only, so the claim stays an index scan.
    """
    earlier = aliased(WebhookMessage)
    blocked = exists().where(
        earlier.endpoint_id == WebhookMessage.endpoint_id,
        earlier.contact_id == WebhookMessage.contact_id,
        earlier.status == _PENDING,
        earlier.id < WebhookMessage.id,
    )
    oldest = (
        select(WebhookMessage.id, WebhookMessage.endpoint_id, WebhookMessage.next_attempt_at)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
        .where(
            WebhookMessage.status == _PENDING,
            WebhookMessage.next_attempt_at <= now,
            WebhookEndpoint.active.is_(True),
            or_(WebhookMessage.contact_id.is_(None), ~blocked),
        )
        .order_by(WebhookMessage.next_attempt_at, WebhookMessage.id)
        .limit(limit * 4)
    )
    if busy_endpoints:
        oldest = oldest.where(WebhookMessage.endpoint_id.not_in(busy_endpoints))
    if session.get_bind().dialect.name == "postgresql":
        oldest = oldest.with_for_update(of=WebhookMessage, skip_locked=True)
    first = oldest.subquery("first_due")
    ranked = select(
        first.c.id,
        first.c.next_attempt_at,
        func.row_number()
        .over(partition_by=first.c.endpoint_id, order_by=(first.c.next_attempt_at, first.c.id))
        .label("rank"),
    ).subquery("ranked")
    due = (
        select(ranked.c.id)
        .where(ranked.c.rank <= per_endpoint)
        .order_by(ranked.c.next_attempt_at, ranked.c.id)
        .limit(limit)
    )
    until = now + lease
    rows = (
        await session.execute(
            update(WebhookMessage)
            .where(WebhookMessage.id.in_(due.scalar_subquery()))
            .values(next_attempt_at=until)
            .returning(
                WebhookMessage.id,
                WebhookMessage.account_id,
                WebhookMessage.endpoint_id,
                WebhookMessage.event_type,
                WebhookMessage.body,
                WebhookMessage.attempts,
                WebhookMessage.scheduled_attempts,
                WebhookMessage.manual,
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    if not rows:
        return []
    endpoints = {
        row.id: (row.url, row.secret)
        for row in await session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.secret).where(
                WebhookEndpoint.id.in_({row.endpoint_id for row in rows})
            )
        )
    }
    claimed = [
        ClaimedMessage(
            **row._asdict(),
            url=endpoints[row.endpoint_id][0],
            secret=endpoints[row.endpoint_id][1],
            lease_until=until,
        )
        for row in rows
    ]
    return sorted(claimed, key=lambda message: message.id)


async def conclude(session: AsyncSession, message: ClaimedMessage, **values: Any) -> bool:
    """Write how an attempt ended, while the claim still holds; False when it no longer does.

    A sender whose lease ran out (or whose message was deleted with its endpoint) has lost the
    message: what it learned late is dropped rather than written over the newer claim.
    """
    result = await session.execute(
        update(WebhookMessage)
        .where(
            WebhookMessage.id == message.id,
            WebhookMessage.status == _PENDING,
            WebhookMessage.next_attempt_at == message.lease_until,
        )
        .values(attempts=WebhookMessage.attempts + 1, manual=False, **values)
        .returning(WebhookMessage.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def add_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(WebhookDelivery), rows)


async def prune(session: AsyncSession, *, before: datetime, limit: int) -> int:
    """Delete up to `limit` finished messages made before `before`, with their attempts; how many.

    Messages are made in id order, so the oldest are the lowest ids: the scan stops early. Pending
    ones (held for a webhook that is switched off) stay.
    """
    oldest = (
        select(WebhookMessage.id)
        .where(WebhookMessage.created_at < before, WebhookMessage.status != _PENDING)
        .order_by(WebhookMessage.id)
        .limit(limit)
    )
    ids = list(await session.scalars(oldest))
    if not ids:
        return 0
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.message_id.in_(ids)))
    await session.execute(delete(WebhookMessage).where(WebhookMessage.id.in_(ids)))
    return len(ids)


async def disable(session: AsyncSession, endpoint_id: int, *, reason: str, now: datetime) -> None:
    """Switch an endpoint off (it answered 410 Gone), saying why."""
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.active.is_(True))
        .values(active=False, disabled_reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
