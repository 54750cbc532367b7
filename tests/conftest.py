"""Shared fixtures: one migrated database per run (SQLite file, or a throwaway PostgreSQL database).

Set ROOST_TEST_DATABASE_URL=postgresql://user@host:port/anydb to run the suite on PostgreSQL;
a database named roost_test_<random> is created on that server and dropped afterwards.
Every test works in accounts of its own, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.account import service as account_service
from roost.api.app import create_app
from roost.auth import service as auth_service
from roost.config import Settings
from roost.db.migrate import upgrade
from tests.helpers import Api, Tenant
from tests.mail.sink import Sink


def _server_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("ROOST_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'roost.db'}"
        upgrade(url)
        yield url
        return
    name = f"roost_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(_server_dsn(base))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        rate_limit="0",
        secret_key="test-secret-key",
        base_url="http://roost.test",
        db_pool_size=5,
        # Webhook tests deliver to a receiver on 127.0.0.1; tests of the refusal use an app without this.
        webhooks_allow_private=True,
        # Media tests fetch remote mediaUrls from a server on 127.0.0.1; the refusal is tested with its own config.
        media_allow_private=True,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    yield application
    await application.state.roost.dispose()


@pytest.fixture(scope="session")
def sessionmaker(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = app.state.roost.sessionmaker
    return maker


def client_for(application: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://roost.test")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


MakeAccount = Callable[..., Awaitable[Tenant]]


@pytest.fixture
def make_account(sessionmaker: async_sessionmaker[AsyncSession]) -> MakeAccount:
    """Create an account and a token through the services, committed, as the CLI does."""

    async def make(scopes: str = "read,write", timezone: str = "UTC") -> Tenant:
        email = f"owner-{uuid.uuid4().hex[:10]}@example.com"
        async with sessionmaker() as session, session.begin():
            account = await account_service.create(
                session, email=email, password="correct horse", first_name="Ada", last_name="Owner", timezone=timezone
            )
            _, plain = await auth_service.create_token(
                session, account_id=account.id, scopes=auth_service.parse_scopes(scopes)
            )
        return Tenant(id=account.id, workspace_id=account.workspace_id, email=email, token=plain)

    return make


@pytest.fixture
async def account(make_account: MakeAccount) -> Tenant:
    return await make_account()


@pytest.fixture
async def other_account(make_account: MakeAccount) -> Tenant:
    return await make_account()


@pytest.fixture
def api(client: httpx.AsyncClient, account: Tenant) -> Api:
    return Api(client, account)


@pytest.fixture
def other_api(client: httpx.AsyncClient, other_account: Tenant) -> Api:
    return Api(client, other_account)


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    """A real SMTP server in the test's event loop, recording what it accepts."""
    server = Sink()
    await server.start()
    yield server
    if server.running:
        await server.stop()
