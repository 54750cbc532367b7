"""5 requests per second per account, moving window, in memory or shared through Redis (CONVENTIONS §4)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from roost.api.app import create_app
from roost.config import Settings
from tests.conftest import MakeAccount, client_for

REDIS_URL = "redis://127.0.0.1:6379/0"


async def _limited_app(settings: Settings, **overrides: str) -> FastAPI:
    app = create_app(settings.model_copy(update={"rate_limit": "5/second", **overrides}))
    limiter = app.state.roost.limiter
    limiter.namespace = f"roost-test-{uuid.uuid4().hex}"  # isolate runs sharing one Redis
    return app


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[FastAPI]:
    app = await _limited_app(settings)
    yield app
    await app.state.roost.dispose()


async def test_sixth_request_in_a_second_is_refused(limited: FastAPI, make_account: MakeAccount) -> None:
    account = await make_account()
    async with client_for(limited) as client:
        responses = [await client.get("/v1/tags", headers=account.headers) for _ in range(6)]
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    assert [r.headers["x-ratelimit-remaining"] for r in responses[:5]] == ["4", "3", "2", "1", "0"]
    assert all(r.headers["x-ratelimit-limit"] == "5" for r in responses)
    refused = responses[-1]
    assert refused.json() == {"message": "Too Many Attempts."}
    assert refused.headers["retry-after"] == "1"  # the 1-second window frees up within a second


async def test_limit_is_per_account_and_recovers(limited: FastAPI, make_account: MakeAccount) -> None:
    first, second = await make_account(), await make_account()
    async with client_for(limited) as client:
        for _ in range(5):
            assert (await client.get("/v1/tags", headers=first.headers)).status_code == 200
        assert (await client.get("/v1/tags", headers=first.headers)).status_code == 429
        assert (await client.get("/v1/tags", headers=second.headers)).status_code == 200
        await asyncio.sleep(1.05)
        assert (await client.get("/v1/tags", headers=first.headers)).status_code == 200


async def test_errors_carry_the_headers_too(limited: FastAPI, make_account: MakeAccount) -> None:
    account = await make_account()
    async with client_for(limited) as client:
        missing = await client.get("/v1/tags/999999999", headers=account.headers)
    assert missing.status_code == 404
    assert missing.headers["x-ratelimit-limit"] == "5"


async def test_redis_shares_the_limit_between_processes(settings: Settings, make_account: MakeAccount) -> None:
    account = await make_account()
    # Two app instances stand for two server processes; only Redis connects them.
    one = await _limited_app(settings, redis_url=REDIS_URL)
    two = await _limited_app(settings, redis_url=REDIS_URL)
    two.state.roost.limiter.namespace = one.state.roost.limiter.namespace
    try:
        async with client_for(one) as a, client_for(two) as b:
            statuses = []
            for i in range(6):
                client: httpx.AsyncClient = a if i % 2 == 0 else b
                statuses.append((await client.get("/v1/tags", headers=account.headers)).status_code)
        assert statuses == [200] * 5 + [429]
    finally:
        for app in (one, two):
            await app.state.roost.dispose()


async def test_zero_turns_the_limit_off(settings: Settings, make_account: MakeAccount) -> None:
    app = create_app(settings.model_copy(update={"rate_limit": "0"}))
    account = await make_account()
    try:
        async with client_for(app) as client:
            statuses = {(await client.get("/v1/tags", headers=account.headers)).status_code for _ in range(12)}
        assert statuses == {200}
    finally:
        await app.state.roost.dispose()
