"""The bounce listener end to end: real SMTP into a real listener, effects read back through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.bounce.listener import BounceListener
from roost.config import Settings
from roost.db import create_engine, create_sessionmaker
from roost.delivery.addressing import Addressing
from roost.kit.clock import utcnow
from roost.models import Interaction, Message
from tests.bounce.fixtures import Mailing, sample, send
from tests.helpers import Api


@pytest.fixture(scope="module")
def addressing(settings: Settings) -> Addressing:
    return Addressing.from_settings(settings)


@pytest.fixture
async def listener(
    app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession], addressing: Addressing
) -> AsyncIterator[BounceListener]:
    server = BounceListener(sessionmaker, addressing, host="127.0.0.1", port=0, write_gate=app.state.roost.write_gate)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def mailing(
    api: Api, sessionmaker: async_sessionmaker[AsyncSession], addressing: Addressing, listener: BounceListener
) -> Mailing:
    return await Mailing.start(api, sessionmaker, addressing, listener.port)


async def test_hard_bounce_marks_the_contact_bounced_once(mailing: Mailing) -> None:
    email_id, message_id = await mailing.sent()
    await mailing.deliver("postfix_user_unknown", message_id)

    assert await mailing.status() == "bounced"
    assert await mailing.sequences() == []  # it left its sequences, as an unsubscribed contact does
    assert (await mailing.stats(email_id))["bounces"] == 1
    assert await mailing.interactions(message_id) == [
        (
            "bounce",
            f"5.1.1 550 5.1.1 <{mailing.address}>: Recipient address rejected: User unknown in virtual mailbox table",
        )
    ]
    bounced = await mailing.events("email.bounced", "contact.bounced", "sequence.unsubscribed")
    assert [event.type for event in bounced] == ["email.bounced", "contact.bounced", "sequence.unsubscribed"]
    assert bounced[0].contact_id == mailing.contact_id
    assert bounced[0].data["message_id"] == message_id
    assert bounced[0].data["sequence_email_id"] == email_id
    assert (bounced[0].data["type"], bounced[0].data["status"]) == ("hard", "5.1.1")

    # The same DSN again (an MTA that retried after a lost 250) changes nothing more.
    await mailing.deliver("postfix_user_unknown", message_id)
    assert (await mailing.stats(email_id))["bounces"] == 1
    assert len(await mailing.interactions(message_id)) == 1
    assert len(await mailing.events("email.bounced", "contact.bounced")) == 2


async def test_a_bounce_changes_nothing_in_another_account_with_the_same_address(
    mailing: Mailing, other_api: Api
) -> None:
    twin = await other_api.created("/contacts", {"email": mailing.address})
    _, message_id = await mailing.sent()
    await mailing.deliver("exchange_online_not_found", message_id)
    assert await mailing.status() == "bounced"
    assert (await other_api.get(f"/contacts/{twin['contact_id']}")).json()["status"] == "active"


async def test_three_soft_bounces_within_30_days_mark_the_contact_bounced(mailing: Mailing) -> None:
    sent = [await mailing.sent() for _ in range(3)]
    await mailing.deliver("postfix_delayed", sent[0][1])
    # Delay warnings repeat for one message (after 4 hours, after a day…): a message counts once.
    await mailing.deliver("postfix_delayed", sent[0][1])
    await mailing.deliver("postfix_delayed", sent[1][1])
    assert await mailing.status() == "active"
    assert [await mailing.interactions(message_id) for _, message_id in sent[:2]] == [
        [("bounce", f"soft 4.2.2 452 4.2.2 <{mailing.address}>: Mailbox full")]
    ] * 2
    assert [(await mailing.stats(email_id))["bounces"] for email_id, _ in sent] == [0, 0, 0]
    assert await mailing.events("email.bounced", "contact.bounced") == []

    await mailing.deliver("postfix_delayed", sent[2][1])
    assert await mailing.status() == "bounced"
    # The bounce that tipped the contact over is the one its email counts.
    assert [(await mailing.stats(email_id))["bounces"] for email_id, _ in sent] == [0, 0, 1]
    bounced = await mailing.events("email.bounced", "contact.bounced")
    assert [event.type for event in bounced] == ["email.bounced", "contact.bounced"]
    assert (bounced[0].data["message_id"], bounced[0].data["type"]) == (sent[2][1], "soft")


async def test_soft_bounces_older_than_30_days_do_not_count(mailing: Mailing) -> None:
    sent = [await mailing.sent() for _ in range(3)]
    for _, message_id in sent:
        await mailing.deliver("postfix_delayed", message_id)
        async with mailing.sessionmaker() as session, session.begin():
            for interaction in await session.scalars(select(Interaction).where(Interaction.message_id == message_id)):
                interaction.created_at = utcnow().replace(year=utcnow().year - 1)
    assert await mailing.status() == "active"


async def test_complaint_from_a_feedback_loop_marks_the_contact_complained(mailing: Mailing) -> None:
    email_id, message_id = await mailing.sent()
    # Feedback loops report to the one address registered with them; Original-Mail-From names the message.
    fbl_address = f"bounces+fbl@{mailing.addressing.bounce_domain}"
    for _ in range(2):
        await mailing.deliver("feedback_loop_abuse", message_id, to=fbl_address)

    assert await mailing.status() == "complained"
    assert await mailing.sequences() == []
    assert (await mailing.stats(email_id))["spams"] == 1
    assert await mailing.interactions(message_id) == [("complaint", "abuse")]
    complained = await mailing.events("email.complained", "contact.complained")
    assert [event.type for event in complained] == ["email.complained", "contact.complained"]
    assert complained[0].data["message_id"] == message_id


async def test_a_bounce_after_a_complaint_leaves_the_contact_complained(mailing: Mailing) -> None:
    _, first = await mailing.sent()
    _, second = await mailing.sent()
    await mailing.deliver("feedback_loop_abuse", first)
    await mailing.deliver("postfix_user_unknown", second)
    assert await mailing.status() == "complained"


async def test_a_delivery_report_for_mail_that_did_not_ask_for_one_is_noted_and_no_bounce(mailing: Mailing) -> None:
    # Only channel messages ask for success DSNs; a relay may send them for a sequence's mail anyway.
    email_id, message_id = await mailing.sent()
    for _ in range(2):
        await mailing.deliver("postfix_delivered", message_id)

    assert await mailing.status() == "active"
    assert await mailing.sequences() != []
    assert (await mailing.stats(email_id))["bounces"] == 0
    assert await mailing.interactions(message_id) == []
    assert await mailing.events("email.bounced", "contact.bounced", "email.complained") == []
    async with mailing.sessionmaker() as session:
        message = await session.get(Message, message_id)
    assert message is not None
    assert (message.status, message.delivered_at is not None) == ("sent", True)


async def test_mail_to_the_list_unsubscribe_address_unsubscribes_once(mailing: Mailing) -> None:
    email_id, message_id = await mailing.sent()
    unsubscribe_address = mailing.unsubscribe_address(message_id)
    request = f"From: <{mailing.address}>\r\nTo: <{unsubscribe_address}>\r\nSubject: unsubscribe\r\n\r\n".encode()
    for _ in range(2):
        await send(mailing.port, unsubscribe_address, request)

    assert await mailing.status() == "unsubscribed"
    assert await mailing.sequences() == []
    assert (await mailing.stats(email_id))["unsubscribes"] == 1
    assert await mailing.interactions(message_id) == [("unsubscribe", "mailto")]
    assert len(await mailing.events("contact.unsubscribed")) == 1


async def test_unsubscribing_a_bounced_contact_keeps_it_bounced(mailing: Mailing) -> None:
    _, message_id = await mailing.sent()
    await mailing.deliver("postfix_user_unknown", message_id)
    unsubscribe_address = mailing.unsubscribe_address(message_id)
    await send(mailing.port, unsubscribe_address, b"Subject: unsubscribe\r\n\r\n")
    assert (await mailing.api.delete(f"/contacts/{mailing.contact_id}/unsubscribe")).status_code == 204
    assert await mailing.status() == "bounced"


async def test_forged_tokens_are_accepted_and_ignored(mailing: Mailing) -> None:
    email_id, message_id = await mailing.sent()
    domain = mailing.addressing.bounce_domain
    forged = f"{message_id}.{'0' * 24}"  # the real message id under a made-up signature
    data = sample(
        "postfix_user_unknown",
        return_path=f"bounces+{forged}@{domain}",
        recipient=mailing.address,
        token=forged,
    )
    await send(mailing.port, f"bounces+{forged}@{domain}", data)  # 250: never an error to the reporter
    await send(mailing.port, f"unsubscribe+{forged}@{domain}", b"Subject: unsubscribe\r\n\r\n")

    assert await mailing.status() == "active"
    assert await mailing.stats(email_id) == {
        "sent": 0,
        "opens": 0,
        "clicks": 0,
        "ltv": 0,
        "bounces": 0,
        "spams": 0,
        "unsubscribes": 0,
    }
    assert await mailing.interactions(message_id) == []


async def test_mail_that_is_no_report_is_accepted_and_dropped(mailing: Mailing) -> None:
    _, message_id = await mailing.sent()
    await mailing.deliver("vacation_reply", message_id)
    assert await mailing.status() == "active"
    assert await mailing.interactions(message_id) == []


async def test_other_addresses_are_refused(listener: BounceListener, addressing: Addressing) -> None:
    for address in (f"postmaster@{addressing.bounce_domain}", f"bounces+{addressing.token(1)}@elsewhere.example"):
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await send(listener.port, address, b"Subject: hello\r\n\r\nhello\r\n")
        assert refused.value.recipients[0].code == 550


async def test_a_database_failure_answers_451_so_the_report_is_retried(
    mailing: Mailing, addressing: Addressing, tmp_path: Path
) -> None:
    email_id, message_id = await mailing.sent()
    unreachable = create_engine(f"sqlite:///{tmp_path / 'no-such-directory' / 'roost.db'}")
    failing = BounceListener(create_sessionmaker(unreachable), addressing, host="127.0.0.1", port=0)
    await failing.start()
    try:
        data = sample(
            "postfix_user_unknown",
            return_path=addressing.return_path(message_id),
            recipient=mailing.address,
            token=addressing.token(message_id),
        )
        with pytest.raises(aiosmtplib.SMTPDataError) as deferred:
            await send(failing.port, addressing.return_path(message_id), data)
        assert deferred.value.code == 451
    finally:
        await failing.stop()
        await unreachable.dispose()
    assert await mailing.status() == "active"

    # The MTA keeps the report and retries; this time the database answers.
    await mailing.deliver("postfix_user_unknown", message_id)
    assert await mailing.status() == "bounced"
    assert (await mailing.stats(email_id))["bounces"] == 1
