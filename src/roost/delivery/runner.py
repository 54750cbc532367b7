"""The delivery loop run by `roost serve` and `roost worker`: start due broadcasts, send due messages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.delivery import repository, service
from roost.delivery.addressing import Addressing
from roost.delivery.capture import CaptureTransport
from roost.delivery.sender import MessageSender
from roost.kit.clock import utcnow
from roost.mail.dkim import DkimKeyring
from roost.mail.smtp import SmtpTransport, Transport

log = logging.getLogger("roost.delivery")


def transport_for(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Transport:
    """SMTP when a relay is configured, else the capture transport (CONVENTIONS §9)."""
    if settings.smtp_url:
        return SmtpTransport.from_settings(settings)
    return CaptureTransport(sessionmaker)


class DeliveryRunner:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        sender: MessageSender,
        *,
        # A batch must be sent well within its lease, or another sender takes it over and it goes
        # out twice: 100 messages over 8 connections at a 30 s reply timeout take at most ~6 minutes.
        batch_size: int = 100,
        poll_interval: float = 0.5,
        lease: timedelta = timedelta(minutes=10),
    ) -> None:
        self.sessionmaker = sessionmaker
        self.sender = sender
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.lease = lease
        self._stopping = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> DeliveryRunner:
        sender = MessageSender(
            transport_for(settings, sessionmaker),
            Addressing.from_settings(settings),
            dkim=DkimKeyring.from_settings(settings),
        )
        return cls(sessionmaker, sender)

    def stop(self) -> None:
        self._stopping.set()

    async def run_once(self) -> int:
        """One pass: start due broadcasts, queue due sequence steps, send one batch, close finished broadcasts."""
        async with self.sessionmaker() as session, session.begin():
            await service.start_due_broadcasts(session, now=utcnow())
        async with self.sessionmaker() as session, session.begin():
            await service.advance_sequences(session, now=utcnow())
        async with self.sessionmaker() as session, session.begin():
            batch = await repository.claim(session, now=utcnow(), limit=self.batch_size, lease=self.lease)
        if batch:
            async with self.sessionmaker() as session:
                prepared = await self.sender.prepare(session, batch)
            outcomes = await self.sender.deliver(prepared)  # no transaction open while SMTP talks
            async with self.sessionmaker() as session, session.begin():
                await self.sender.record(session, prepared, outcomes)
        async with self.sessionmaker() as session, session.begin():
            await service.finish_broadcasts(session, now=utcnow())
        return len(batch)

    async def run(self) -> None:
        log.info("delivery started")
        try:
            while not self._stopping.is_set():
                try:
                    handled = await self.run_once()
                except Exception:  # a database or relay hiccup must not end delivery; the next pass retries
                    log.exception("delivery pass failed")
                    handled = 0
                if not handled:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), timeout=self.poll_interval)
        finally:
            await self.sender.transport.close()
            log.info("delivery stopped")
