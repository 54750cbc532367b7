"""Turning claimed messages into mail: compose once per email, render per recipient, send, record.

Outcomes are classified at the edge (mail.smtp): sent, transient (retried with back-off until
a deadline) or permanent (the recipient bounces). Statuses only move forward.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from roost.bounce import service as bounce_service
from roost.bounce.reports import Report
from roost.delivery import repository
from roost.delivery.addressing import Addressing
from roost.delivery.repository import ClaimedMessage
from roost.kit.clock import utcnow
from roost.mail.compose import CompiledEmail, Recipient, Sender, compile_email
from roost.mail.dkim import DkimKeyring
from roost.mail.smtp import DeliveryStatus, SendOutcome, Transport
from roost.models import Broadcast, Contact
from roost.models import Sequence as DripSequence

RETRY_DEADLINE = timedelta(days=3)
FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=2)
COMPILED_CACHE_SIZE = 64
MARKETING_KINDS = frozenset({"broadcast", "sequence"})


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4 … minutes, at most two hours apart."""
    delay: timedelta = FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 12)
    return min(delay, LAST_RETRY)


@dataclass(frozen=True, slots=True)
class BatchResult:
    sent: int
    retried: int
    bounced: int
    cancelled: int
    failed: int


class MessageSender:
    """Sends batches of claimed messages through one transport; keeps compiled emails between batches."""

    def __init__(
        self,
        transport: Transport,
        addressing: Addressing,
        *,
        dkim: DkimKeyring | None = None,
    ) -> None:
        self.transport = transport
        self.addressing = addressing
        self.dkim = dkim
        self._compiled: OrderedDict[tuple[object, ...], CompiledEmail] = OrderedDict()

    async def send(self, session: AsyncSession, batch: Sequence[ClaimedMessage]) -> BatchResult:
        """Deliver a claimed batch and record every outcome in `session` (the caller commits)."""
        contacts = await repository.contacts(session, [m.contact_id for m in batch if m.contact_id is not None])
        emails = await self._emails(session, batch)
        now = utcnow()
        deliverable: list[tuple[ClaimedMessage, CompiledEmail, Contact | None]] = []
        cancelled: list[int] = []
        for message in batch:
            contact = contacts.get(message.contact_id) if message.contact_id is not None else None
            compiled = emails.get(_owner(message))
            if compiled is not None and _mailable(message, contact):
                deliverable.append((message, compiled, contact))
            else:
                cancelled.append(message.id)  # the email or contact is gone, or may no longer be mailed
        outcomes = await asyncio.gather(*(self._deliver(m, compiled, contact) for m, compiled, contact in deliverable))
        await repository.set_status(session, cancelled, status="cancelled")
        return await self._record(session, [m for m, _, _ in deliverable], outcomes, now, cancelled=len(cancelled))

    async def _deliver(self, message: ClaimedMessage, compiled: CompiledEmail, contact: Contact | None) -> SendOutcome:
        names = (contact.first_name, contact.last_name) if contact else ()
        tracked = message.kind in MARKETING_KINDS
        recipient = Recipient(
            email=message.to_address,
            verp_token=self.addressing.token(message.id),
            unsubscribe_url=self.addressing.unsubscribe_url(message.id),
            message_id=f"{message.id}.{secrets.token_hex(6)}",
            name=" ".join(part for part in names if part),
            fields={"email": message.to_address, **(contact.field_values() if contact else {})},
            # Opens and clicks are tracked on marketing mail (CONVENTIONS §8); a proof goes out as written.
            open_url=self.addressing.open_url(message.id) if tracked else None,
            click_url=self.addressing.click_urls(message.id) if tracked else None,
        )
        try:
            rendered = compiled.render(recipient)
        except ValueError as exc:  # an address or value the message format cannot carry
            return SendOutcome(DeliveryStatus.PERMANENT, None, f"cannot compose: {exc}")
        return await self.transport.send(rendered.envelope_from, [message.to_address], rendered.data)

    async def _record(
        self,
        session: AsyncSession,
        messages: Sequence[ClaimedMessage],
        outcomes: Sequence[SendOutcome],
        now: datetime,
        *,
        cancelled: int,
    ) -> BatchResult:
        sent: list[int] = []
        sent_counts: Counter[tuple[str, int]] = Counter()
        bounced: list[tuple[ClaimedMessage, SendOutcome]] = []
        failed: list[tuple[ClaimedMessage, SendOutcome]] = []
        retried = 0
        for message, outcome in zip(messages, outcomes, strict=True):
            if outcome.status is DeliveryStatus.SENT:
                sent.append(message.id)
                if message.kind in MARKETING_KINDS:
                    sent_counts[_owner(message)] += 1
            elif outcome.status is DeliveryStatus.PERMANENT:
                bounced.append((message, outcome))
            elif now - message.created_at >= RETRY_DEADLINE:
                failed.append((message, outcome))
            else:
                retried += 1
                due_at = now + retry_delay(message.attempts)
                await repository.note_reply(
                    session, message.id, code=outcome.code, error=outcome.message, due_at=due_at
                )
        await repository.set_status(session, sent, status="sent", sent_at=now)
        await repository.add_to_stat(session, "sent", sent_counts)
        for message, outcome in failed:
            await repository.set_status(
                session, [message.id], status="failed", smtp_code=outcome.code, last_error=outcome.message[:2000]
            )
        for message, outcome in bounced:
            # Refused for good at the relay: a hard bounce, exactly as if its DSN had come back.
            await repository.note_reply(session, message.id, code=outcome.code, error=outcome.message)
            report = Report(kind="hard", diagnostic=f"{outcome.code or ''} {outcome.message}".strip())
            await bounce_service.record_report(session, message_id=message.id, report=report)
        return BatchResult(
            sent=len(sent), retried=retried, bounced=len(bounced), cancelled=cancelled, failed=len(failed)
        )

    async def _emails(
        self, session: AsyncSession, batch: Sequence[ClaimedMessage]
    ) -> dict[tuple[str, int], CompiledEmail]:
        """The compiled email of every owner in the batch, compiled at most once while unchanged."""
        result: dict[tuple[str, int], CompiledEmail] = {}
        broadcasts = await repository.broadcasts(session, sorted({m.broadcast_id for m in batch if m.broadcast_id}))
        for broadcast in broadcasts.values():
            result[("broadcast", broadcast.id)] = self._compile(
                ("broadcast", broadcast.id, broadcast.updated_at), broadcast.subject, broadcast.body, _sender(broadcast)
            )
        steps = await repository.sequence_emails(
            session, sorted({m.sequence_email_id for m in batch if m.sequence_email_id})
        )
        for step, sequence in steps.values():
            key = ("sequence", step.id, step.updated_at, sequence.updated_at)
            result[("sequence", step.id)] = self._compile(key, step.subject, step.body, _sender(sequence))
        return result

    def _compile(self, key: tuple[object, ...], subject: str, html: str, sender: Sender) -> CompiledEmail:
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = compile_email(
                subject=subject,
                html=html,
                sender=sender,
                message_id_domain=self.addressing.bounce_domain,
                bounce_domain=self.addressing.bounce_domain,
                dkim=self.dkim,
            )
            self._compiled[key] = compiled
            if len(self._compiled) > COMPILED_CACHE_SIZE:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(key)
        return compiled


def _mailable(message: ClaimedMessage, contact: Contact | None) -> bool:
    """Marketing mail goes only to active contacts (CONVENTIONS §7); a test send goes to its address."""
    if message.kind == "test":
        return True
    return contact is not None and (message.kind not in MARKETING_KINDS or contact.status == "active")


def _owner(message: ClaimedMessage) -> tuple[str, int]:
    if message.broadcast_id is not None:
        return ("broadcast", message.broadcast_id)
    return ("sequence", message.sequence_email_id or 0)


def _sender(source: Broadcast | DripSequence) -> Sender:
    return Sender(
        name=source.sender_name,
        email=source.sender_email,
        address=source.sender_address,
        company=source.sender_company,
        footer_html=source.footer,
    )
