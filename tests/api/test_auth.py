from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.api.state import AppState
from roost.auth import service as auth_service
from roost.models import Account
from tests.conftest import MakeAccount
from tests.helpers import Api, Tenant


async def _expect_401(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"message": "Unauthenticated."}


async def test_missing_malformed_or_unknown_tokens_answer_401(client: httpx.AsyncClient) -> None:
    await _expect_401(await client.get("/v1/account"))
    await _expect_401(await client.get("/v1/account", headers={"Authorization": "Bearer"}))
    await _expect_401(await client.get("/v1/account", headers={"Authorization": "Basic abc"}))
    await _expect_401(await client.get("/v1/account", headers={"Authorization": "Bearer roost_pat_nope"}))
    await _expect_401(await client.post("/v1/tags", json={"name": "x"}, headers={"Authorization": "Bearer x" * 600}))


async def test_account_endpoint_per_seed(api: Api, account: Tenant) -> None:
    response = await api.get("/account")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "account_id",
        "email",
        "first_name",
        "last_name",
        "timezone",
        "avatar_url",
        "joined_at",
        "last_seen_at",
    }
    assert body["account_id"] == account.id
    assert body["email"] == account.email
    assert body["first_name"] == "Ada"
    # last_seen_at is updated on API use (CONVENTIONS §7).
    assert body["last_seen_at"] is not None


async def test_scopes_gate_methods(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    reader = Api(client, await make_account(scopes="read"))
    assert (await reader.get("/tags")).status_code == 200
    forbidden = await reader.post("/tags", {"name": "x"})
    assert forbidden.status_code == 403
    assert forbidden.json() == {"message": "This action is unauthorized."}
    assert (await reader.get("/tags")).json()["meta"]["total"] == 0

    writer = Api(client, await make_account(scopes="write"))
    assert (await writer.post("/tags", {"name": "x"})).status_code == 201
    assert (await writer.get("/tags")).status_code == 403


async def test_revoked_token_stops_working_at_once(
    api: Api, account: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    assert (await api.get("/account")).status_code == 200
    async with sessionmaker() as session, session.begin():
        tokens = await auth_service.list_tokens(session, account_id=account.id)
        await auth_service.revoke_token(session, account_id=account.id, token_id=tokens[0].id)
    await _expect_401(await api.get("/account"))


async def test_overlapping_requests_are_each_judged_by_their_own_token(
    client: httpx.AsyncClient, make_account: MakeAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Tokens presented at the same time are looked up together; each request still gets its own answer."""
    tenants = [await make_account() for _ in range(4)]
    revoked = await make_account()
    async with sessionmaker() as session, session.begin():
        (token,) = await auth_service.list_tokens(session, account_id=revoked.id)
        await auth_service.revoke_token(session, account_id=revoked.id, token_id=token.id)
    callers = [*tenants, revoked] * 5
    responses = await asyncio.gather(
        *(client.get("/v1/account", headers=tenant.headers) for tenant in callers),
        *(client.get("/v1/account", headers={"Authorization": f"Bearer roost_pat_unknown{n}"}) for n in range(5)),
    )
    for tenant, response in zip(callers, responses, strict=False):
        if tenant is revoked:
            await _expect_401(response)
        else:
            assert response.status_code == 200
            assert response.json()["email"] == tenant.email
    for response in responses[len(callers) :]:
        await _expect_401(response)


async def test_tokens_are_stored_only_as_hashes(
    account: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session:
        tokens = await auth_service.list_tokens(session, account_id=account.id)
    assert len(tokens) == 1
    assert account.token not in tokens[0].token_hash
    assert len(tokens[0].token_hash) == 64
    assert len(account.token) >= 43  # 32 random bytes, URL-safe base64


async def test_api_use_is_recorded_even_when_the_read_fails(
    api: Api, account: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    assert (await api.get("/contacts/999999999")).status_code == 404
    async with sessionmaker() as session:
        last_seen_at = await session.scalar(select(Account.last_seen_at).where(Account.id == account.id))
    assert last_seen_at is not None


async def test_reads_queue_at_the_write_gate_only_when_api_use_is_due(
    app: FastAPI, api: Api, account: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    state: AppState = app.state.roost
    assert (await api.get("/tags")).status_code == 200  # recorded: the next one is a minute away
    async with state.write_gate():
        assert (await asyncio.wait_for(api.get("/tags"), timeout=10)).status_code == 200

    async with sessionmaker() as session, session.begin():
        await session.execute(update(Account).where(Account.id == account.id).values(last_seen_at=None))
    async with state.write_gate():
        due = asyncio.create_task(api.get("/tags"))
        await asyncio.sleep(0.2)
        if state.engine.dialect.name == "sqlite":
            # One writer at a time: the touch waits for the gate instead of taking SQLite's lock behind it.
            assert not due.done()
    assert (await asyncio.wait_for(due, timeout=10)).status_code == 200
    async with sessionmaker() as session:
        assert await session.scalar(select(Account.last_seen_at).where(Account.id == account.id)) is not None
