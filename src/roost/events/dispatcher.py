"""The event dispatcher: every event row is handed to the consumers of events exactly once.

A pass claims the oldest pending events (`dispatched_at IS NULL`, in id order) and, in the same
transaction, calls each handler on each event and marks the events dispatched. The claim is the
mark: one `UPDATE … RETURNING` sets `dispatched_at`, on PostgreSQL over rows selected `FOR UPDATE
SKIP LOCKED` (so several workers take disjoint batches), on SQLite under the database's single
write lock. What the handlers change and the mark commit together or not at all: a crash, or
any error that ends the transaction, leaves the events pending with nothing of their handling
applied, and the next pass takes them again. That is what makes delivery exactly once.

Each event is handled inside a SAVEPOINT, by the handlers that want it (an event none wants is only
marked). A handler that raises undoes only its event's changes;
that event goes back to pending and is offered again after a growing pause, while the rest of
the batch commits, so one bad event never blocks the queue. Handlers must therefore raise only
for "not now" (handlers record failures that retrying cannot mend, such as an action on a
deleted contact, themselves).

A pass stops taking events once it has run for `budget` seconds and hands the rest of its claim
back, so that a transaction, and on SQLite the write lock, is held briefly whatever the backlog.

Nothing reads an event once it is dispatched, so with a `retention` the dispatcher deletes the
events dispatched longer ago than that, once a minute, a window of ids at a time (`prune`). With a
`run_retention` it does the same with the rules' run log, which the rule engine it calls writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from roost.db import Gate, no_gate
from roost.kit.clock import utcnow
from roost.models import Event, RuleRun

log = logging.getLogger("roost.events")

# An event whose handling raised is offered again after this pause, doubling up to the last.
FIRST_RETRY = 1.0
LAST_RETRY = 300.0
# After a failed pass (the database away), the loop waits this long before the next one.
PASS_RETRY = 1.0
# The longest pause between polls when no event comes: rules react within a second of a quiet spell.
IDLE_PAUSE = 0.8
# How often old events are pruned, how many ids one pruning transaction looks at, and how many
# such windows a pass takes: a million ids every ten minutes, each window a few milliseconds.
PRUNE_EVERY = 60.0
PRUNE_WINDOW = 10_000
PRUNE_WINDOWS = 10


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An event being dispatched, as read from its row."""

    id: int
    account_id: int
    type: str
    contact_id: int | None
    data: dict[str, Any]
    origin_id: int | None
    depth: int
    occurred_at: datetime

    @property
    def origin(self) -> int:
        """The event that started the chain this one belongs to: its origin, or itself."""
        return self.origin_id if self.origin_id is not None else self.id


class EventHandler(Protocol):
    """A consumer of events, called in the dispatcher's transaction."""

    async def prepare(self, session: AsyncSession, events: Sequence[PendingEvent]) -> None:
        """Load what the batch needs, once per transaction, before its events are handled."""

    def wants(self, event: PendingEvent) -> bool:
        """Whether `handle` may do anything with this event (asked after `prepare`)."""

    async def handle(self, session: AsyncSession, event: PendingEvent) -> None:
        """Act on one event. Raising undoes what this call changed and offers the event again later."""


@dataclass(slots=True)
class _Retry:
    attempts: int
    at: float


class Dispatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        handlers: Sequence[EventHandler],
        *,
        gate: Gate = no_gate,
        batch_size: int = 100,
        poll_interval: float = 0.1,
        budget: float = 0.05,
        first_retry: float = FIRST_RETRY,
        retention: timedelta | None = None,
        run_retention: timedelta | None = None,
        prune_window: int = PRUNE_WINDOW,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.handlers = list(handlers)
        self.gate = gate
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.budget = budget
        self.first_retry = first_retry
        # How many events a pass claims: what the last passes got through within the budget, so
        # that slow handling (many rules to run) does not claim rows only to hand most of them back.
        self._claim_size = batch_size
        self._stopping = asyncio.Event()
        self._retries: dict[int, _Retry] = {}  # events whose handling raised, by id
        self.retention = retention
        self.run_retention = run_retention
        self.prune_window = prune_window
        # Where the next pruning window of each table starts (after this id).
        self._pruned_through: dict[type[Event] | type[RuleRun], int] = {}

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        log.info("event dispatcher started")
        # Idle, the pause doubles up to IDLE_PAUSE (each poll is a query); any event resets it.
        longest = max(IDLE_PAUSE, self.poll_interval)
        idle_pause = self.poll_interval
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        while not self._stopping.is_set():
            try:
                handled = await self.run_once()
                pause = idle_pause
                idle_pause = self.poll_interval if handled else min(idle_pause * 2, longest)
                if (self.retention is not None or self.run_retention is not None) and loop.time() >= next_prune:
                    next_prune = loop.time() + PRUNE_EVERY
                    await self.prune()
            except Exception:  # the database is away: the events stay pending, the next pass retries
                log.exception("dispatching events failed")
                handled, pause = 0, PASS_RETRY
            if not handled:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=pause)
        log.info("event dispatcher stopped")

    async def run_once(self) -> int:
        """One transaction: claim a batch, handle it, commit; how many events were handled (or failed)."""
        waiting = self._waiting()
        if not await self._any_pending(waiting):
            return 0
        loop = asyncio.get_running_loop()
        async with self.gate(), self.sessionmaker() as session, session.begin():
            claimed = await self._claim(session, waiting)
            if not claimed:
                return 0
            for handler in self.handlers:
                await handler.prepare(session, claimed)
            deadline = loop.time() + self.budget
            handed_back: list[int] = []
            processed = 0
            for position, event in enumerate(claimed):
                if position and loop.time() > deadline:
                    handed_back += [later.id for later in claimed[position:]]
                    break
                processed += 1
                if not await self._handle(session, event):
                    handed_back.append(event.id)
            if processed < len(claimed):
                self._claim_size = processed
            else:
                self._claim_size = min(self.batch_size, self._claim_size * 2)
            if handed_back:
                await session.execute(
                    update(Event)
                    .where(Event.id.in_(handed_back))
                    .values(dispatched_at=None)
                    .execution_options(synchronize_session=False)
                )
        return processed

    async def prune(self, *, windows: int = PRUNE_WINDOWS) -> int:
        """Delete the events dispatched more than `retention` ago and the rule runs made more than
        `run_retention` ago, in the next `windows` windows of `prune_window` ids of each table, each
        window a transaction of its own; how many were deleted.

        A window is a range of the primary key, so what it costs does not grow with the table. The
        windows walk the table from its oldest id to its newest and then start over, so an event
        dispatched late (after retries) goes too once it is old enough.
        """
        deleted = 0
        if self.retention is not None:
            deleted += await self._prune(Event, Event.dispatched_at, self.retention, windows)
        if self.run_retention is not None:
            deleted += await self._prune(RuleRun, RuleRun.created_at, self.run_retention, windows)
        return deleted

    async def _prune(
        self,
        model: type[Event] | type[RuleRun],
        stamp: InstrumentedAttribute[datetime] | InstrumentedAttribute[datetime | None],
        keep: timedelta,
        windows: int,
    ) -> int:
        deleted = 0
        for _ in range(windows):
            after = self._pruned_through.get(model, 0)
            async with self.gate(), self.sessionmaker() as session, session.begin():
                window = select(model.id).where(model.id > after).order_by(model.id).limit(self.prune_window)
                last = await session.scalar(select(func.max(window.subquery().c.id)))
                if last is not None:
                    done = await session.execute(
                        delete(model)
                        .where(model.id > after, model.id <= last, stamp < utcnow() - keep)
                        .execution_options(synchronize_session=False)
                    )
                    deleted += cast(CursorResult[Any], done).rowcount
            self._pruned_through[model] = last or 0
            if last is None:
                break  # the walk reached the newest row: the next pass starts again from the oldest
        return deleted

    async def _handle(self, session: AsyncSession, event: PendingEvent) -> bool:
        """Every handler on one event, in a savepoint; False when one raised (the event is retried later)."""
        interested = [handler for handler in self.handlers if handler.wants(event)]
        if not interested:
            # Most events (mail sent, fields changed) concern no rule and no webhook: marked, no savepoint.
            return True
        try:
            async with session.begin_nested():
                for handler in interested:
                    await handler.handle(session, event)
        except Exception:
            retry = self._retries.get(event.id) or _Retry(attempts=0, at=0.0)
            retry.attempts += 1
            pause = min(self.first_retry * 2 ** (retry.attempts - 1), LAST_RETRY)
            retry.at = asyncio.get_running_loop().time() + pause
            self._retries[event.id] = retry
            log.exception("handling event %s (%s) failed; retrying in %.1f s", event.id, event.type, pause)
            return False
        self._retries.pop(event.id, None)
        return True

    def _waiting(self) -> list[int]:
        """Ids of failed events whose pause has not run out: not claimed this pass."""
        now = asyncio.get_running_loop().time()
        return [event_id for event_id, retry in self._retries.items() if retry.at > now]

    async def _any_pending(self, waiting: Sequence[int]) -> bool:
        """A read, outside the write gate: an idle poll never takes SQLite's write lock."""
        query = select(Event.id).where(Event.dispatched_at.is_(None))
        if waiting:
            query = query.where(Event.id.not_in(waiting))
        async with self.sessionmaker() as session:
            return await session.scalar(query.limit(1)) is not None

    async def _claim(self, session: AsyncSession, waiting: Sequence[int]) -> list[PendingEvent]:
        pending = select(Event.id).where(Event.dispatched_at.is_(None))
        if waiting:
            pending = pending.where(Event.id.not_in(waiting))
        pending = pending.order_by(Event.id).limit(self._claim_size)
        if session.get_bind().dialect.name == "postgresql":
            pending = pending.with_for_update(skip_locked=True)
        rows = await session.execute(
            update(Event)
            .where(Event.id.in_(pending.scalar_subquery()))
            .values(dispatched_at=utcnow())
            .returning(
                Event.id,
                Event.account_id,
                Event.type,
                Event.contact_id,
                Event.data,
                Event.origin_id,
                Event.depth,
                Event.occurred_at,
            )
            .execution_options(synchronize_session=False)
        )
        claimed = [
            PendingEvent(
                id=row.id,
                account_id=row.account_id,
                type=row.type,
                contact_id=row.contact_id,
                data=dict(row.data or {}),
                origin_id=row.origin_id,
                depth=row.depth,
                occurred_at=row.occurred_at,
            )
            for row in rows
        ]
        return sorted(claimed, key=lambda event: event.id)
