"""Email events reach webhooks: sent (recorded by the sender's group commit), opened, clicked."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.models import Event
from roost.webhook.service import Listeners
from tests.rules.conftest import SENDER, Outbox
from tests.webhooks.conftest import Hooks
from tests.webhooks.receiver import Receiver


async def test_sent_opened_and_clicked_emails(
    hooks: Hooks,
    receiver: Receiver,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
) -> None:
    outbox = Outbox(settings, sessionmaker, client)
    hook = await hooks.create(receiver.url, ["email.sent", "email.opened", "email.clicked"])
    contact = (await hooks.api.created("/contacts", {"email": "reader@example.com"}))["contact_id"]
    body = '<p>Hello</p><a href="https://shop.example/sale">Sale</a>'
    broadcast = await hooks.api.created(
        "/broadcasts",
        {"name": "Sale", "email": {"subject": "Sale", "body": body}, "sender": SENDER, "immediate": True},
    )
    await outbox.deliver()
    await outbox.click("reader@example.com", "Sale", "https://shop.example/sale")
    await hooks.settle()
    await hooks.send(passes=3)

    payloads = [request.verify(hook["secret"]) for request in receiver.delivered()]
    assert [payload["type"] for payload in payloads] == ["email.sent", "email.opened", "email.clicked"]
    sent, opened, clicked = (payload["data"] for payload in payloads)
    assert sent["broadcast_id"] == broadcast["broadcast_id"]
    assert sent["email"] == "reader@example.com"
    assert sent["contact_id"] == contact
    assert sent["contact"]["email"] == "reader@example.com"
    assert opened["message_id"] == sent["message_id"] == clicked["message_id"]
    assert clicked["url"] == "https://shop.example/sale"


async def test_sent_events_are_recorded_only_for_accounts_with_a_webhook_listening(
    hooks: Hooks,
    receiver: Receiver,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
) -> None:
    outbox = Outbox(settings, sessionmaker, client)
    await hooks.create(receiver.url, ["email.opened"])  # listening, but not to email.sent
    await hooks.api.created("/contacts", {"email": "quiet@example.com"})
    await hooks.api.created(
        "/broadcasts",
        {"name": "Quiet", "email": {"subject": "Quiet", "body": "<p>Hi</p>"}, "sender": SENDER, "immediate": True},
    )
    await outbox.deliver()
    async with sessionmaker() as session:
        recorded = await session.scalar(
            select(func.count()).where(Event.account_id == hooks.api.account.id, Event.type == "email.sent")
        )
    assert recorded == 0  # one event per message sent, read by nobody, would cost its insert and dispatch


async def test_whether_an_account_listens_is_kept_for_a_moment_then_asked_again(
    hooks: Hooks, receiver: Receiver, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    now = [0.0]
    listeners = Listeners(ttl=1.0, clock=lambda: now[0])
    account_id = hooks.api.account.id
    async with sessionmaker() as session:
        assert await listeners.among(session, {account_id}, "message.status") == set()
        await hooks.create(receiver.url, ["message.status"])
        now[0] = 0.9
        assert await listeners.among(session, {account_id}, "message.status") == set()  # the answer kept
        now[0] = 1.0
        assert await listeners.among(session, {account_id}, "message.status") == {account_id}
        assert await listeners.among(session, {account_id}, "email.sent") == set()  # per event type
        assert await Listeners(ttl=0).among(session, {account_id}, "message.status") == {account_id}
