"""Messages sent through a channel (CONVENTIONS §10): accepted as rows, sent by the delivery engine, read back.

Channel messages are accepted many at a time (`send_many`, fed by the intake's batches), each with
a `messages` row per receiver (kind `channel`), which the delivery engine claims, composes and
sends like any other mail: retries, leases, pacing, bounces and tracking come with it. The channel
message's status is what its receivers' mail adds up to, brought up to date whenever one of them
ends or is reported delivered (`settle`); each change is also a `message.status` event for webhooks.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from roost import events
from roost.channel import repository
from roost.channel import service as channel_service
from roost.channel.repository import ChannelMessageRepository, ReceiverOutcome, receiver_matches, tagged
from roost.channel.types import (
    Accepted,
    InteractionView,
    MessageFilter,
    MessagePage,
    NewMessage,
    Receiver,
    Submission,
)
from roost.contact import service as contact_service
from roost.contact.types import MessagedContact
from roost.errors import Conflict, DomainError, Invalid, NotFound
from roost.kit.clock import utcnow
from roost.kit.ids import MAX_ID, parse_uuid
from roost.media import service as media_service
from roost.models import Channel, ChannelMessage, Tag
from roost.tag import service as tag_service
from roost.template import service as template_service
from roost.webhook import service as webhook_service

MAX_TAGS = 10
MAX_RECEIVERS = 50
SEND_NOW_WITHIN = timedelta(minutes=10)
MAX_SCHEDULE_AHEAD = timedelta(days=35)
# Seed 003: promotional, conversational and transactional messages are valid for 36 hours.
DEFAULT_VALIDITY = timedelta(seconds=129_600)
MAX_VALIDITY = timedelta(days=35)
# Contacts that asked for no marketing mail, or whose address does not work.
NOT_FOR_MARKETING = frozenset({"unsubscribed", "bounced", "complained"})
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
_PAGE_TOKEN_PREFIX = b"roost-page:"
# Where a message's failure comes from (the `failure.source` of seed 004).
FAILURE_SOURCE = {"code": "smtp", "name": "Roost delivery"}


async def send_many(
    session: AsyncSession, submissions: Sequence[Submission], *, listeners: webhook_service.Listeners | None = None
) -> list[Accepted | DomainError]:
    """Accept many messages with a handful of statements for them all: each one's message, or why it was refused.

    A refused submission changes nothing. One that repeats an earlier submission's Idempotency-Key
    is taken after it, so it answers the message the earlier one made. `listeners` says which
    accounts' webhooks hear of new contacts and statuses (by default, asked afresh).
    """
    listeners = listeners or webhook_service.Listeners(ttl=0)
    outcomes: dict[int, Accepted | DomainError] = {}
    waiting = dict(enumerate(submissions))
    while waiting:
        keys_taken: set[tuple[int, str]] = set()
        by_account: dict[int, dict[int, Submission]] = defaultdict(dict)
        for index, submission in waiting.items():
            if submission.idempotency_key is not None:
                key = (submission.account_id, submission.idempotency_key)
                if key in keys_taken:
                    continue
                keys_taken.add(key)
            by_account[submission.account_id][index] = submission
        for account_id, batch in by_account.items():
            outcomes.update(await _accept(session, account_id, batch, listeners))
        waiting = {index: submission for index, submission in waiting.items() if index not in outcomes}
    return [outcomes[index] for index in range(len(submissions))]


@dataclass(slots=True)
class _Draft:
    """A submission that passed the checks of its own, waiting for its receivers and tags."""

    submission: Submission
    channel: Channel
    status: str
    due_at: datetime
    expires_at: datetime
    tag_names: list[str]
    from_email: str
    subject: str
    html: str | None
    text: str | None
    template_version_id: int | None
    receivers: list[tuple[Receiver, MessagedContact]] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)


async def _accept(
    session: AsyncSession, account_id: int, batch: dict[int, Submission], listeners: webhook_service.Listeners
) -> dict[int, Accepted | DomainError]:
    """Accept one account's submissions (no Idempotency-Key twice), by their index."""
    now = utcnow()
    repo = ChannelMessageRepository(session, account_id)
    channels = await channel_service.by_public_ids(
        session, account_id=account_id, channel_ids={submission.channel_id for submission in batch.values()}
    )
    earlier = await repo.by_idempotency_keys(
        {submission.idempotency_key for submission in batch.values() if submission.idempotency_key is not None}
    )
    outcomes: dict[int, Accepted | DomainError] = {}
    drafts: dict[int, _Draft] = {}
    for index, submission in batch.items():
        try:
            drafted = await _draft(session, submission, channels.get(submission.channel_id), earlier, now)
        except DomainError as refusal:
            outcomes[index] = refusal
            continue
        if isinstance(drafted, Accepted):
            outcomes[index] = drafted
        else:
            drafts[index] = drafted
    for index, unknown_contact in (await _resolve_receivers(session, account_id, drafts, listeners)).items():
        outcomes[index] = unknown_contact
        del drafts[index]
    if not drafts:
        return outcomes
    await _resolve_tags(session, account_id, drafts.values())
    rows = [_row(draft, now) for draft in drafts.values()]
    # Core inserts with the rows as parameters: this is the API's hottest write, and the ORM's unit
    # of work would double its cost.
    messages = dict(zip(drafts, await repo.insert_many(rows), strict=True))
    await repo.link_tags([(messages[index].id, tag.id) for index, draft in drafts.items() for tag in draft.tags])
    receiver_rows = [
        _receiver_row(draft, messages[index].id, contact, now)
        for index, draft in drafts.items()
        for _, contact in draft.receivers
    ]
    await repository.insert_receiver_messages(session, receiver_rows)
    await _announce(session, list(messages.values()), listeners)
    # A message none of whose receivers may be sent to has ended already.
    sent_to = {row["channel_message_id"] for row in receiver_rows if row["status"] == "queued"}
    by_id = {message.id: message for message in messages.values()}
    for settled in await settle(session, [id_ for id_ in by_id if id_ not in sent_to], listeners=listeners):
        message = by_id[settled.id]
        for column in ("status", "failure_code", "failure_description", "last_status_at", "updated_at"):
            setattr(message, column, getattr(settled, column))
    outcomes.update((index, Accepted(message)) for index, message in messages.items())
    return outcomes


async def _draft(
    session: AsyncSession,
    submission: Submission,
    channel: Channel | None,
    earlier: Mapping[str, ChannelMessage],
    now: datetime,
) -> _Draft | Accepted:
    """Check a submission on its own: its draft, the message an earlier request with its key made, or a DomainError."""
    new = submission.new
    if channel is None:
        raise NotFound()
    replayed = earlier.get(submission.idempotency_key) if submission.idempotency_key is not None else None
    if replayed is not None:
        if replayed.request_hash != new.request_hash or replayed.channel_id != channel.id:
            raise Conflict("This Idempotency-Key was used for a different request.")
        return Accepted(replayed, replayed=True)
    if channel.status != "active":
        raise Invalid.field("channelId", "The channel is not active: activate it before sending through it.")
    due_at, status = _schedule(new.scheduled_for, now)
    expires_at = due_at + _validity(new.validity)
    if not new.receivers:
        raise Invalid.field("receiver.contacts", "The receiver.contacts must name at least one receiver.")
    if len(new.receivers) > MAX_RECEIVERS:
        raise Invalid.field("receiver.contacts", f"A message may have at most {MAX_RECEIVERS} receivers.")
    tag_names = list(dict.fromkeys(name.strip().lower() for name in new.tags if name.strip()))
    if len(tag_names) > MAX_TAGS:
        raise Invalid.field("tags", f"A message may have at most {MAX_TAGS} tags.")
    from_email = _from_address(channel, new.from_username)
    subject, html, text, template_version_id = await _content(session, submission.account_id, new)
    await _check_attachments(session, submission.account_id, new)
    return _Draft(
        submission, channel, status, due_at, expires_at, tag_names, from_email, subject, html, text, template_version_id
    )


def _schedule(scheduled_for: datetime | None, now: datetime) -> tuple[datetime, str]:
    """When to send, and the first status: soon means now (seed 003), too far ahead is refused."""
    if scheduled_for is None or scheduled_for <= now + SEND_NOW_WITHIN:
        return now, "accepted"
    if scheduled_for > now + MAX_SCHEDULE_AHEAD:
        raise Invalid.field("scheduledFor", "The scheduledFor may be at most 35 days ahead.")
    return scheduled_for, "scheduled"


def _validity(seconds: int | None) -> timedelta:
    if seconds is None:
        return DEFAULT_VALIDITY
    validity = timedelta(seconds=seconds)
    if validity > MAX_VALIDITY:
        raise Invalid.field("validity", "The validity may be at most 35 days (3024000 seconds).")
    return validity


async def _content(
    session: AsyncSession, account_id: int, new: NewMessage
) -> tuple[str, str | None, str | None, int | None]:
    """Subject, html, text and template version of the message: its body, or its template rendered now."""
    if new.template is None:
        return new.subject or "", new.html, new.text, None
    rendered = await template_service.render(
        session,
        account_id=account_id,
        project_id=new.template.project_id,
        version=new.template.version,
        locale=new.template.locale,
        variables=new.template.variables,
    )
    return new.subject or rendered.subject, rendered.html, rendered.text, rendered.version_id


async def _check_attachments(session: AsyncSession, account_id: int, new: NewMessage) -> None:
    where = "template" if new.template is not None else "body"
    problems: dict[str, list[str]] = {}
    for index, attachment in enumerate(new.attachments):
        problem = await media_service.check_attachment_url(session, account_id=account_id, url=attachment.media_url)
        if problem is not None:
            problems[f"{where}.attachments.{index}.mediaUrl"] = [problem]
    if problems:
        raise Invalid(problems)


async def _resolve_receivers(
    session: AsyncSession, account_id: int, drafts: Mapping[int, _Draft], listeners: webhook_service.Listeners
) -> dict[int, DomainError]:
    """Give each draft its receivers' contacts, each address once; the drafts naming a contact id of no contact.

    Unknown addresses become contacts (CONVENTIONS §10), but only for the drafts that are accepted;
    their `contact.created` is recorded when a webhook of the account listens (no rule hears it).
    """
    refusals: dict[int, DomainError] = {}
    wanted_ids = {r.contact_id for d in drafts.values() for r in d.submission.new.receivers if r.contact_id is not None}
    by_id: dict[int, MessagedContact] = {}
    if wanted_ids:
        _, by_id = await contact_service.for_messaging(
            session, account_id=account_id, emails=[], contact_ids=sorted(wanted_ids), announce_new=False
        )
        for index, draft in drafts.items():
            for position, receiver in enumerate(draft.submission.new.receivers):
                if receiver.contact_id is not None and receiver.contact_id not in by_id:
                    refusals[index] = Invalid.field(
                        f"receiver.contacts.{position}.id", "No contact of this workspace has this id."
                    )
                    break
    accepted = [draft for index, draft in drafts.items() if index not in refusals]
    emails = [r.address for d in accepted for r in d.submission.new.receivers if r.address is not None]
    by_email, _ = await contact_service.for_messaging(
        session,
        account_id=account_id,
        emails=emails,
        contact_ids=[],
        announce_new=bool(emails) and bool(await listeners.among(session, {account_id}, "contact.created")),
    )
    for draft in accepted:
        resolved: dict[str, tuple[Receiver, MessagedContact]] = {}
        for receiver in draft.submission.new.receivers:
            if receiver.contact_id is not None:
                contact = by_id[receiver.contact_id]
            else:
                assert receiver.address is not None  # a receiver has an address or an id (the wire schema checks)
                contact = by_email[receiver.address.lower()]
            resolved.setdefault(contact.email.lower(), (receiver, contact))
        draft.receivers = list(resolved.values())
    return refusals


async def _resolve_tags(session: AsyncSession, account_id: int, drafts: Iterable[_Draft]) -> None:
    """Give each draft its tags, creating the missing ones."""
    drafts = list(drafts)
    names = list(dict.fromkeys(name for draft in drafts for name in draft.tag_names))
    if not names:
        return
    tags = {
        tag.name.lower(): tag for tag in await tag_service.get_or_create(session, account_id=account_id, names=names)
    }
    for draft in drafts:
        draft.tags = [tags[name] for name in draft.tag_names]


def _row(draft: _Draft, now: datetime) -> dict[str, Any]:
    """The draft's `channel_messages` row."""
    new, channel = draft.submission.new, draft.channel
    return {
        "uuid": uuid.uuid4(),
        "account_id": draft.submission.account_id,
        "channel_id": channel.id,
        "status": draft.status,
        "reference": new.reference,
        "use_case": new.use_case,
        "link_tracking": new.link_tracking if new.link_tracking is not None else new.use_case == "marketing",
        "subject": draft.subject,
        "from_email": draft.from_email,
        "from_name": new.from_display_name if new.from_display_name is not None else channel.sender_name,
        "reply_to": new.reply_to or channel.reply_to,
        "html": draft.html,
        "text": draft.text,
        "attachments": [{"mediaUrl": a.media_url, "filename": a.filename, "inline": a.inline} for a in new.attachments],
        "receivers": [
            {"address": contact.email, "type": receiver.type, "contactId": contact.id}
            for receiver, contact in draft.receivers
        ],
        "tags": [tag.name.lower() for tag in draft.tags],
        "content": new.content,
        "template_version_id": draft.template_version_id,
        "scheduled_for": new.scheduled_for,
        "expires_at": draft.expires_at,
        "failure_code": None,
        "failure_description": None,
        "idempotency_key": draft.submission.idempotency_key,
        "request_hash": new.request_hash,
        "created_at": now,
        "updated_at": now,
        "last_status_at": now,
    }


def _receiver_row(draft: _Draft, channel_message_id: int, contact: MessagedContact, now: datetime) -> dict[str, Any]:
    """The `messages` row of one receiver, which the delivery engine sends."""
    # Marketing mail honours unsubscribes (CONVENTIONS §10): such a receiver gets nothing.
    refused = draft.submission.new.use_case == "marketing" and contact.status in NOT_FOR_MARKETING
    return {
        "account_id": draft.submission.account_id,
        "kind": "channel",
        "channel_message_id": channel_message_id,
        "contact_id": contact.id,
        "to_address": contact.email,
        "status": "cancelled" if refused else "queued",
        "last_error": f"The contact is {contact.status}: marketing mail is not sent to it." if refused else None,
        "attempts": 0,
        "due_at": draft.due_at,
        "created_at": now,
    }


def _from_address(channel: Channel, username: str | None) -> str:
    """The channel's sender address, its local part replaced by `emailFrom.username` when given."""
    if not username:
        return channel.sender_email
    if not _LOCAL_PART.match(username) or len(username) > 64:
        raise Invalid.field("body.metadata.emailFrom.username", "The username must be the local part of an address.")
    return f"{username}@{channel.sender_email.rpartition('@')[2]}"


async def get(session: AsyncSession, *, account_id: int, channel_id: str, message_id: str) -> ChannelMessage:
    """One message of the channel by its public id, or NotFound."""
    channel = await channel_service.get(session, account_id=account_id, channel_id=channel_id)
    public_id = parse_uuid(message_id)
    message = (
        await ChannelMessageRepository(session, account_id).by_uuid(public_id, channel_id=channel.id)
        if public_id
        else None
    )
    if message is None:
        raise NotFound()
    return message


async def list_page(
    session: AsyncSession,
    *,
    account_id: int,
    channel_id: str,
    filters: MessageFilter,
    limit: int,
    page_token: str | None,
    reverse: bool,
) -> MessagePage:
    """A page of the channel's messages, newest first (oldest first with `reverse`).

    Page tokens name the last message of the page, so a page never repeats or skips a message
    when others are accepted meanwhile (CONVENTIONS §10).
    """
    channel = await channel_service.get(session, account_id=account_id, channel_id=channel_id)
    if filters.incoming:  # Roost's channels only send
        return MessagePage([], None)
    after = _read_page_token(page_token) if page_token else None
    messages = await ChannelMessageRepository(session, account_id).keyset_page(
        channel_id=channel.id, where=_conditions(filters), after=after, oldest_first=reverse, limit=limit + 1
    )
    more = len(messages) > limit
    messages = messages[:limit]
    return MessagePage(messages, _page_token(messages[-1].id) if more else None)


def _conditions(filters: MessageFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.ids:
        conditions.append(ChannelMessage.uuid.in_([uuid.UUID(id_) for id_ in filters.ids]))
    if filters.start_at is not None:
        conditions.append(ChannelMessage.created_at >= filters.start_at)
    if filters.end_at is not None:
        conditions.append(ChannelMessage.created_at < filters.end_at)
    if filters.senders:
        conditions.append(func.lower(ChannelMessage.from_email).in_(sorted({s.lower() for s in filters.senders})))
    if filters.receivers:
        conditions.append(receiver_matches(filters.receivers))
    if filters.tags:
        conditions.append(tagged(filters.tags))
    if filters.statuses:
        conditions.append(ChannelMessage.status.in_(sorted(set(filters.statuses))))
    if filters.subject:
        # Every word of the query appears in the subject, in any case.
        for word in filters.subject.lower().split():
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(func.lower(ChannelMessage.subject).like(f"%{escaped}%", escape="\\"))
    return conditions


def _page_token(last_id: int) -> str:
    return base64.urlsafe_b64encode(_PAGE_TOKEN_PREFIX + str(last_id).encode()).decode().rstrip("=")


def _read_page_token(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    digits = raw[len(_PAGE_TOKEN_PREFIX) :]
    if not raw.startswith(_PAGE_TOKEN_PREFIX) or not digits.isdigit() or len(digits) > 19 or int(digits) > MAX_ID:
        raise Invalid.field("pageToken", "The pageToken is not one this list gave out.")
    return int(digits)


async def interactions(
    session: AsyncSession, *, account_id: int, channel_id: str, message_id: str
) -> tuple[ChannelMessage, list[InteractionView]]:
    """What the message's receivers did with it: opened, clicked, unsubscribed, bounced, complained."""
    message = await get(session, account_id=account_id, channel_id=channel_id, message_id=message_id)
    return message, await ChannelMessageRepository(session, account_id).interactions(message.id)


async def settle(
    session: AsyncSession,
    channel_message_ids: Collection[int],
    *,
    listeners: webhook_service.Listeners | None = None,
) -> list[ChannelMessage]:
    """Bring these channel messages' statuses up to date with their receivers' mail (statuses move forward).

    While a receiver's mail is unfinished the message stays accepted (or scheduled). Then it is
    `sent` when any copy went out and did not bounce, and `delivered` once every such copy is known
    to have arrived: its relay sent a success DSN (RFC 3464 Action `delivered`), or its receiver
    complained about it. Copies that failed hold back neither, as they do not hold back `sent`; a
    relay without DSN, or a next hop that only `relayed` it, leaves the message `sent`. It is
    `delivery_failed` when every copy that went out bounced back later, `sending_failed` when none
    went out (refused, out of retries, out of validity, unsubscribed), with the first failure's
    reason. The messages that changed (status and failure loaded).
    """
    listeners = listeners or webhook_service.Listeners(ttl=0)
    if not channel_message_ids:
        return []
    locked = await repository.for_update(session, channel_message_ids)  # first: see for_update
    outcomes = await repository.receiver_outcomes(session, channel_message_ids)
    changed = []
    changes: defaultdict[tuple[str, int | None, str | None], list[int]] = defaultdict(list)
    now = utcnow()
    for message in locked:
        status, failure = _status_of(outcomes.get(message.id, []))
        if status is None or status == message.status or not _moves_forward(message.status, status):
            continue
        values: dict[str, Any] = {"status": status, "last_status_at": now, "updated_at": now}
        if failure is not None:
            values["failure_code"] = failure.smtp_code or 0
            values["failure_description"] = failure.last_error or "The message was not sent."
        # The objects show the change without holding it as pending: the grouped UPDATEs write it.
        for column, value in values.items():
            set_committed_value(message, column, value)
        changes[(status, values.get("failure_code"), values.get("failure_description"))].append(message.id)
        changed.append(message)
    await repository.update_statuses(session, changes, at=now)
    await _announce(session, changed, listeners)
    return changed


_FINISHED_SENT = frozenset({"sent", "complained"})
_RANK = {"accepted": 0, "scheduled": 0, "sent": 1, "sending_failed": 2, "delivered": 2, "delivery_failed": 3}


def _status_of(outcomes: Sequence[ReceiverOutcome]) -> tuple[str | None, ReceiverOutcome | None]:
    if not outcomes or any(outcome.status in ("queued", "sending") for outcome in outcomes):
        return None, None
    went_out = [outcome for outcome in outcomes if outcome.status in _FINISHED_SENT]
    if went_out:
        # A complaint comes from the receiver's mailbox: proof of delivery as good as a DSN.
        if all(outcome.was_delivered or outcome.status == "complained" for outcome in went_out):
            return "delivered", None
        return "sent", None
    bounced_later = [o for o in outcomes if o.status == "bounced" and o.was_sent]
    if bounced_later:
        return "delivery_failed", bounced_later[0]
    return "sending_failed", outcomes[0]


def _moves_forward(current: str, new: str) -> bool:
    return _RANK[new] > _RANK[current]


async def _announce(
    session: AsyncSession, messages: Sequence[ChannelMessage], listeners: webhook_service.Listeners
) -> None:
    """A `message.status` event per message, for the accounts whose webhooks listen to it."""
    if not messages:
        return
    listening = await listeners.among(session, {m.account_id for m in messages}, "message.status")
    if not listening:
        return
    channels = {m.channel_id for m in messages if m.account_id in listening}
    channel_uuids = await repository.public_ids(session, channels)
    for message in messages:
        if message.account_id in listening:
            events.record(
                session,
                account_id=message.account_id,
                type="message.status",
                data={
                    "message_id": str(message.uuid),
                    "channel_id": str(channel_uuids.get(message.channel_id, "")),
                    "status": message.status,
                    "reference": message.reference,
                    "failure": failure_of(message),
                },
            )


def failure_of(message: ChannelMessage) -> dict[str, object] | None:
    """The message's `failure` object (seed 004), or None while it has not failed."""
    if message.status not in ("sending_failed", "delivery_failed"):
        return None
    return {
        "code": message.failure_code or 0,
        "description": message.failure_description or "",
        "source": FAILURE_SOURCE,
    }
