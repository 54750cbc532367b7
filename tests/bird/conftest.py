from __future__ import annotations

import httpx
import pytest

from tests.helpers import Bird, Tenant


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
