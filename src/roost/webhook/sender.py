"""The webhook sender run by `roost serve` and `roost worker`: claims due messages, POSTs them, logs each attempt.

- Each message is POSTed as JSON signed per Standard Webhooks: `webhook-id` is `msg_<id>`, the same
  on every attempt; `webhook-timestamp` is the attempt's time; `webhook-signature` signs both with
  the body (`v1,<base64 HMAC-SHA256>`), using the endpoint's secret as it is when the message is
  claimed.
- A 2xx answer delivers the message. 410 Gone switches the endpoint off, saying why; its messages
  stay pending, sent when it is switched on again. Any other answer, a timeout or a connection
  that fails is retried on a schedule like Svix's (5 s, 5 min, 30 min, 2 h, 5 h, then 10 h …: about
  three days), later when the answer's `Retry-After` asks for more (at most a day); after the last
  retry the message has `failed`. A redirect is not followed: it is a failed attempt.
- Every attempt is a row of the delivery log: status code, latency, the first KiB of the answer,
  or the error. Messages delivered or failed are deleted with their attempts after 30 days.
- Events about a contact reach an endpoint in the order they happened: the claim passes over a
  message while an earlier one of the same endpoint and contact is pending (`repository.claim`).
- One endpoint holds at most `per_endpoint` of the sender's `concurrency` slots, so a slow or
  silent endpoint delays its own messages, not every account's.

Sending never holds a database transaction: a claim commits, the POSTs run, and their outcomes are
written together by a recorder (a group commit, through the write gate). A claim is a lease: a
sender that dies leaves its messages to be claimed again when the lease ends, so an endpoint may
see a message twice (at least once delivery; the `webhook-id` tells repeats apart).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks import Webhook

from roost.config import Settings
from roost.db import Gate, no_gate
from roost.kit.clock import utcnow
from roost.kit.timestamps import format_utc
from roost.kit.waiting import first_of
from roost.net import guard
from roost.net import http as net_http
from roost.webhook import repository
from roost.webhook.types import ClaimedMessage

log = logging.getLogger("roost.webhooks")

# The waits after each failed attempt: 12 attempts over about three days (CONVENTIONS §7).
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    *(timedelta(hours=10),) * 5,
    timedelta(hours=12),
)
RETRY_AFTER_CAP = timedelta(days=1)
LEASE = timedelta(seconds=60)
USER_AGENT = "Roost-Webhooks/1.0"
# How a refused destination is explained, at saving and in the delivery log (CONVENTIONS §7).
DESTINATION_RULE = "webhooks go to public addresses only."
TIMEOUT = 10.0  # seconds to connect, and for each read; the whole attempt gets twice that
RESPONSE_EXCERPT = 1024  # bytes of the answer kept in the delivery log
RECORD_RETRY = 1.0
PASS_RETRY = 1.0
# Delivered and failed messages are kept this long with their attempts (the delivery log), then deleted.
RETENTION = timedelta(days=30)
PRUNE_EVERY = 600.0  # seconds
PRUNE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one POST went."""

    message: ClaimedMessage
    at: datetime
    status_code: int | None = None
    response: str = ""
    error: str | None = None
    latency_ms: int = 0
    retry_after: timedelta | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """A `Retry-After` header (seconds or an HTTP date) as a wait; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value[:9]))
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(moment - now, timedelta(0))


def sign(message: ClaimedMessage, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {
        "content-type": "application/json",
        "webhook-id": message.webhook_id,
        "webhook-timestamp": str(math.floor(at.timestamp())),
        "webhook-signature": Webhook(message.secret).sign(message.webhook_id, at, message.body),
    }


class WebhookSender:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        gate: Gate = no_gate,
        allow_private: bool = False,
        schedule: Sequence[timedelta] = RETRY_SCHEDULE,
        retry_after_cap: timedelta = RETRY_AFTER_CAP,
        concurrency: int = 16,
        per_endpoint: int = 4,
        poll_interval: float = 0.5,
        lease: timedelta = LEASE,
        timeout: float = TIMEOUT,
        retention: timedelta = RETENTION,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.gate = gate
        self.allow_private = allow_private
        self.schedule = tuple(schedule)
        self.retry_after_cap = retry_after_cap
        self.concurrency = concurrency
        self.per_endpoint = per_endpoint
        self.poll_interval = poll_interval
        self.lease = lease
        self.timeout = timeout
        self.retention = retention
        self._client: httpx.AsyncClient | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()  # a slot came free: time to claim
        self._held = 0  # claimed and not yet recorded
        self._busy: Counter[int] = Counter()  # of those, how many per endpoint
        self._outcomes: list[Attempt] = []
        self._outcomes_waiting = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    @classmethod
    def from_settings(
        cls, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], *, gate: Gate = no_gate
    ) -> WebhookSender:
        return cls(sessionmaker, gate=gate, allow_private=settings.webhooks_allow_private)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = net_http.client(
                allow_private=self.allow_private, rule=DESTINATION_RULE, timeout=self.timeout, user_agent=USER_AGENT
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def stop(self) -> None:
        self._stopping.set()

    async def run_once(self) -> int:
        """One whole pass: claim a batch, send it, record it; how many messages were claimed."""
        claimed = await self._claim(self.concurrency)
        if claimed:
            attempts = await asyncio.gather(*(self.attempt(message) for message in claimed))
            async with self.gate(), self.sessionmaker() as session, session.begin():
                await self._record(session, attempts)
        return len(claimed)

    async def run(self) -> None:
        log.info("webhook sender started")
        recorder = asyncio.create_task(self._record_outcomes())
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                if loop.time() >= next_prune:
                    next_prune = loop.time() + PRUNE_EVERY
                    with contextlib.suppress(Exception):  # the next round tries again
                        await self.prune()
                claimed: list[ClaimedMessage] = []
                pause = self.poll_interval
                try:
                    if self._held < self.concurrency:
                        claimed = await self._claim(self.concurrency - self._held)
                except Exception:  # the database is away: the next pass tries again
                    log.exception("claiming webhook messages failed")
                    pause = PASS_RETRY
                for message in claimed:
                    self._held += 1
                    self._busy[message.endpoint_id] += 1
                    task = asyncio.create_task(self._deliver(message))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                if not claimed or self._held >= self.concurrency:
                    await self._sleep(pause)
        finally:
            await self._shutdown(recorder)
            log.info("webhook sender stopped")

    async def prune(self) -> int:
        """Delete a batch of messages finished more than `retention` ago, with their attempts; how many."""
        async with self.gate(), self.sessionmaker() as session, session.begin():
            return await repository.prune(session, before=utcnow() - self.retention, limit=PRUNE_BATCH)

    async def _sleep(self, seconds: float) -> None:
        """Until a slot comes free, the sender stops, or `seconds` pass."""
        await first_of(self._stopping, self._wake, seconds=seconds)

    async def _claim(self, limit: int) -> list[ClaimedMessage]:
        # A read first, outside the write gate: an idle poll never takes SQLite's write lock.
        async with self.sessionmaker() as session:
            if not await repository.any_due(session, now=utcnow()):
                return []
        busy = [endpoint_id for endpoint_id, held in self._busy.items() if held >= self.per_endpoint]
        async with self.gate(), self.sessionmaker() as session, session.begin():
            return await repository.claim(
                session,
                now=utcnow(),
                limit=limit,
                lease=self.lease,
                per_endpoint=self.per_endpoint,
                busy_endpoints=busy,
            )

    async def _deliver(self, message: ClaimedMessage) -> None:
        attempt = await self.attempt(message)
        self._outcomes.append(attempt)
        self._outcomes_waiting.set()

    async def attempt(self, message: ClaimedMessage) -> Attempt:
        """POST one message; never raises for what the destination does."""
        loop = asyncio.get_running_loop()
        at = utcnow()
        started = loop.time()
        status_code: int | None = None
        excerpt, error, wait = "", None, None
        try:
            async with asyncio.timeout(self.timeout * 2):
                request = self.client.build_request(
                    "POST", message.url, content=message.body.encode(), headers=sign(message, at)
                )
                response = await self.client.send(request, stream=True)
                try:
                    status_code = response.status_code
                    wait = retry_after(response.headers.get("retry-after"), now=at)
                    excerpt = await _excerpt(response)
                finally:
                    await response.aclose()
        except guard.Refused as refused:
            error = refused.message
        except (TimeoutError, httpx.TimeoutException):
            error = f"No answer within {self.timeout:g} s."
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # whatever went wrong, the attempt is logged and retried, never lost
            log.exception("webhook message %s failed unexpectedly", message.id)
            error = f"{type(exc).__name__}: {exc}"
        latency = round((loop.time() - started) * 1000)
        if status_code is not None and error is None and not 200 <= status_code < 300:
            log.info("webhook message %s: endpoint %s answered %s", message.id, message.endpoint_id, status_code)
        elif error is not None:
            log.info("webhook message %s: endpoint %s: %s", message.id, message.endpoint_id, error)
        return Attempt(
            message=message,
            at=at,
            status_code=status_code,
            response=excerpt,
            error=error,
            latency_ms=latency,
            retry_after=wait,
        )

    async def _record_outcomes(self) -> None:
        """Commit the outcomes gathered meanwhile in one transaction; free their slots once committed."""
        while True:
            await self._outcomes_waiting.wait()
            self._outcomes_waiting.clear()
            attempts, self._outcomes = self._outcomes, []
            while attempts:
                try:
                    async with self.gate(), self.sessionmaker() as session, session.begin():
                        await self._record(session, attempts)
                    break
                except Exception:  # the database is away: keep the outcomes and try again
                    log.exception("recording %d webhook attempts failed", len(attempts))
                    await asyncio.sleep(RECORD_RETRY)
            self._held -= len(attempts)
            for attempt in attempts:
                self._busy[attempt.message.endpoint_id] -= 1
            self._busy = +self._busy  # drops the endpoints with none left
            self._wake.set()
            if self._closing and not self._outcomes:
                return

    async def _record(self, session: AsyncSession, attempts: Sequence[Attempt]) -> None:
        """Write each attempt's delivery row and what becomes of its message (the caller commits)."""
        now = utcnow()
        deliveries: list[dict[str, Any]] = []
        for attempt in attempts:
            message = attempt.message
            values: dict[str, Any]
            gone = attempt.status_code == 410
            if attempt.succeeded:
                values = {"status": "delivered", "delivered_at": now}
            elif gone:
                values = {"next_attempt_at": now}  # held while the endpoint is off, then sent first
            else:
                failures = message.scheduled_attempts + 1
                if failures > len(self.schedule):
                    values = {"status": "failed", "scheduled_attempts": failures}
                else:
                    wait = self.schedule[failures - 1]
                    if attempt.retry_after is not None:
                        wait = max(wait, min(attempt.retry_after, self.retry_after_cap))
                    values = {"scheduled_attempts": failures, "next_attempt_at": now + wait}
            if not await repository.conclude(session, message, **values):
                continue  # the claim was lost (lease over, or the webhook deleted): another sender has it
            if gone:
                reason = (
                    f"The endpoint answered 410 Gone at {format_utc(now)} UTC, so Roost switched the webhook off."
                    " Switch it on again to resume; its pending messages are kept."
                )
                await repository.disable(session, message.endpoint_id, reason=reason, now=now)
            deliveries.append(
                {
                    "account_id": message.account_id,
                    "endpoint_id": message.endpoint_id,
                    "message_id": message.id,
                    "attempt": message.attempts + 1,
                    "trigger": "manual" if message.manual else "scheduled",
                    "succeeded": attempt.succeeded,
                    "status_code": attempt.status_code,
                    "error": attempt.error,
                    "response": attempt.response,
                    "latency_ms": attempt.latency_ms,
                    "created_at": attempt.at,
                }
            )
        await repository.add_deliveries(session, deliveries)

    async def _shutdown(self, recorder: asyncio.Task[None]) -> None:
        """Let the attempts under way finish and be recorded (a lease covers what cannot be), then close."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), timeout=self.timeout * 2)
        self._closing = True
        self._outcomes_waiting.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(recorder, timeout=10)
        for task in list(self._tasks):
            task.cancel()
        await self.aclose()


async def _excerpt(response: httpx.Response) -> str:
    """The start of the answer's body, as text."""
    kept = b""
    async for chunk in response.aiter_raw():
        kept += chunk
        if len(kept) >= RESPONSE_EXCERPT:
            break
    return kept[:RESPONSE_EXCERPT].decode("utf-8", errors="replace")
