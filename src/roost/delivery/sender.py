"""Turning claimed messages into mail: compose once per email, render per recipient, send, record.

No database transaction stays open while SMTP talks: `prepare` reads what a batch needs,
`send` renders and sends one message with no session at all, and `record` writes outcomes
while the claim still holds. Outcomes are classified at the edge
(mail.smtp): sent, transient (retried with back-off until a deadline) or permanent (the
recipient bounces). Statuses only move forward.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from roost import events
from roost.account import service as account_service
from roost.bounce import service as bounce_service
from roost.bounce.reports import Report
from roost.channel import messages as channel_messages
from roost.contact import service as contact_service
from roost.delivery import repository, stats
from roost.delivery.addressing import Addressing
from roost.delivery.pacing import Pacer
from roost.delivery.repository import ClaimedMessage, MailedContact
from roost.field import service as field_service
from roost.form import service as form_service
from roost.kit.clock import utcnow
from roost.mail.compose import Attachment, CompiledEmail, Recipient, Sender, compile_email
from roost.mail.dkim import DkimKeyring
from roost.mail.merge import CONFIRM_LINK
from roost.mail.smtp import DeliveryStatus, DsnRequest, SendOutcome, Transport
from roost.media import service as media_service
from roost.media.types import MediaUnavailable
from roost.models import MARKETING_KINDS, Account, Broadcast, ChannelMessage
from roost.models import Sequence as DripSequence
from roost.sequence import service as sequence_service
from roost.webhook import service as webhook_service

RETRY_DEADLINE = timedelta(days=3)
FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=2)
COMPILED_CACHE_SIZE = 64
# What carries an email's sender identity and footer.
_Source = Broadcast | DripSequence


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4 … minutes, at most two hours apart."""
    delay: timedelta = FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 12)
    return min(delay, LAST_RETRY)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message ready to render: its compiled email and its recipient's values."""

    message: ClaimedMessage
    compiled: CompiledEmail
    name: str
    fields: Mapping[str, object]
    # The values of the email's own tags: a confirmation's link, a notification's new member.
    values: Mapping[str, str] = field(default_factory=dict)
    # Opens and clicks tracked: marketing mail (CONVENTIONS §8), channel messages that ask for it.
    tracked: bool = False


@dataclass(slots=True)
class PreparedBatch:
    deliveries: list[Delivery] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    # Messages whose email cannot be composed (e.g. a sender address the format cannot carry), with why.
    uncomposable: list[tuple[ClaimedMessage, str]] = field(default_factory=list)
    # The channel messages whose receivers' mail this batch ends before sending (their status follows).
    channel_message_ids: set[int] = field(default_factory=set)


class MessageSender:
    """Sends batches of claimed messages through one transport; keeps compiled emails between batches."""

    def __init__(
        self,
        transport: Transport,
        addressing: Addressing,
        *,
        dkim: DkimKeyring | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.transport = transport
        self.addressing = addressing
        self.dkim = dkim
        self.pacer = pacer
        self._compiled: OrderedDict[tuple[object, ...], CompiledEmail] = OrderedDict()
        self.listeners = webhook_service.Listeners()

    async def prepare(self, session: AsyncSession, batch: Sequence[ClaimedMessage]) -> PreparedBatch:
        """Read what the batch needs: its emails (compiled) and its contacts."""
        prepared = PreparedBatch()
        contact_ids = {id_ for m in batch for id_ in (m.contact_id, m.about_contact_id) if id_ is not None}
        contacts = await repository.contacts(session, sorted(contact_ids))
        emails, broken, channel_rows = await self._emails(session, batch)
        for message in batch:
            contact = contacts.get(message.contact_id) if message.contact_id is not None else None
            about = contacts.get(message.about_contact_id) if message.about_contact_id is not None else None
            owner = _email_of(message)
            channel_message = channel_rows.get(message.channel_message_id or 0)
            if owner in broken:
                prepared.uncomposable.append((message, broken[owner]))
            elif owner in emails and _mailable(message, contact, about, channel_message):
                names = (contact.first_name, contact.last_name) if contact else ()
                prepared.deliveries.append(
                    Delivery(
                        message=message,
                        compiled=emails[owner],
                        name=" ".join(part for part in names if part),
                        fields={"email": message.to_address, **(contact.field_values() if contact else {})},
                        values=self._own_values(message, about),
                        tracked=message.kind in MARKETING_KINDS
                        or (channel_message is not None and channel_message.link_tracking),
                    )
                )
                continue
            else:
                prepared.cancelled.append(message.id)  # the email or contact is gone, or may no longer be mailed
            if message.channel_message_id is not None:
                prepared.channel_message_ids.add(message.channel_message_id)
        return prepared

    def _own_values(self, message: ClaimedMessage, about: MailedContact | None) -> dict[str, str]:
        """The values of the tags a transactional email has of its own."""
        if message.kind == "confirmation":
            return {CONFIRM_LINK: self.addressing.confirm_url(message.id)}
        if message.kind == "notification" and about is not None:
            return {sequence_service.NEW_MEMBER_EMAIL: about.email}
        return {}

    async def send(self, delivery: Delivery) -> SendOutcome:
        """Render one delivery and hand it to the transport, at the pace allowed; no database here."""
        message = delivery.message
        links = self.addressing.links(message.id)
        tracked = delivery.tracked
        recipient = Recipient(
            email=message.to_address,
            verp_token=links.token,
            unsubscribe_url=links.unsubscribe_url,
            message_id=f"{message.id}.{secrets.token_hex(6)}",
            name=delivery.name,
            fields=delivery.fields,
            values=delivery.values,
            open_url=links.open_url if tracked else None,
            click_url=links.click_url if tracked else None,
        )
        try:
            rendered = delivery.compiled.render(recipient)
        except ValueError as exc:  # an address or value the message format cannot carry
            return SendOutcome(DeliveryStatus.PERMANENT, None, f"cannot compose: {exc}")
        if self.pacer is not None:
            await self.pacer.wait(message.to_address)
        return await self.transport.send(
            rendered.envelope_from, [message.to_address], rendered.data, dsn=_dsn_request(message, links.token)
        )

    async def settle(self, session: AsyncSession, prepared: PreparedBatch) -> None:
        """Write what a batch decided before sending: cancelled and uncomposable messages (the caller commits)."""
        await repository.cancel(session, prepared.cancelled)
        failed: defaultdict[tuple[datetime, str], list[int]] = defaultdict(list)
        for message, reason in prepared.uncomposable:
            failed[(message.lease.until, reason)].append(message.id)
        for (lease_until, reason), ids in failed.items():
            await repository.conclude(session, ids, lease_until=lease_until, status="failed", last_error=reason)
        await channel_messages.settle(session, prepared.channel_message_ids, listeners=self.listeners)

    async def record(self, session: AsyncSession, results: Sequence[tuple[ClaimedMessage, SendOutcome]]) -> None:
        """Write how sends ended (the caller commits); one UPDATE per kind of outcome, not per message."""
        now = utcnow()
        sent: defaultdict[datetime, list[ClaimedMessage]] = defaultdict(list)
        bounced: list[tuple[ClaimedMessage, SendOutcome]] = []
        # Retries wait their back-off; failures past the deadline end. Grouped by what is written.
        later: defaultdict[tuple[datetime, datetime, int | None, str], list[int]] = defaultdict(list)
        failed: defaultdict[tuple[datetime, int | None, str], list[int]] = defaultdict(list)
        for message, outcome in results:
            lease, reply = message.lease.until, outcome.message[:2000]
            if outcome.status is DeliveryStatus.SENT:
                sent[lease].append(message)
            elif outcome.status is DeliveryStatus.PERMANENT:
                bounced.append((message, outcome))
            elif now - message.created_at >= RETRY_DEADLINE:
                failed[(lease, outcome.code, reply)].append(message.id)
            else:
                later[(lease, now + retry_delay(message.attempts), outcome.code, reply)].append(message.id)
        for lease, messages in sent.items():
            await repository.conclude(session, [m.id for m in messages], lease_until=lease, status="sent", sent_at=now)
        delivered = [m for messages in sent.values() for m in messages]
        await stats.count_many(session, delivered, "sent")
        # One INSERT for the whole group commit: webhooks (`email.sent`) learn of marketing mail sent,
        # for the accounts that have one listening (nothing else reads these events).
        marketing = [m for m in delivered if m.kind in MARKETING_KINDS and m.contact_id is not None]
        listening = await self.listeners.among(session, {m.account_id for m in marketing}, "email.sent")
        await events.record_many(
            session,
            type="email.sent",
            entries=[
                (
                    m.account_id,
                    m.contact_id,
                    {
                        "message_id": m.id,
                        "broadcast_id": m.broadcast_id,
                        "sequence_email_id": m.sequence_email_id,
                        "email": m.to_address,
                    },
                )
                for m in marketing
                if m.account_id in listening
            ],
        )
        for (lease, code, reply), ids in failed.items():
            await repository.conclude(
                session, ids, lease_until=lease, status="failed", smtp_code=code, last_error=reply
            )
        for (lease, due_at, code, reply), ids in later.items():
            await repository.conclude(
                session, ids, lease_until=lease, status="sending", due_at=due_at, smtp_code=code, last_error=reply
            )
        for message, outcome in bounced:
            # Refused for good at the relay: a hard bounce, exactly as if its DSN had come back.
            reply = f"{outcome.code or ''} {outcome.message}".strip()
            await bounce_service.record_report(
                session, message_id=message.id, report=Report(kind="hard", diagnostic=reply)
            )
        # Channel messages take the status their receivers' mail adds up to (retries change nothing yet).
        await channel_messages.settle(
            session,
            {m.channel_message_id for m, _ in results if m.channel_message_id is not None},
            listeners=self.listeners,
        )

    async def _emails(
        self, session: AsyncSession, batch: Sequence[ClaimedMessage]
    ) -> tuple[dict[stats.Owner, CompiledEmail], dict[stats.Owner, str], dict[int, ChannelMessage]]:
        """The compiled email of every owner in the batch, the ones that cannot be composed with why, and
        the batch's channel messages."""
        field_keys = {
            account_id: tuple(sorted(await field_service.all_fields(session, account_id=account_id)))
            for account_id in {m.account_id for m in batch}
        }
        compiled: dict[stats.Owner, CompiledEmail] = {}
        broken: dict[stats.Owner, str] = {}

        def add(
            owner: stats.Owner,
            version: tuple[object, ...],
            subject: str,
            body: str,
            sender: Sender,
            account_id: int,
            *,
            transactional_tags: tuple[str, ...] | None = None,
        ) -> None:
            """`transactional_tags`: the own tags of a transactional email; None for marketing mail."""
            try:
                compiled[owner] = self._compile(
                    (*owner, *version),
                    subject,
                    body,
                    sender,
                    field_keys[account_id],
                    marketing=transactional_tags is None,
                    tags=transactional_tags or (),
                )
            except ValueError as exc:
                broken[owner] = f"cannot compose: {exc}"

        broadcasts = await repository.broadcasts(session, sorted({m.broadcast_id for m in batch if m.broadcast_id}))
        for broadcast in broadcasts.values():
            add(
                ("broadcast", broadcast.id),
                (broadcast.updated_at,),
                broadcast.subject,
                broadcast.body,
                _sender_of(broadcast),
                broadcast.account_id,
            )
        steps = await repository.sequence_emails(
            session, sorted({m.sequence_email_id for m in batch if m.sequence_email_id})
        )
        for step, sequence in steps.values():
            add(
                ("sequence", step.id),
                (step.updated_at, sequence.updated_at),
                step.subject,
                step.body,
                _sender_of(sequence),
                step.account_id,
            )
        forms = await repository.confirmation_forms(
            session, sorted({m.form_id for m in batch if m.kind == "confirmation" and m.form_id})
        )
        for form, form_sequence, account in forms.values():
            subject, body = form_service.confirmation_email(form)
            sender = _confirmation_sender(form_sequence, account)
            # The sender is part of the version: the account's name or the sequence may change meanwhile.
            add(
                ("confirmation", form.id),
                (form.updated_at, sender),
                subject,
                body,
                sender,
                form.account_id,
                transactional_tags=(CONFIRM_LINK,),
            )
        notifying = await repository.sequences(
            session, sorted({m.sequence_id for m in batch if m.kind == "notification" and m.sequence_id})
        )
        for sequence in notifying.values():
            subject, body = sequence_service.notification_email(sequence)
            add(
                ("notification", sequence.id),
                (sequence.updated_at,),
                subject,
                body,
                _sender_of(sequence),
                sequence.account_id,
                transactional_tags=(sequence_service.NEW_MEMBER_EMAIL,),
            )
        channel_rows = await repository.channel_messages(
            session, sorted({m.channel_message_id for m in batch if m.channel_message_id})
        )
        now = utcnow()
        for row in channel_rows.values():
            owner = ("channel", row.id)
            if row.expires_at <= now:
                broken[owner] = "The message's validity ran out before it could be sent."
                continue
            try:
                compiled[owner] = await self._compile_channel_message(session, row, field_keys[row.account_id])
            except MediaUnavailable as exc:
                broken[owner] = f"An attachment could not be loaded: {exc}"
            except ValueError as exc:
                broken[owner] = f"cannot compose: {exc}"
        return compiled, broken, channel_rows

    async def _compile_channel_message(
        self, session: AsyncSession, message: ChannelMessage, fields: tuple[str, ...]
    ) -> CompiledEmail:
        """A channel message's email; messages with the same content and receivers share one.

        With a single To receiver the To header is each recipient's own, so identical messages to
        different addresses (a password reset, a receipt template) compile once.
        """
        shown = [r for r in message.receivers if r["type"] != "bcc"]
        to = [r["address"] for r in shown if r["type"] == "to"]
        cc = [r["address"] for r in shown if r["type"] == "cc"]
        if len(to) == 1 and not cc:
            to = []
        content = (
            message.subject,
            message.html,
            message.text,
            message.from_name,
            message.from_email,
            message.reply_to,
            message.use_case,
            tuple(to),
            tuple(cc),
            tuple((a["mediaUrl"], a["filename"], a["inline"]) for a in message.attachments),
        )
        key = ("channel", message.account_id, hashlib.sha256(repr(content).encode()).digest(), fields)
        cached = self._compiled.get(key)
        if cached is not None:
            self._compiled.move_to_end(key)
            return cached
        attachments = [
            Attachment(
                filename=item["filename"],
                inline=bool(item["inline"]),
                **asdict(await media_service.load(session, account_id=message.account_id, url=item["mediaUrl"])),
            )
            for item in message.attachments
        ]
        compiled = compile_email(
            subject=message.subject,
            html=message.html,
            text=message.text,
            sender=Sender(name=message.from_name, email=message.from_email, address=""),
            message_id_domain=self.addressing.bounce_domain,
            bounce_domain=self.addressing.bounce_domain,
            dkim=self.dkim,
            contact_fields=fields,
            # Marketing messages honour unsubscribes with List-Unsubscribe; neither kind has a footer.
            marketing=False,
            list_unsubscribe=message.use_case == "marketing",
            to=to,
            cc=cc,
            reply_to=message.reply_to,
            attachments=attachments,
        )
        self._remember(key, compiled)
        return compiled

    def _compile(
        self,
        version: tuple[object, ...],
        subject: str,
        html: str,
        sender: Sender,
        fields: tuple[str, ...],
        *,
        marketing: bool = True,
        tags: tuple[str, ...] = (),
    ) -> CompiledEmail:
        """Compile an email, or reuse it while neither it nor the account's fields changed."""
        key = (*version, fields)
        compiled = self._compiled.get(key)
        if compiled is not None:
            self._compiled.move_to_end(key)
            return compiled
        compiled = compile_email(
            subject=subject,
            html=html,
            sender=sender,
            message_id_domain=self.addressing.bounce_domain,
            bounce_domain=self.addressing.bounce_domain,
            dkim=self.dkim,
            # A %contact.<key>% for a key the account does not have stays as written (CONVENTIONS §8).
            contact_fields=fields,
            marketing=marketing,
            tags=tags,
        )
        self._remember(key, compiled)
        return compiled

    def _remember(self, key: tuple[object, ...], compiled: CompiledEmail) -> None:
        self._compiled[key] = compiled
        if len(self._compiled) > COMPILED_CACHE_SIZE:
            self._compiled.popitem(last=False)


def _sender_of(source: _Source) -> Sender:
    return Sender(
        name=source.sender_name,
        email=source.sender_email,
        address=source.sender_address,
        company=source.sender_company,
        footer_html=source.footer,
    )


def _confirmation_sender(sequence: DripSequence | None, account: Account) -> Sender:
    """Who a form's confirmation email is from: the sender of the form's sequence, the mail that
    follows the confirmation, or else the account owner. Forms have no sender of their own."""
    if sequence is not None:
        return _sender_of(sequence)
    return Sender(name=account_service.display_name(account), email=account.email, address="")


def _mailable(
    message: ClaimedMessage,
    contact: MailedContact | None,
    about: MailedContact | None,
    channel_message: ChannelMessage | None = None,
) -> bool:
    """Whether the message may still go out to its address.

    Marketing mail goes only to active contacts (CONVENTIONS §7). A confirmation goes to a contact
    that may still confirm, unconfirmed ones above all; a notification while the new member it
    tells of exists; a test send to its address. A channel message of the marketing use case
    does not go to a contact that unsubscribed meanwhile; a transactional one always goes.
    """
    if message.kind == "channel":
        if channel_message is None or contact is None:
            return False
        return channel_message.use_case != "marketing" or contact.status not in channel_messages.NOT_FOR_MARKETING
    if message.kind in MARKETING_KINDS:
        return contact is not None and contact.status == "active"
    if message.kind == "confirmation":
        return contact is not None and contact.status in contact_service.CONFIRMABLE
    if message.kind == "notification":
        return about is not None
    return True


def _dsn_request(message: ClaimedMessage, token: str) -> DsnRequest | None:
    """The delivery notifications a message asks its relay for: channel messages only.

    A channel message's status reaches `delivered` only through a success DSN (CONVENTIONS §10),
    and it has at most 50 receivers. Broadcasts and sequences have no such status, and success
    reports for every one of a 100,000-recipient broadcast would flood the bounce listener with
    mail that changes nothing; they keep the relay's default (failures and delays only). The
    envelope id is the message's VERP token, which the listener accepts wherever it appears.
    """
    return DsnRequest(envelope_id=token) if message.kind == "channel" else None


def _email_of(message: ClaimedMessage) -> stats.Owner | None:
    """The email a message renders: its broadcast (test sends too), its sequence step, the confirmation
    email of its form, the notification of its sequence; None when that is gone (a deleted form)."""
    if message.broadcast_id is not None:
        return ("broadcast", message.broadcast_id)
    if message.sequence_email_id is not None:
        return ("sequence", message.sequence_email_id)
    if message.kind == "confirmation" and message.form_id is not None:
        return ("confirmation", message.form_id)
    if message.kind == "notification" and message.sequence_id is not None:
        return ("notification", message.sequence_id)
    if message.channel_message_id is not None:
        return ("channel", message.channel_message_id)
    return None
