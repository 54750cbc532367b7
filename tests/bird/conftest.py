from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.delivery.runner import DeliveryRunner
from tests.helpers import Bird, Tenant
from tests.mail.sink import Sink


@pytest.fixture
def bird(client: httpx.AsyncClient, account: Tenant) -> Bird:
    return Bird(client, account)


@pytest.fixture
def other_bird(client: httpx.AsyncClient, other_account: Tenant) -> Bird:
    return Bird(client, other_account)


CHANNEL = {"name": "Receipts", "platform": "email", "sender": {"email": "shop@example.com", "displayName": "Shop"}}


@pytest.fixture
async def channel(bird: Bird) -> dict[str, object]:
    return await bird.ok("POST", "/channels", CHANNEL, status=201)


@pytest.fixture
def runner(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink) -> DeliveryRunner:
    """The delivery engine, sending to the test's sink."""
    return DeliveryRunner.from_settings(settings.model_copy(update={"smtp_url": sink.url}), sessionmaker)
