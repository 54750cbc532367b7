"""Rules run by the real dispatcher on a real database: each test acts through the public API, then
lets the dispatcher handle every pending event (as `roost serve` does in the background) and reads
the outcome back through the API."""

from __future__ import annotations

import email
import email.policy
import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.delivery.runner import DeliveryRunner
from roost.events.dispatcher import Dispatcher
from roost.models import CapturedMail
from roost.rule.engine import RuleEngine
from tests.helpers import Api

SENDER = {"email": "news@shop.example", "name": "Shop News", "address": "1 Market Street, Springfield"}


class Rules:
    """An account's rules, and the dispatcher that runs them."""

    def __init__(self, api: Api, dispatcher: Dispatcher) -> None:
        self.api = api
        self.dispatcher = dispatcher

    async def create(self, triggers: list[dict[str, Any]], actions: list[dict[str, Any]], **extra: Any) -> int:
        body = {"name": extra.pop("name", "Rule"), "active": extra.pop("active", True), **extra}
        rule = await self.api.created("/rules", {**body, "triggers": triggers, "actions": actions})
        return int(rule["rule_id"])

    async def settle(self) -> int:
        """Dispatch until no event is pending (rules chain: each pass may record new events); how many."""
        total = 0
        while handled := await self.dispatcher.run_once():
            total += handled
        return total

    async def runs(self, rule_id: int, **params: Any) -> list[dict[str, Any]]:
        response = await self.api.get(f"/rules/{rule_id}/runs", per_page=100, **params)
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    async def contact(self, contact_id: int) -> dict[str, Any]:
        response = await self.api.get(f"/contacts/{contact_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def tags(self, contact_id: int) -> set[str]:
        return {tag["name"] for tag in (await self.contact(contact_id))["tags"]}

    async def sequences(self, contact_id: int) -> set[int]:
        return {link["sequence_id"] for link in (await self.contact(contact_id))["sequences"]}

    async def new_contact(self, email: str = "ada@example.com", **body: Any) -> int:
        return int((await self.api.created("/contacts", {"email": email, **body}))["contact_id"])

    async def new_sequence(self, name: str = "Drip") -> int:
        return int((await self.api.created("/sequences", {"name": name, "sender": SENDER}))["sequence_id"])


def dispatcher_for(app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]) -> Dispatcher:
    return Dispatcher(sessionmaker, [RuleEngine()], gate=app.state.roost.write_gate)


@pytest.fixture
def rules(api: Api, app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]) -> Rules:
    return Rules(api, dispatcher_for(app, sessionmaker))


def tag_trigger(*names: str, trigger: str = "tag_applied") -> dict[str, Any]:
    return {"trigger": trigger, "params": {"tag": list(names)}}


def tag_action(*names: str, action: str = "apply_tag") -> dict[str, Any]:
    return {"action": action, "params": {"tag": list(names)}}


_TRACKED = re.compile(r'(?:href|src)="(http://roost\.test/t/[oc]/[^"]+)"')


class Outbox:
    """Sends what is due, captured in the database, and follows the tracking links of what was sent."""

    def __init__(
        self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
    ) -> None:
        self.runner = DeliveryRunner.from_settings(settings.model_copy(update={"smtp_url": None}), sessionmaker)
        self.sessionmaker = sessionmaker
        self.client = client

    async def deliver(self, passes: int = 4) -> None:
        """Delivery passes: due broadcasts start, due sequence emails go out, sent mail is captured."""
        for _ in range(passes):
            await self.runner.run_once()

    async def links(self, address: str, subject: str) -> list[str]:
        """The tracked URLs (pixel and links) of the mail with this subject sent to `address`."""
        async with self.sessionmaker() as session:
            rows = await session.scalars(
                select(CapturedMail).where(CapturedMail.recipients == address).order_by(CapturedMail.id)
            )
            for row in rows:
                parsed = email.message_from_bytes(row.raw, policy=email.policy.default)
                if str(parsed["Subject"]) == subject:
                    part = parsed.get_body(("html",))
                    assert part is not None
                    return [html.unescape(url) for url in _TRACKED.findall(part.get_content())]
        raise AssertionError(f"no mail {subject!r} was sent to {address}")

    async def open(self, address: str, subject: str) -> None:
        """Load the open pixel of that mail."""
        (pixel,) = [url for url in await self.links(address, subject) if "/t/o/" in url]
        response = await self.client.get(pixel.removeprefix("http://roost.test"))
        assert response.status_code == 200, response.text

    async def click(self, address: str, subject: str, url: str) -> None:
        """Follow the tracked link of that mail that leads to `url`."""
        for link in await self.links(address, subject):
            if "/t/c/" in link and parse_qs(urlsplit(link).query)["url"] == [url]:
                response = await self.client.get(link.removeprefix("http://roost.test"))
                assert response.status_code == 302, response.text
                # Marketing mail's links land with the pixel's visitor identifier added last.
                assert re.sub(r"[?&]_bsc=[^&#]*", "", response.headers["location"]) == url
                return
        raise AssertionError(f"no link to {url} in {subject!r}")


@pytest.fixture
def outbox(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], client: httpx.AsyncClient) -> Outbox:
    return Outbox(settings, sessionmaker, client)
