"""Sequences step members through their emails: due times, skipped inactive emails, pauses, completion."""

from __future__ import annotations

import email
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.delivery import repository
from roost.delivery.runner import DeliveryRunner
from roost.kit.clock import utcnow
from roost.models import ContactSequence, Event, Message, SequenceEmail
from tests.delivery.conftest import SENDER
from tests.helpers import Api
from tests.mail.sink import Sink


async def _sequence(api: Api) -> int:
    sequence = await api.created("/sequences", {"name": f"Welcome {uuid.uuid4().hex[:6]}", "sender": SENDER})
    sid = int(sequence["sequence_id"])
    emails = [
        ("Welcome aboard", 0, "minute", True),
        ("Never sent: inactive", 0, "minute", False),
        ("Day two tips", 1, "day", True),
    ]
    for subject, delay, unit, active in emails:
        await api.created(
            f"/sequences/{sid}/emails",
            {"subject": subject, "body": "<p>Hi</p>", "schedule": {"delay": delay, "type": unit}, "active": active},
        )
    return sid


async def _received(sink: Sink, address: str) -> list[str]:
    return [str(email.message_from_bytes(r.data)["Subject"]) for r in sink.received if r.recipients == [address]]


async def _pass_time(sessionmaker: async_sessionmaker[AsyncSession], contact_id: int, by: timedelta) -> None:
    """Move a member's clock back instead of waiting: its last step went out `by` earlier."""
    async with sessionmaker() as session, session.begin():
        member = (await session.scalars(select(ContactSequence).where(ContactSequence.contact_id == contact_id))).one()
        await session.execute(
            update(ContactSequence)
            .where(ContactSequence.contact_id == contact_id)
            .values(
                subscribed_at=member.subscribed_at - by,
                last_sent_at=member.last_sent_at - by if member.last_sent_at else None,
                next_due_at=member.next_due_at - by if member.next_due_at else None,
            )
        )


async def test_members_receive_the_active_emails_in_order_each_after_its_delay(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink
) -> None:
    runner = DeliveryRunner.from_settings(settings.model_copy(update={"smtp_url": sink.url}), sessionmaker)
    sid = await _sequence(api)
    address = f"member@{uuid.uuid4().hex[:8]}.example"
    contact = await api.created("/contacts", {"email": address})
    cid = contact["contact_id"]
    await api.created(f"/contacts/{cid}/sequences", {"sequence_id": sid})

    for _ in range(3):
        await runner.run_once()
    assert await _received(sink, address) == ["Welcome aboard"]
    membership = (await api.get(f"/contacts/{cid}")).json()["sequences"][0]
    assert membership["current_step"] == 1

    for _ in range(3):  # a day has not passed: nothing more
        await runner.run_once()
    assert await _received(sink, address) == ["Welcome aboard"]

    await _pass_time(sessionmaker, cid, timedelta(days=1))
    for _ in range(3):
        await runner.run_once()
    assert await _received(sink, address) == ["Welcome aboard", "Day two tips"]
    assert (await api.get(f"/contacts/{cid}")).json()["sequences"][0]["current_step"] == 2
    async with sessionmaker() as session:
        completed = await session.scalars(
            select(Event).where(Event.type == "sequence.completed", Event.contact_id == cid)
        )
        assert [event.data for event in completed] == [{"sequence_id": sid}]
    stats = (await api.get(f"/sequences/{sid}/emails")).json()["data"]
    assert [email["stats"]["sent"] for email in stats] == [1, 0, 1]


async def test_inactive_sequences_and_contacts_that_are_not_active_receive_nothing(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink
) -> None:
    runner = DeliveryRunner.from_settings(settings.model_copy(update={"smtp_url": sink.url}), sessionmaker)
    paused_sid = await _sequence(api)
    await api.patch(f"/sequences/{paused_sid}", {"active": False})
    member = f"paused@{uuid.uuid4().hex[:8]}.example"
    contact = await api.created("/contacts", {"email": member})
    await api.created(f"/contacts/{contact['contact_id']}/sequences", {"sequence_id": paused_sid})

    # A contact waiting for its double opt-in may be put in a sequence; it gets nothing until it confirms.
    form = await api.created("/forms", {"name": "Signup", "double_optin": True})
    waiting = f"waiting@{uuid.uuid4().hex[:8]}.example"
    unconfirmed = await api.created("/contacts", {"email": waiting, "form_id": form["form_id"]})
    assert unconfirmed["status"] == "unconfirmed"
    await api.created(f"/contacts/{unconfirmed['contact_id']}/sequences", {"sequence_id": await _sequence(api)})

    for _ in range(3):
        await runner.run_once()
    assert await _received(sink, member) == []
    assert await _received(sink, waiting) == ["Please confirm your subscription"]  # its opt-in, no sequence email
    async with sessionmaker() as session:
        paused = await session.scalars(
            select(ContactSequence.next_due_at).where(
                ContactSequence.contact_id.in_([contact["contact_id"], unconfirmed["contact_id"]])
            )
        )
        assert all(due is not None and due > utcnow() + timedelta(minutes=5) for due in paused)  # rechecked later

    await api.patch(f"/sequences/{paused_sid}", {"active": True})
    async with sessionmaker() as session, session.begin():  # the pause's recheck time comes
        await session.execute(
            update(ContactSequence).where(ContactSequence.sequence_id == paused_sid).values(next_due_at=utcnow())
        )
    for _ in range(3):
        await runner.run_once()
    assert await _received(sink, member) == ["Welcome aboard"]


async def test_a_step_queued_twice_for_a_member_is_one_message(
    api: Api, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Two passes that both find a member's step due (two workers, or a retry) send it once."""
    sid = await _sequence(api)
    address = f"member@{uuid.uuid4().hex[:8]}.example"
    cid = (await api.created("/contacts", {"email": address}))["contact_id"]
    await api.created(f"/contacts/{cid}/sequences", {"sequence_id": sid})
    async with sessionmaker() as session, session.begin():
        member = (await session.scalars(select(ContactSequence).where(ContactSequence.contact_id == cid))).one()
        step = (
            await session.scalars(
                select(SequenceEmail).where(SequenceEmail.sequence_id == sid).order_by(SequenceEmail.id)
            )
        ).first()
        assert step is not None
        for _ in range(2):
            await repository.queue_step(session, member, step, address, utcnow())
    async with sessionmaker() as session:
        queued = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.sequence_email_id == step.id, Message.contact_id == cid)
        )
    assert queued == 1
