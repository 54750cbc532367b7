"""The SMTP listener that bounces, complaints, delivery reports and List-Unsubscribe mail arrive at
(CONVENTIONS §9).

It takes mail only for `bounces+<token>@` and `unsubscribe+<token>@` at the bounce domain and
handles each message inside DATA, in one transaction, before answering. Nothing is kept
before it is handled: when the database fails, the answer is 451 and the reporting MTA keeps
the report and tries again (for days, as MTAs do); handling is idempotent, so a retry after a
commit whose 250 got lost changes nothing. A report that names no message of ours (a forged
or unknown token) or that is no report at all (an auto-reply) is accepted and dropped, never
an error to whoever sent it. Feedback loops send their complaints to the one address they
were given: register `bounces+fbl@<bounce domain>` (any word after the +) and each complaint
is matched through its Original-Mail-From or the returned headers. The success DSNs channel
messages ask for (RFC 3461) come to the same VERP address as their bounces would. Mail over
10 MiB is refused (552); reports carry at most the original message back.

Every `roost serve` worker process starts one on the same port with SO_REUSEPORT, so the
kernel spreads connections over them (two installations on one host therefore need two ports).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import weakref
from dataclasses import dataclass
from typing import Any, Literal

from aiosmtpd.smtp import SMTP
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.bounce import reports
from roost.bounce import service as bounce_service
from roost.config import Settings
from roost.db import WriteGate
from roost.delivery.addressing import BOUNCE_LOCAL_PREFIX, UNSUBSCRIBE_LOCAL_PREFIX, Addressing

log = logging.getLogger("roost.bounce")

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
MAX_RECIPIENTS = 50
IDLE_TIMEOUT_SECONDS = 60.0

Purpose = Literal["bounce", "unsubscribe"]
_PREFIXES: tuple[tuple[Purpose, str], ...] = (
    ("bounce", BOUNCE_LOCAL_PREFIX),
    ("unsubscribe", UNSUBSCRIBE_LOCAL_PREFIX),
)


@dataclass(frozen=True, slots=True)
class Mailbox:
    """An address the listener takes mail for: what it is for and the token it carries."""

    purpose: Purpose
    token: str


def mailbox_of(address: str, bounce_domain: str) -> Mailbox | None:
    """The bounce or unsubscribe mailbox an envelope recipient names, or None for any other address."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not at or domain.lower().rstrip(".") != bounce_domain.lower():
        return None
    for purpose, prefix in _PREFIXES:
        if local.lower().startswith(prefix) and len(local) > len(prefix):
            return Mailbox(purpose, local[len(prefix) :])
    return None


class BounceHandler:
    """The aiosmtpd hooks (looked up by name): RCPT filters the addresses, DATA handles the mail."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        addressing: Addressing,
        write_gate: WriteGate | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.addressing = addressing
        self.write_gate = write_gate

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if mailbox_of(address, self.addressing.bounce_domain) is None:
            return "550 5.1.1 No such mailbox here"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        mailboxes = [mailbox_of(address, self.addressing.bounce_domain) for address in envelope.rcpt_tos]
        report = None
        if any(mailbox is not None and mailbox.purpose == "bounce" for mailbox in mailboxes):
            report = await self._read(envelope.original_content or b"")
        try:
            gate = self.write_gate() if self.write_gate is not None else contextlib.nullcontext()
            async with gate, self.sessionmaker() as db, db.begin():
                for mailbox in mailboxes:
                    if mailbox is not None:
                        await self._handle(db, mailbox, report)
        except Exception:  # the database failed: the MTA keeps the mail and retries, nothing is lost
            log.exception("handling mail from %s failed; answered 451", envelope.mail_from)
            return "451 4.3.0 Temporary failure, please try again later"
        return "250 2.0.0 OK"

    async def _read(self, data: bytes) -> reports.Report | None:
        try:
            # Off the event loop: a large report must not stall the API served beside the listener.
            return await asyncio.to_thread(reports.read, data)
        except Exception:  # unreadable mail stays unreadable: retrying it would not help
            log.exception("could not read a report of %d bytes", len(data))
            return None

    async def _handle(self, db: AsyncSession, mailbox: Mailbox, report: reports.Report | None) -> None:
        if mailbox.purpose == "unsubscribe":
            message_id = self.addressing.message_id(mailbox.token)
            if message_id is None:
                log.warning("unsubscribe mail for a forged token %r ignored", mailbox.token)
            elif not await bounce_service.record_unsubscribe(db, message_id=message_id):
                log.info("unsubscribe mail for message %s changed nothing", message_id)
            return
        if report is None:
            log.info("mail to a bounce address reports no bounce, complaint or delivery; dropped")
            return
        # The envelope names the message; the report's returned headers stand in when it does not.
        candidates = (mailbox.token, *report.tokens)
        message_id = next((found for found in map(self.addressing.message_id, candidates) if found is not None), None)
        if message_id is None:
            log.warning("%s report for unknown or forged tokens %r ignored", report.kind, candidates)
        elif not await bounce_service.record_report(db, message_id=message_id, report=report):
            log.info("%s report for message %s changed nothing", report.kind, message_id)


class BounceListener:
    """The SMTP server: start() binds (port 0 picks a free one, see `port`), stop() closes."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        addressing: Addressing,
        *,
        host: str,
        port: int,
        write_gate: WriteGate | None = None,
    ) -> None:
        self.handler = BounceHandler(sessionmaker, addressing, write_gate)
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: weakref.WeakSet[SMTP] = weakref.WeakSet()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol,
            self.host,
            self.port,
            reuse_address=True,
            # Several serving processes share the port; where the OS cannot, one process listens.
            reuse_port=hasattr(socket, "SO_REUSEPORT"),
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("bounce listener on %s:%s for @%s", self.host, self.port, self.handler.addressing.bounce_domain)

    async def stop(self) -> None:
        """Stop listening and hang up on open connections (a sender mid-DATA gets no 250 and retries)."""
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.close()
        await self._server.wait_closed()
        self._server = None

    def _protocol(self) -> SMTP:
        connection = SMTP(
            self.handler,
            hostname=self.handler.addressing.bounce_domain,
            ident="Roost",
            data_size_limit=MAX_MESSAGE_BYTES,
            enable_SMTPUTF8=True,
            timeout=IDLE_TIMEOUT_SECONDS,
            loop=asyncio.get_running_loop(),
        )
        self._connections.add(connection)
        return connection


def bounce_listener(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], write_gate: WriteGate | None = None
) -> BounceListener | None:
    """The listener the settings describe, or None when bounce_smtp_port is 0 (turned off)."""
    if settings.bounce_smtp_port == 0:
        return None
    return BounceListener(
        sessionmaker,
        Addressing.from_settings(settings),
        host=settings.bounce_smtp_host,
        port=settings.bounce_smtp_port,
        write_gate=write_gate,
    )
