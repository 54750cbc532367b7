"""The bounce listener end to end: real SMTP into a real listener, effects read back through the API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from roost.models import Event, Interaction, Message
from tests.bounce.fixtures import sample
from tests.helpers import Api

SENDER = {"email": "news@example.org", "name": "Ada", "company": "Example", "address": "1 Main St"}


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


@dataclass
class Mailing:
    """A contact of an account who was sent one or more emails of a sequence (message rows, status sent)."""

    api: Api
    sessionmaker: async_sessionmaker[AsyncSession]
    addressing: Addressing
    listener: BounceListener
    sequence_id: int
    contact_id: int
    address: str

    @classmethod
    async def start(
        cls,
        api: Api,
        sessionmaker: async_sessionmaker[AsyncSession],
        addressing: Addressing,
        listener: BounceListener,
        address: str | None = None,
    ) -> Mailing:
        address = address or f"bea-{uuid.uuid4().hex[:10]}@example.com"
        sequence = await api.created("/sequences", {"name": "Welcome", "sender": SENDER})
        contact = await api.created("/contacts", {"email": address})
        joined = await api.post(
            f"/contacts/{contact['contact_id']}/sequences", {"sequence_id": sequence["sequence_id"]}
        )
        assert joined.status_code == 201, joined.text
        return cls(api, sessionmaker, addressing, listener, sequence["sequence_id"], contact["contact_id"], address)

    async def sent(self) -> tuple[int, int]:
        """A new email of the sequence and the message that delivered it: (email_id, message_id)."""
        email = await self.api.created(
            f"/sequences/{self.sequence_id}/emails", {"subject": "News", "body": "<p>Hi</p>"}
        )
        now = utcnow()
        async with self.sessionmaker() as session, session.begin():
            message = Message(
                account_id=self.api.account.id,
                kind="sequence",
                sequence_email_id=email["email_id"],
                contact_id=self.contact_id,
                to_address=self.address,
                status="sent",
                due_at=now,
                sent_at=now,
            )
            session.add(message)
        return email["email_id"], message.id

    async def deliver(self, name: str, message_id: int, *, to: str | None = None) -> None:
        """An MTA delivers the sample about that message to its VERP address (or to `to`)."""
        return_path = self.addressing.return_path(message_id)
        data = sample(
            name,
            return_path=return_path,
            recipient=self.address,
            token=self.addressing.token(message_id),
            fbl_address=to or return_path,
        )
        await send(self.listener, to or return_path, data)

    async def status(self) -> str:
        response = await self.api.get(f"/contacts/{self.contact_id}")
        assert response.status_code == 200, response.text
        status: str = response.json()["status"]
        return status

    async def sequences(self) -> list[Any]:
        sequences: list[Any] = (await self.api.get(f"/contacts/{self.contact_id}")).json()["sequences"]
        return sequences

    async def stats(self, email_id: int) -> dict[str, Any]:
        response = await self.api.get(f"/sequences/{self.sequence_id}/emails/{email_id}")
        assert response.status_code == 200, response.text
        stats: dict[str, Any] = response.json()["stats"]
        return stats

    async def events(self, *types: str) -> list[Event]:
        async with self.sessionmaker() as session:
            rows = await session.scalars(
                select(Event).where(Event.account_id == self.api.account.id, Event.type.in_(types)).order_by(Event.id)
            )
            return list(rows)

    async def interactions(self, message_id: int) -> list[tuple[str, str]]:
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(Interaction.type, Interaction.detail)
                .where(Interaction.message_id == message_id)
                .order_by(Interaction.id)
            )
            return [(row.type, row.detail) for row in rows]


async def send(listener: BounceListener, recipient: str, data: bytes) -> None:
    """Deliver as an MTA sends a report: null reverse path, one recipient."""
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port) as client:
        await client.sendmail("", [recipient], data)


@pytest.fixture
async def mailing(
    api: Api, sessionmaker: async_sessionmaker[AsyncSession], addressing: Addressing, listener: BounceListener
) -> Mailing:
    return await Mailing.start(api, sessionmaker, addressing, listener)


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


async def test_mail_to_the_list_unsubscribe_address_unsubscribes_once(mailing: Mailing) -> None:
    email_id, message_id = await mailing.sent()
    unsubscribe_address = f"unsubscribe+{mailing.addressing.token(message_id)}@{mailing.addressing.bounce_domain}"
    request = f"From: <{mailing.address}>\r\nTo: <{unsubscribe_address}>\r\nSubject: unsubscribe\r\n\r\n".encode()
    for _ in range(2):
        await send(mailing.listener, unsubscribe_address, request)

    assert await mailing.status() == "unsubscribed"
    assert await mailing.sequences() == []
    assert (await mailing.stats(email_id))["unsubscribes"] == 1
    assert await mailing.interactions(message_id) == [("unsubscribe", "mailto")]
    assert len(await mailing.events("contact.unsubscribed")) == 1


async def test_unsubscribing_a_bounced_contact_keeps_it_bounced(mailing: Mailing) -> None:
    _, message_id = await mailing.sent()
    await mailing.deliver("postfix_user_unknown", message_id)
    unsubscribe_address = f"unsubscribe+{mailing.addressing.token(message_id)}@{mailing.addressing.bounce_domain}"
    await send(mailing.listener, unsubscribe_address, b"Subject: unsubscribe\r\n\r\n")
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
    await send(mailing.listener, f"bounces+{forged}@{domain}", data)  # 250: never an error to the reporter
    await send(mailing.listener, f"unsubscribe+{forged}@{domain}", b"Subject: unsubscribe\r\n\r\n")

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
            await send(listener, address, b"Subject: hello\r\n\r\nhello\r\n")
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
            await send(failing, addressing.return_path(message_id), data)
        assert deferred.value.code == 451
    finally:
        await failing.stop()
        await unreachable.dispose()
    assert await mailing.status() == "active"

    # The MTA keeps the report and retries; this time the database answers.
    await mailing.deliver("postfix_user_unknown", message_id)
    assert await mailing.status() == "bounced"
    assert (await mailing.stats(email_id))["bounces"] == 1
