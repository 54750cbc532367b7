"""Mail really sent (captured), its tracked links followed through the app, conversions read back through /v1."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.models import Interaction
from tests.helpers import Api
from tests.rules.conftest import SENDER, Outbox, Rules, dispatcher_for


class Mail(Outbox):
    """Outbox, plus what the tests of attribution need: the click's own answer, and clicks made long ago."""

    async def follow(self, address: str, subject: str, url: str) -> httpx.Response:
        """Follow the tracked link of that mail that leads to `url`; the redirect, unfollowed."""
        for link in await self.links(address, subject):
            if "/t/c/" in link and parse_qs(urlsplit(link).query)["url"] == [url]:
                response = await self.client.get(link.removeprefix("http://roost.test"))
                assert response.status_code == 302, response.text
                return response
        raise AssertionError(f"no link to {url} in {subject!r}")

    async def age_clicks(self, contact_id: int, by: timedelta) -> None:
        """Move the contact's clicks back in time, as if they were made `by` ago."""
        async with self.sessionmaker() as session, session.begin():
            clicks = await session.scalars(
                select(Interaction).where(Interaction.contact_id == contact_id, Interaction.type == "click")
            )
            for click in clicks:
                click.created_at -= by


@pytest.fixture
def mail(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], client: httpx.AsyncClient) -> Mail:
    return Mail(settings, sessionmaker, client)


@pytest.fixture
def rules(api: Api, app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]) -> Rules:
    return Rules(api, dispatcher_for(app, sessionmaker))


def domain() -> str:
    """A recipient domain of the test's own, so captured mail is told apart from other tests'."""
    return f"{uuid.uuid4().hex[:8]}.example"


def links(*urls: str) -> str:
    return "".join(f'<p><a href="{url}">link</a></p>' for url in urls)


async def broadcast(api: Api, subject: str, body: str) -> int:
    """An immediate broadcast to every active contact of the account."""
    created = await api.created(
        "/broadcasts",
        {"name": subject, "email": {"subject": subject, "body": body}, "sender": SENDER, "immediate": True},
    )
    return int(created["broadcast_id"])


async def broadcast_stats(api: Api, broadcast_id: int) -> dict[str, Any]:
    response = await api.get(f"/broadcasts/{broadcast_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["stats"]
    return found


async def contact(api: Api, email: str) -> int:
    return int((await api.created("/contacts", {"email": email}))["contact_id"])
