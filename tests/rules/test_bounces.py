"""Bounces and complaints reach rules through the real SMTP listener: the contact leaves its sequences,
which sets off their `unsubscribed` rules (CONVENTIONS §7, §9)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.bounce.listener import BounceListener
from roost.config import Settings
from roost.delivery.addressing import Addressing
from tests.bounce.fixtures import Mailing
from tests.helpers import Api
from tests.rules.conftest import Rules, tag_action


@pytest.fixture
async def listener(
    app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> AsyncIterator[BounceListener]:
    addressing = Addressing.from_settings(settings)
    server = BounceListener(sessionmaker, addressing, host="127.0.0.1", port=0, write_gate=app.state.roost.write_gate)
    await server.start()
    yield server
    await server.stop()


async def _mailing(api: Api, sessionmaker: async_sessionmaker[AsyncSession], listener: BounceListener) -> Mailing:
    return await Mailing.start(api, sessionmaker, listener.handler.addressing, listener.port)


async def test_a_hard_bounce_and_a_complaint_fire_the_unsubscribed_rules_of_their_sequences(
    rules: Rules, sessionmaker: async_sessionmaker[AsyncSession], listener: BounceListener
) -> None:
    bounced = await _mailing(rules.api, sessionmaker, listener)
    complained = await _mailing(rules.api, sessionmaker, listener)
    for mailing, tag in ((bounced, "Bounced out"), (complained, "Complained out")):
        await rules.create(
            [{"trigger": "unsubscribed", "params": {"sequence_id": mailing.sequence_id}}], [tag_action(tag)]
        )
    await rules.settle()

    _, message_id = await bounced.sent()
    await bounced.deliver("postfix_user_unknown", message_id)
    _, message_id = await complained.sent()
    fbl_address = f"bounces+fbl@{complained.addressing.bounce_domain}"
    await complained.deliver("feedback_loop_abuse", message_id, to=fbl_address)
    await rules.settle()

    assert await bounced.status() == "bounced"
    assert await rules.tags(bounced.contact_id) == {"Bounced out"}
    assert await complained.status() == "complained"
    assert await rules.tags(complained.contact_id) == {"Complained out"}
