"""The dispatcher hands every event to its handlers exactly once: a crash in between loses nothing and
applies nothing twice, a handler that raises blocks nothing else, and several dispatchers at once
share the work without handling an event twice."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.events.dispatcher import Dispatcher, PendingEvent
from roost.kit.clock import utcnow
from roost.models import Event, RuleRun
from roost.rule.engine import RuleEngine
from tests.rules.conftest import Rules, dispatcher_for, tag_action, tag_trigger


async def _pending(sessionmaker: async_sessionmaker[AsyncSession], account_id: int) -> int:
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).where(Event.account_id == account_id, Event.dispatched_at.is_(None))
        )
        return int(count or 0)


async def test_every_event_is_handled_once_and_marked_dispatched(
    rules: Rules, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    rule = await rules.create([tag_trigger("Go")], [{"action": "add_conversion"}])
    contact = await rules.new_contact()
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Go"]})
    await rules.api.patch(f"/contacts/{contact}", {"fields": {"first_name": "Ada"}})  # an event no rule wants
    assert await _pending(sessionmaker, rules.api.account.id) == 3
    await rules.settle()
    assert await _pending(sessionmaker, rules.api.account.id) == 0
    assert await rules.settle() == 0  # nothing is handed out twice
    assert len(await rules.runs(rule)) == 1
    assert (await rules.api.get("/conversions")).json()["meta"]["total"] == 1


class Hang:
    """A handler after the rules engine that stops in the middle of a pass: the process "crashes" there."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()

    async def prepare(self, session: AsyncSession, events: Sequence[PendingEvent]) -> None:
        pass

    def wants(self, event: PendingEvent) -> bool:
        return True

    async def handle(self, session: AsyncSession, event: PendingEvent) -> None:
        self.reached.set()
        await asyncio.Event().wait()


async def test_a_crash_in_the_middle_of_a_pass_undoes_it_and_the_event_is_handled_once_later(
    rules: Rules, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    rule = await rules.create([tag_trigger("Go")], [tag_action("Done"), {"action": "add_conversion"}])
    contact = await rules.new_contact()
    await rules.settle()
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Go"]})

    hang = Hang()
    crashing = Dispatcher(sessionmaker, [RuleEngine(), hang])
    task = asyncio.create_task(crashing.run_once())
    await asyncio.wait_for(hang.reached.wait(), timeout=30)  # the rule's actions are done, not committed
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert await rules.tags(contact) == {"Go"}
    assert await rules.runs(rule) == []
    assert (await rules.api.get("/conversions")).json()["meta"]["total"] == 0
    assert await _pending(sessionmaker, rules.api.account.id) == 1

    await rules.settle()
    await rules.settle()
    assert await rules.tags(contact) == {"Go", "Done"}
    assert len(await rules.runs(rule)) == 1
    assert (await rules.api.get("/conversions")).json()["meta"]["total"] == 1


class Flaky:
    """Raises on the events of one contact while `failing` is set."""

    def __init__(self, contact_id: int) -> None:
        self.contact_id = contact_id
        self.failing = True

    async def prepare(self, session: AsyncSession, events: Sequence[PendingEvent]) -> None:
        pass

    def wants(self, event: PendingEvent) -> bool:
        return True

    async def handle(self, session: AsyncSession, event: PendingEvent) -> None:
        if self.failing and event.contact_id == self.contact_id:
            raise RuntimeError("the handler is having a bad day")


async def test_an_event_whose_handling_raises_is_retried_later_and_blocks_nothing(
    rules: Rules, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    rule = await rules.create([tag_trigger("Go")], [tag_action("Done")])
    unlucky, lucky = await rules.new_contact(), await rules.new_contact("b@example.com")
    await rules.settle()
    flaky = Flaky(unlucky)
    dispatcher = Dispatcher(sessionmaker, [RuleEngine(), flaky], first_retry=0.5)
    for contact in (unlucky, lucky):
        await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Go"]})

    while await dispatcher.run_once():
        pass
    # The failing event's rule effects went with it; the event after it was handled and committed.
    assert await rules.tags(unlucky) == {"Go"}
    assert await rules.tags(lucky) == {"Go", "Done"}
    assert await _pending(sessionmaker, rules.api.account.id) == 1
    assert await dispatcher.run_once() == 0  # waiting out its pause, it is not taken again at once

    flaky.failing = False
    await asyncio.sleep(0.6)
    assert await dispatcher.run_once() == 1
    assert await rules.tags(unlucky) == {"Go", "Done"}
    assert sorted(run["contact_id"] for run in await rules.runs(rule)) == sorted([unlucky, lucky])


async def test_dispatchers_side_by_side_handle_each_event_once(
    rules: Rules, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    rule = await rules.create([tag_trigger("Buy")], [{"action": "add_conversion"}])
    contacts = [await rules.new_contact(f"c{n}@example.com") for n in range(24)]
    await rules.settle()
    for contact in contacts:
        await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Buy"]})

    async def drain(dispatcher: Dispatcher) -> int:
        total = 0
        while handled := await dispatcher.run_once():
            total += handled
            await asyncio.sleep(0)
        return total

    workers = [Dispatcher(sessionmaker, [RuleEngine()], batch_size=3) for _ in range(3)]
    handled = await asyncio.gather(*(drain(worker) for worker in workers))
    await rules.settle()
    assert sum(handled) >= len(contacts)
    assert (await rules.api.get("/conversions")).json()["meta"]["total"] == len(contacts)
    assert len(await rules.runs(rule)) == len(contacts)


async def test_a_pass_stops_at_its_budget_and_hands_the_rest_back(
    rules: Rules, app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await rules.create([tag_trigger("Go")], [tag_action("Done")])
    contacts = [await rules.new_contact(f"c{n}@example.com") for n in range(3)]
    await rules.settle()
    for contact in contacts:
        await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Go"]})

    brief = dispatcher_for(app, sessionmaker)
    brief.budget = 0.0  # a pass handles one event, however many it claimed
    assert await brief.run_once() == 1
    assert [await rules.tags(contact) for contact in contacts] == [{"Go", "Done"}, {"Go"}, {"Go"}]
    # The two events handed back, and the one the rule's action recorded.
    assert await _pending(sessionmaker, rules.api.account.id) == 3
    passes = 1
    while await brief.run_once():
        passes += 1
    assert passes == 6
    assert [await rules.tags(contact) for contact in contacts] == [{"Go", "Done"}] * 3


class HoldFirst:
    """Holds the transaction of its dispatcher's first event open until `release` is set."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def prepare(self, session: AsyncSession, events: Sequence[PendingEvent]) -> None:
        pass

    def wants(self, event: PendingEvent) -> bool:
        return True

    async def handle(self, session: AsyncSession, event: PendingEvent) -> None:
        if not self.reached.is_set():
            self.reached.set()
            await self.release.wait()


async def test_two_workers_on_events_of_one_chain_run_the_rule_once(
    rules: Rules, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await rules.create([tag_trigger("Start")], [tag_action("Paid", "Onboarded")])
    once = await rules.create(
        [tag_trigger("Paid"), tag_trigger("Onboarded")], [{"action": "create_task", "params": {"title": "Welcome"}}]
    )
    contact = await rules.new_contact()
    await rules.settle()
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Start"]})
    assert await rules.dispatcher.run_once() == 1  # Start: the Paid and Onboarded events of its chain follow

    # Worker A runs the rule on Paid and holds its transaction open; worker B takes Onboarded meanwhile
    # (PostgreSQL: B's run waits on A's run-log row, then fails on the constraint and is undone;
    # SQLite: B waits for A's write lock, then finds A's run).
    hold = HoldFirst()
    first = asyncio.create_task(Dispatcher(sessionmaker, [RuleEngine(), hold], batch_size=1).run_once())
    await asyncio.wait_for(hold.reached.wait(), timeout=30)
    second = asyncio.create_task(Dispatcher(sessionmaker, [RuleEngine()], batch_size=1).run_once())
    await asyncio.sleep(0.5)
    hold.release.set()
    assert list(await asyncio.wait_for(asyncio.gather(first, second), timeout=60)) == [1, 1]
    await rules.settle()

    tasks = (await rules.api.get(f"/contacts/{contact}/tasks")).json()["data"]
    assert [task["title"] for task in tasks] == ["Welcome"]
    assert len(await rules.runs(once)) == 1


async def test_events_are_deleted_once_handled_and_older_than_the_retention(
    rules: Rules, app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    now = utcnow()
    long_ago = now - timedelta(days=40)

    def event(occurred_at: datetime, dispatched_at: datetime | None) -> Event:
        return Event(
            account_id=rules.api.account.id,
            type="contact.updated",
            data={},
            occurred_at=occurred_at,
            dispatched_at=dispatched_at,
        )

    old_and_handled = [event(long_ago, long_ago) for _ in range(7)]
    kept = {
        "old but never handled": event(long_ago, None),
        "handled late, after retries": event(long_ago, now - timedelta(days=2)),
        "recent": event(now, now),
    }
    async with sessionmaker() as session, session.begin():
        session.add_all([*old_and_handled, *kept.values()])
    old_ids = {e.id for e in old_and_handled}
    pruner = Dispatcher(sessionmaker, [], gate=app.state.roost.write_gate, retention=timedelta(days=30), prune_window=3)

    async def left() -> set[int]:
        ids = old_ids | {e.id for e in kept.values()}
        async with sessionmaker() as session:
            return set((await session.scalars(select(Event.id).where(Event.id.in_(ids)))).all())

    # Pass after pass, as the dispatcher prunes once a minute: small windows walk the whole table.
    async with sessionmaker() as session:
        events_in_table = int(await session.scalar(select(func.count()).select_from(Event)) or 0)
    for _ in range(events_in_table // (3 * 50) + 2):
        await pruner.prune(windows=50)
    assert await left() == {e.id for e in kept.values()}
    async with sessionmaker() as session, session.begin():  # leave no pending event to later tests
        await session.execute(delete(Event).where(Event.id.in_(await left())))


async def test_pruning_never_hands_an_id_out_twice(
    rules: Rules, app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # The newest events of the table are old enough to prune. If the next event took their ids
    # again (SQLite without AUTOINCREMENT, before migration 0014), the run log, unique per rule,
    # contact and origin event, would pass over it as an origin already run for.
    long_ago = utcnow() - timedelta(days=40)
    pruned = [
        Event(
            account_id=rules.api.account.id,
            type="contact.updated",
            data={},
            occurred_at=long_ago,
            dispatched_at=long_ago,
        )
        for _ in range(4)
    ]
    async with sessionmaker() as session, session.begin():
        session.add_all(pruned)
    pruner = Dispatcher(sessionmaker, [], gate=app.state.roost.write_gate, retention=timedelta(days=30))
    for _ in range(10):
        await pruner.prune(windows=50)
    async with sessionmaker() as session, session.begin():
        newer = Event(account_id=rules.api.account.id, type="contact.updated", data={})
        session.add(newer)
    assert newer.id > max(event.id for event in pruned)
    async with sessionmaker() as session, session.begin():  # leave no pending event to later tests
        await session.execute(delete(Event).where(Event.id == newer.id))


async def test_rule_runs_leave_the_run_log_after_the_retention(
    rules: Rules, app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    rule = await rules.create([tag_trigger("Go")], [tag_action("Done")])
    contact = await rules.new_contact()
    await rules.api.post(f"/contacts/{contact}/tags", {"tags": ["Go"]})
    await rules.settle()
    [recent] = await rules.runs(rule)
    async with sessionmaker() as session:
        real = await session.get_one(RuleRun, recent["run_id"])

    def run(origin_id: int, created_at: datetime) -> RuleRun:
        return RuleRun(
            account_id=rules.api.account.id,
            rule_id=rule,
            contact_id=contact,
            event_id=origin_id,
            event_type="tag.added",
            origin_id=origin_id,
            depth=0,
            trigger_step=real.trigger_step,
            status="done",
            actions=real.actions,
            created_at=created_at,
        )

    # Origins no real event has: the unique (rule, contact, origin) lets them sit beside the real run.
    expired = [run(-origin, utcnow() - timedelta(days=100)) for origin in range(1, 6)]
    kept = run(-6, utcnow() - timedelta(days=80))
    async with sessionmaker() as session, session.begin():
        session.add_all([*expired, kept])
    assert len(await rules.runs(rule)) == 7
    gate = app.state.roost.write_gate
    pruner = Dispatcher(sessionmaker, [], gate=gate, run_retention=timedelta(days=90), prune_window=2)
    async with sessionmaker() as session:
        runs_in_table = int(await session.scalar(select(func.count()).select_from(RuleRun)) or 0)
    for _ in range(runs_in_table // (2 * 50) + 2):
        await pruner.prune(windows=50)
    # Older than 90 days: gone. The run of 80 days ago and the real one stay.
    assert {r["run_id"] for r in await rules.runs(rule)} == {recent["run_id"], kept.id}
