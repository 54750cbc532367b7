"""Webhooks end to end: changes through the API, the real dispatcher (rules and the webhook fan-out, as
`roost serve` runs it), the real sender POSTing to a real HTTP receiver on this machine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.events.dispatcher import Dispatcher
from roost.rule.engine import RuleEngine
from roost.webhook.fanout import WebhookFanout
from roost.webhook.sender import WebhookSender
from tests.helpers import Api
from tests.webhooks.receiver import Receiver

# Fast retries, so that a test sees a whole schedule in moments; production waits about three days.
QUICK = (timedelta(seconds=0.05),) * 12


def dispatcher_for(app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]) -> Dispatcher:
    return Dispatcher(sessionmaker, [RuleEngine(), WebhookFanout()], gate=app.state.roost.write_gate)


class Hooks:
    """An account's webhooks, the dispatcher that makes their messages and senders that deliver them."""

    def __init__(self, api: Api, app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.api = api
        self.app = app
        self.sessionmaker = sessionmaker
        self.dispatcher = dispatcher_for(app, sessionmaker)
        self.senders: list[WebhookSender] = []

    def sender(self, **options: Any) -> WebhookSender:
        options = {"allow_private": True, "schedule": QUICK, "poll_interval": 0.02, **options}
        sender = WebhookSender(self.sessionmaker, gate=self.app.state.roost.write_gate, **options)
        self.senders.append(sender)
        return sender

    async def create(self, url: str, events: list[str] | None = None, **body: Any) -> dict[str, Any]:
        return await self.api.created("/webhooks", {"url": url, "events": events or ["*"], **body})

    async def settle(self) -> int:
        """Dispatch until no event is pending; how many were handled."""
        total = 0
        while handled := await self.dispatcher.run_once():
            total += handled
        return total

    async def send(self, sender: WebhookSender | None = None, *, passes: int = 1) -> int:
        """Sender passes (each claims what is due, POSTs it and records the outcomes); how many were sent."""
        sender = sender or self.sender()
        return sum([await sender.run_once() for _ in range(passes)])

    async def deliveries(self, webhook_id: int, **params: Any) -> list[dict[str, Any]]:
        response = await self.api.get(f"/webhooks/{webhook_id}/deliveries", per_page=100, **params)
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    async def webhook(self, webhook_id: int) -> dict[str, Any]:
        response = await self.api.get(f"/webhooks/{webhook_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def close(self) -> None:
        # The account's webhooks go with their messages, so no later test's sender meets them.
        for hook in (await self.api.get("/webhooks", per_page=100)).json()["data"]:
            await self.api.delete(f"/webhooks/{hook['webhook_id']}")
        for sender in self.senders:
            await sender.aclose()


@pytest.fixture
async def hooks(api: Api, app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Hooks]:
    found = Hooks(api, app, sessionmaker)
    await found.settle()  # events other tests left pending are not this test's
    yield found
    await found.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    if server.running:
        await server.stop()
