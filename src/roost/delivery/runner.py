"""The delivery loop run by `roost serve` and `roost worker`: start due broadcasts, send due messages.

Three stages run side by side in one process:

- the feeder claims batches of due messages (leased, so a dead sender's messages are taken over),
  prepares them and queues them, one batch ahead of the senders;
- one sender task per SMTP connection renders a message, sends it, and does not take the next
  one until the outcome is committed. At a crash, the mail accepted by the relay but not yet
  recorded, which goes out again when the lease runs out, is at most one message per connection.
  A relay that cannot be reached pauses every sender (the message is not counted as an attempt);
- the recorder commits the outcomes of all senders together (group commit), and renews the
  leases of the messages still held so a slow relay never lets them go to another sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.db import (
    Gate,
    create_engine,
    create_read_sessionmaker,
    create_sessionmaker,
    create_statement_sessionmaker,
    no_gate,
)
from roost.delivery import repository, service
from roost.delivery.addressing import Addressing
from roost.delivery.capture import CaptureTransport
from roost.delivery.pacing import Pacer
from roost.delivery.repository import ClaimedMessage
from roost.delivery.sender import RETRY_DEADLINE, Delivery, MessageSender
from roost.kit.clock import utcnow
from roost.kit.waiting import first_of
from roost.mail.dkim import DkimKeyring
from roost.mail.smtp import DeliveryStatus, SendOutcome, SmtpTransport, Transport

log = logging.getLogger("roost.delivery")
# How long the recorder waits before trying a failed write again (the senders wait meanwhile).
RECORD_RETRY = 1.0
# How long the recorder waits for more connections' outcomes before committing what it has.
RECORD_WINDOW = 0.005
CAPTURE_CONCURRENCY = 4
# While the relay cannot be reached, senders wait this long, doubling up to the last, between tries.
RELAY_FIRST_BACKOFF = 0.5
RELAY_LAST_BACKOFF = 30.0


def transport_for(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], gate: Gate = no_gate
) -> Transport:
    """SMTP when a relay is configured, else the capture transport (CONVENTIONS §9)."""
    if settings.smtp_url:
        return SmtpTransport.from_settings(settings)
    return CaptureTransport(sessionmaker, gate)


class DeliveryRunner:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        sender: MessageSender,
        *,
        gate: Gate = no_gate,
        concurrency: int = 8,
        batch_size: int = 200,
        poll_interval: float = 0.5,
        lease: timedelta = timedelta(seconds=60),
        helper: bool = False,
    ) -> None:
        self.sessionmaker = sessionmaker
        # A claim is one statement and a batch's preparation only reads: on PostgreSQL they run in
        # autocommit, without the BEGIN and COMMIT round trips of a transaction.
        engine = sessionmaker.kw["bind"]
        self._single_statements = create_statement_sessionmaker(engine)
        self._reads = create_read_sessionmaker(engine)
        self.sender = sender
        self.gate = gate
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        # A helper only sends, and only claims at once after a full batch (a backlog); otherwise once
        # a poll interval. It shares a broadcast's backlog with the full runner of another process
        # without splitting into small batches the stream of messages that runner keeps up with.
        self.helper = helper
        self.lease = lease
        self._stopping = asyncio.Event()
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._room = asyncio.Event()  # set when the queue runs low: time to claim the next batch
        self._held: dict[int, ClaimedMessage] = {}  # claimed, not yet recorded
        self._outcomes: list[tuple[ClaimedMessage, SendOutcome, asyncio.Future[None]]] = []
        self._outcomes_waiting = asyncio.Event()
        self._all_waiting = asyncio.Event()  # every connection with a message has its outcome in
        self._sending = 0  # connections with a message, sent or not yet
        self._tasks: list[asyncio.Task[None]] = []
        self._relay_up = asyncio.Event()
        self._relay_up.set()
        self._relay_backoff = RELAY_FIRST_BACKOFF

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        gate: Gate = no_gate,
        helper: bool = False,
    ) -> DeliveryRunner:
        sender = MessageSender(
            transport_for(settings, sessionmaker, gate),
            Addressing.from_settings(settings),
            dkim=DkimKeyring.from_settings(settings),
            pacer=Pacer.from_settings(settings),
        )
        return cls(
            sessionmaker,
            sender,
            gate=gate,
            concurrency=settings.smtp_concurrency if settings.smtp_url else CAPTURE_CONCURRENCY,
            lease=timedelta(seconds=settings.delivery_lease),
            helper=helper,
        )

    def stop(self) -> None:
        self._stopping.set()

    async def run_once(self) -> int:
        """One whole pass: housekeeping, then one batch claimed, sent and recorded; how many were claimed."""
        self._start_stages()
        try:
            await self._housekeeping()
            claimed = await self._claim_batch()
            await self._queue.join()
            await self._finish_broadcasts()
        finally:
            await self._stop_stages()
        return claimed

    async def run(self) -> None:
        log.info("delivery started")
        self._start_stages()
        loop = asyncio.get_running_loop()
        next_housekeeping = 0.0
        backlog = False  # the last claim filled a batch
        try:
            while not self._stopping.is_set():
                try:
                    if not self.helper and loop.time() >= next_housekeeping:
                        await self._housekeeping()
                        await self._finish_broadcasts()
                        next_housekeeping = loop.time() + self.poll_interval
                    if self._queue.qsize() < self.batch_size:
                        claimed = await self._claim_batch()
                        backlog = claimed >= self.batch_size
                        if backlog or (claimed and not self.helper):
                            continue
                except Exception:  # a database hiccup must not end delivery; the next pass retries
                    log.exception("delivery pass failed")
                self._room.clear()
                room = [self._room] if backlog or not self.helper else []
                await first_of(self._stopping, *room, seconds=self.poll_interval)
        finally:
            await self._shutdown()
            log.info("delivery stopped")

    def _start_stages(self) -> None:
        self._tasks = [asyncio.create_task(self._record_outcomes())]
        self._tasks += [asyncio.create_task(self._send_queued()) for _ in range(self.concurrency)]

    async def _stop_stages(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _housekeeping(self) -> None:
        async with self.gate(), self.sessionmaker() as session, session.begin():
            # The broadcasts under way first: one started now gets its next chunk on the next pass.
            await service.resolve_broadcasts(session, now=utcnow())
            await service.start_due_broadcasts(session, now=utcnow())
        async with self.gate(), self.sessionmaker() as session, session.begin():
            await service.advance_sequences(session, now=utcnow())

    async def _finish_broadcasts(self) -> None:
        async with self.gate(), self.sessionmaker() as session, session.begin():
            await service.finish_broadcasts(session, now=utcnow())

    async def _claim_batch(self) -> int:
        """Claim, prepare and queue one batch; how many messages were claimed."""
        async with self.gate(), self._single_statements() as session, session.begin():
            batch = await repository.claim(session, now=utcnow(), limit=self.batch_size, lease=self.lease)
        if not batch:
            return 0
        # Should this fail, the batch is not held: its lease runs out and another pass takes it up.
        async with self._reads() as session:
            prepared = await self.sender.prepare(session, batch)
        if prepared.cancelled or prepared.uncomposable:
            async with self.gate(), self.sessionmaker() as session, session.begin():
                await self.sender.settle(session, prepared)
        self._held.update((delivery.message.id, delivery.message) for delivery in prepared.deliveries)
        for delivery in prepared.deliveries:
            self._queue.put_nowait(delivery)
        return len(batch)

    async def _send_queued(self) -> None:
        """One connection's worth of sending: a message goes out only once the previous one is recorded."""
        while True:
            delivery = await self._queue.get()
            self._sending += 1
            try:
                outcome = await self._send(delivery)
                recorded = asyncio.get_running_loop().create_future()
                self._outcomes.append((delivery.message, outcome, recorded))
                self._outcomes_waiting.set()
                if len(self._outcomes) >= self._sending:
                    self._all_waiting.set()
                await recorded
            finally:
                self._sending -= 1
                self._queue.task_done()
                if self._queue.qsize() < self.batch_size:
                    self._room.set()

    async def _send(self, delivery: Delivery) -> SendOutcome:
        """Send one message, waiting out a relay that cannot be reached instead of counting it as an attempt."""
        retried = False
        while True:
            await self._relay_up.wait()
            try:
                outcome = await self.sender.send(delivery)
            except Exception as exc:  # whatever went wrong, the message is retried, never lost
                log.exception("sending message %s failed", delivery.message.id)
                return SendOutcome(DeliveryStatus.TRANSIENT, None, f"{type(exc).__name__}: {exc}")
            if outcome.status is DeliveryStatus.UNREACHABLE:
                if utcnow() - delivery.message.created_at >= RETRY_DEADLINE:
                    return outcome  # the relay has been away for days: the message fails
                await self._wait_for_relay(outcome)
                continue
            if outcome.status is DeliveryStatus.TRANSIENT and outcome.code is None and not retried:
                # The connection broke mid-transaction (the relay restarting?): once more on a new one.
                retried = True
                continue
            self._relay_backoff = RELAY_FIRST_BACKOFF
            return outcome

    async def _wait_for_relay(self, outcome: SendOutcome) -> None:
        """Pause every sender: the first to find the relay away waits a growing while, then all try again."""
        if not self._relay_up.is_set():
            await self._relay_up.wait()
            return
        self._relay_up.clear()
        delay, self._relay_backoff = self._relay_backoff, min(self._relay_backoff * 2, RELAY_LAST_BACKOFF)
        log.warning("the relay cannot be reached (%s); trying again in %.1f s", outcome.message, delay)
        try:
            await asyncio.sleep(delay)
        finally:
            self._relay_up.set()

    async def _record_outcomes(self) -> None:
        """Commit the outcomes gathered meanwhile in one transaction; renew leases when they are half gone."""
        async with recording_sessions(self.sessionmaker) as sessionmaker:
            await self._record_with(sessionmaker)

    async def _record_with(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        loop = asyncio.get_running_loop()
        renew_every = self.lease.total_seconds() / 3
        next_renewal = loop.time() + renew_every
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outcomes_waiting.wait(), timeout=max(next_renewal - loop.time(), 0))
            self._outcomes_waiting.clear()
            # Gather the outcomes of the other connections too, unless every one is waiting already:
            # a transaction costs far more than a message, and the connections wait for it anyway.
            if self._outcomes and len(self._outcomes) < self._sending:
                self._all_waiting.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._all_waiting.wait(), timeout=RECORD_WINDOW)
            outcomes, self._outcomes = self._outcomes, []
            renewing = loop.time() >= next_renewal
            renewed: list[tuple[repository.Lease, datetime]] = []
            while True:
                try:
                    async with self.gate(), sessionmaker() as session, session.begin():
                        await self.sender.record(session, [(message, outcome) for message, outcome, _ in outcomes])
                        for message, _, _ in outcomes:
                            self._held.pop(message.id, None)
                        if renewing:
                            renewed = await self._renew(session)
                    break
                except Exception:  # the database is away: keep the outcomes and try again; senders wait
                    log.exception("recording %d outcomes failed", len(outcomes))
                    await asyncio.sleep(RECORD_RETRY)
            for lease, until in renewed:
                lease.until = until
            if renewing:
                next_renewal = loop.time() + renew_every
            for _, _, recorded in outcomes:
                recorded.set_result(None)

    async def _renew(self, session: AsyncSession) -> list[tuple[repository.Lease, datetime]]:
        """Extend the lease of every message still held; the new ends, applied once committed."""
        by_lease: defaultdict[int, list[ClaimedMessage]] = defaultdict(list)
        for message in self._held.values():
            by_lease[id(message.lease)].append(message)
        until = utcnow() + self.lease
        renewed = []
        for messages in by_lease.values():
            lease = messages[0].lease
            await repository.renew(session, [m.id for m in messages], lease=lease, until=until)
            renewed.append((lease, until))
        return renewed

    async def _shutdown(self) -> None:
        """Finish the sends under way, hand queued messages back to other senders, close the transport."""
        unsent: list[ClaimedMessage] = []
        while not self._queue.empty():
            delivery = self._queue.get_nowait()
            self._queue.task_done()
            unsent.append(delivery.message)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._queue.join(), timeout=30)  # the sends in flight and their outcomes
        await self._stop_stages()
        try:
            if unsent:
                async with self.gate(), self.sessionmaker() as session, session.begin():
                    by_lease: defaultdict[int, list[ClaimedMessage]] = defaultdict(list)
                    for message in unsent:
                        by_lease[id(message.lease)].append(message)
                    for messages in by_lease.values():
                        await repository.release(
                            session, [m.id for m in messages], lease=messages[0].lease, now=utcnow()
                        )
        except Exception:  # their lease runs out instead
            log.exception("releasing %d unsent messages failed", len(unsent))
        finally:
            await self.sender.transport.close()


@contextlib.asynccontextmanager
async def recording_sessions(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions for the recorder: on PostgreSQL, from an engine of its own whose commits do not wait
    for the disk flush (`synchronous_commit` off when it connects, not a `SET LOCAL` per commit).

    A database crash (not a process crash) may then forget the last fraction of a second of
    outcomes; those messages are sent once more, which is the same promise a killed sender gives.
    Waiting for the flush would cap each connection at a few hundred messages per second. Only
    outcomes commit this way: the API and the rest of delivery keep the server's setting.
    """
    engine = sessionmaker.kw.get("bind")
    if not isinstance(engine, AsyncEngine) or engine.dialect.name != "postgresql":
        yield sessionmaker
        return
    relaxed = create_engine(engine.url.render_as_string(hide_password=False), pool_size=1, synchronous_commit=False)
    try:
        yield create_sessionmaker(relaxed)
    finally:
        await relaxed.dispose()
