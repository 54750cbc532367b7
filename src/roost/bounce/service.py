"""What a bounce, a complaint, a delivery report or an unsubscribe mail changes (CONVENTIONS §7 stats, §9).

Each function works in the caller's transaction and is idempotent: the same report delivered
again changes nothing more, because every step is keyed on the message (its status only moves
forward from sending or sent, a soft bounce, a delivery or an unsubscribe is recorded once per
message).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from roost import events
from roost.bounce.reports import Report
from roost.bounce.repository import InteractionRepository, message_for_update
from roost.channel import messages as channel_messages
from roost.contact import service as contact_service
from roost.delivery import stats
from roost.kit.clock import utcnow
from roost.models import Message
from roost.tracking import service as tracking_service

# A message can still turn out bounced or complained only while it is on its way or delivered.
LIVE_STATUSES = ("sending", "sent")
# A relay reports a delivery of mail it took: sent (or still `sending`, when the report overtook the
# sender's record of the relay's 250), or complained about already.
HANDED_OVER_STATUSES = (*LIVE_STATUSES, "complained")
# Stats count the mail of broadcasts and sequences, not test sends that name a broadcast.
SOFT_BOUNCE_LIMIT = 3
SOFT_BOUNCE_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """How a message ends: the status both it and its contact take, and what records it."""

    status: contact_service.Undeliverable
    interaction: str
    stat: stats.Stat
    event: str


_BOUNCED = _Outcome("bounced", "bounce", "bounces", "email.bounced")
_COMPLAINED = _Outcome("complained", "complaint", "spams", "email.complained")


# The SMTP reply code in a diagnostic ("550 5.1.1 …", "smtp; 550 …").
_REPLY_CODE = re.compile(r"\b([45][0-9][0-9])\b")


async def record_report(session: AsyncSession, *, message_id: int, report: Report) -> bool:
    """Apply a bounce, complaint or delivery to the message it names and its contact; False when nothing changed.

    Hard bounce: the message and the contact become `bounced`. Soft bounce: recorded, and the
    contact's third bounced message within 30 days makes it `bounced` too. Complaint: the message
    and the contact become `complained`. Each records its interaction, stat and events. Delivery:
    see `_record_delivery`.
    """
    message = await message_for_update(session, message_id)
    if message is None:
        return False
    if report.kind == "delivered":
        return await _record_delivery(session, message)
    if message.status not in LIVE_STATUSES:
        return False
    interactions = InteractionRepository(session, message.account_id)
    if report.kind == "soft":
        if await interactions.exists(message.id, "bounce"):
            return False
        interactions.record(message, "bounce", report.detail)
        if await _soft_limit_reached(session, interactions, message):
            await _conclude(session, message, _BOUNCED, report)
        return True
    outcome = _COMPLAINED if report.kind == "complaint" else _BOUNCED
    interactions.record(message, outcome.interaction, report.detail)
    await _conclude(session, message, outcome, report)
    return True


async def _record_delivery(session: AsyncSession, message: Message) -> bool:
    """The relay reported the message delivered (a success DSN): note when, once, and bring its channel
    message's status up to date (it may become `delivered`).

    No bounce: the contact, the interactions and the stats stay as they are, and no event is
    recorded but the channel message's own `message.status`. Only channel messages ask for these
    reports; one about other mail (a relay that sends them unasked) is noted just the same.
    """
    if message.delivered_at is not None or message.status not in HANDED_OVER_STATUSES:
        return False
    message.delivered_at = utcnow()
    if message.channel_message_id is not None:
        await session.flush()
        await channel_messages.settle(session, {message.channel_message_id})
    return True


async def record_unsubscribe(session: AsyncSession, *, message_id: int) -> bool:
    """The recipient mailed the List-Unsubscribe address: the same as the unsubscribe link's button."""
    message = await message_for_update(session, message_id)
    if message is None:
        return False
    return await tracking_service.unsubscribe_contact_of(session, message=message, via="mailto")


async def _soft_limit_reached(session: AsyncSession, interactions: InteractionRepository, message: Message) -> bool:
    if message.contact_id is None:
        return False
    await session.flush()  # the bounce just recorded counts
    since = utcnow() - SOFT_BOUNCE_WINDOW
    return await interactions.bounced_messages(message.contact_id, since) >= SOFT_BOUNCE_LIMIT


async def _conclude(session: AsyncSession, message: Message, outcome: _Outcome, report: Report) -> None:
    """The message ends bounced or complained: count it, tell rules and webhooks, stop mailing the contact."""
    message.status = outcome.status
    if outcome is _BOUNCED and report.diagnostic:  # why it bounced, as the message's last error
        message.last_error = report.diagnostic[:2000]
        if code := _REPLY_CODE.search(report.diagnostic):
            message.smtp_code = int(code.group(1))
    await stats.count(session, message, outcome.stat)
    events.record(
        session,
        account_id=message.account_id,
        type=outcome.event,
        contact_id=message.contact_id,
        data={
            "message_id": message.id,
            "broadcast_id": message.broadcast_id,
            "sequence_email_id": message.sequence_email_id,
            "email": message.to_address,
            "type": report.kind,
            "status": report.status,
            "diagnostic": report.diagnostic[:500],
        },
    )
    if message.contact_id is not None:
        await contact_service.mark_undeliverable(
            session, account_id=message.account_id, contact_id=message.contact_id, status=outcome.status
        )
    if message.channel_message_id is not None:  # its channel message becomes delivery_failed (or sending_failed)
        await session.flush()
        await channel_messages.settle(session, {message.channel_message_id})
