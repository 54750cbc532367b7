"""A channel message becomes `delivered` (CONVENTIONS §10) when its relay offers DSN: the sender asks
for success reports (RFC 3461), the relay's reports (RFC 3464) come back over SMTP to the bounce
listener at the message's VERP address, and the message's status follows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.bounce.listener import BounceListener
from roost.config import Settings
from roost.delivery.addressing import Addressing
from roost.delivery.runner import DeliveryRunner
from roost.models import Event
from tests.bird.test_messages import address, mail_to, message, send, text_body, to
from tests.bounce.fixtures import sample
from tests.bounce.fixtures import send as report
from tests.helpers import Api, Bird
from tests.mail.sink import Received, Sink

Sessions = async_sessionmaker[AsyncSession]
TRANSACTIONAL = {"extraInformation": {"useCase": "transactional"}}
NOTIFY = "NOTIFY=SUCCESS,FAILURE,DELAY"


@pytest.fixture
async def listener(app: FastAPI, sessionmaker: Sessions, settings: Settings) -> AsyncIterator[BounceListener]:
    """The bounce listener, with the addressing the runner signs VERP addresses with."""
    addressing = Addressing.from_settings(settings)
    server = BounceListener(sessionmaker, addressing, host="127.0.0.1", port=0, write_gate=app.state.roost.write_gate)
    await server.start()
    yield server
    await server.stop()


def received_by(sink: Sink, recipient: str) -> Received:
    [received] = [r for r in sink.received if r.recipients == [recipient]]
    return received


async def report_delivered(listener: BounceListener, received: Received) -> None:
    """The relay's success DSN for that mail, sent to its envelope sender (the VERP address) as an MTA does."""
    return_path = received.envelope_from
    token = return_path.removeprefix("bounces+").partition("@")[0]
    data = sample("postfix_delivered", return_path=return_path, recipient=received.recipients[0], token=token)
    await report(listener.port, return_path, data)


async def contact_statuses(api: Api, *addresses: str) -> list[str]:
    found = []
    for reader in addresses:
        [contact] = (await api.get("/contacts", search_by="email", keyword=reader)).json()["data"]
        found.append(contact["status"])
    return found


async def status_events(sessionmaker: Sessions, bird: Bird, sent: dict[str, Any]) -> list[str]:
    async with sessionmaker() as session:
        events = await session.scalars(
            select(Event).where(Event.account_id == bird.account.id, Event.type == "message.status").order_by(Event.id)
        )
        return [event.data["status"] for event in events if event.data["message_id"] == sent["id"]]


async def test_a_relay_with_dsn_reports_deliveries_and_the_message_becomes_delivered(
    bird: Bird,
    api: Api,
    channel: dict[str, Any],
    runner: DeliveryRunner,
    sink: Sink,
    listener: BounceListener,
    sessionmaker: Sessions,
) -> None:
    sink.dsn = True
    hook = await api.created("/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["message.status"]})
    first, second = address("first"), address("second")
    sent = await send(bird, channel, {"receiver": to(first, second), "body": text_body(), "meta": TRANSACTIONAL})
    await mail_to(runner, sink, first)
    await mail_to(runner, sink, second)

    for reader in (first, second):
        received = received_by(sink, reader)
        token = received.envelope_from.removeprefix("bounces+").partition("@")[0]
        # aiosmtpd hands the parameters over upper-cased; the relay sees them as sent.
        assert received.mail_options[-2:] == ["RET=HDRS", f"ENVID={token.upper()}"]
        assert received.rcpt_options == [NOTIFY, f"ORCPT=RFC822;{reader.upper()}"]
    assert (await message(bird, channel, sent))["status"] == "sent"

    # One copy reported delivered: the other may still bounce, so the message is only sent.
    await report_delivered(listener, received_by(sink, first))
    assert (await message(bird, channel, sent))["status"] == "sent"

    # The second copy too, reported twice (a relay retrying after a lost 250): delivered, once.
    for _ in range(2):
        await report_delivered(listener, received_by(sink, second))
    read = await message(bird, channel, sent)
    assert read["status"] == "delivered"
    assert read["lastStatusAt"] >= sent["lastStatusAt"]
    assert read.get("failure") is None

    # A delivery is no bounce: the contacts stay as they were, and nothing is an interaction.
    assert await contact_statuses(api, first, second) == ["non_subscribed", "non_subscribed"]
    interactions = await bird.ok("GET", f"/channels/{channel['id']}/messages/{sent['id']}/interactions")
    assert interactions["results"] == []
    await api.patch(f"/webhooks/{hook['webhook_id']}", {"active": False})
    assert await status_events(sessionmaker, bird, sent) == ["accepted", "sent", "delivered"]
    listed = await bird.ok("GET", f"/channels/{channel['id']}/messages?status=delivered")
    assert [m["id"] for m in listed["results"]] == [sent["id"]]


async def test_a_copy_that_failed_does_not_hold_back_delivered(
    bird: Bird, channel: dict[str, Any], runner: DeliveryRunner, sink: Sink, listener: BounceListener
) -> None:
    sink.dsn = True
    kept, refused = address("kept"), address("refused")
    sink.recipient_replies[refused] = "550 5.1.1 No such user"
    sent = await send(bird, channel, {"receiver": to(kept, refused), "body": text_body(), "meta": TRANSACTIONAL})
    await mail_to(runner, sink, kept)
    for _ in range(3):
        await runner.run_once()
    assert (await message(bird, channel, sent))["status"] == "sent"

    await report_delivered(listener, received_by(sink, kept))
    assert (await message(bird, channel, sent))["status"] == "delivered"


async def test_a_relay_without_dsn_is_not_asked_and_the_message_stays_sent(
    bird: Bird, channel: dict[str, Any], runner: DeliveryRunner, sink: Sink
) -> None:
    reader = address()
    sent = await send(bird, channel, {"receiver": to(reader), "body": text_body(), "meta": TRANSACTIONAL})
    await mail_to(runner, sink, reader)
    received = received_by(sink, reader)
    assert not [option for option in received.mail_options if option.startswith(("RET=", "ENVID="))]
    assert received.rcpt_options == []
    assert (await message(bird, channel, sent))["status"] == "sent"
