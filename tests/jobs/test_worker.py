"""The job queue: enqueue in the caller's transaction, claim, retry with backoff, bury, take over leases."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost import jobs
from roost.jobs import queue
from roost.jobs.runner import Worker
from roost.kit.clock import utcnow
from roost.models import Job, Tag
from tests.helpers import Tenant

KIND_TAG = f"test.create_tag.{uuid.uuid4().hex[:6]}"
KIND_FAIL = f"test.always_fails.{uuid.uuid4().hex[:6]}"


@jobs.handler(KIND_TAG)
async def _create_tag(session: AsyncSession, payload: dict[str, Any]) -> None:
    session.add(Tag(account_id=payload["account_id"], name=payload["name"]))


@jobs.handler(KIND_FAIL)
async def _always_fails(session: AsyncSession, payload: dict[str, Any]) -> None:
    session.add(Tag(account_id=payload["account_id"], name="must never land"))
    raise RuntimeError("relay said no")


async def _job(sessionmaker: async_sessionmaker[AsyncSession], job_id: int) -> Job:
    async with sessionmaker() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def _drain(worker: Worker) -> None:
    while await worker.run_once():
        pass


async def test_a_job_runs_once_and_its_work_commits_with_it(
    sessionmaker: async_sessionmaker[AsyncSession], account: Tenant
) -> None:
    async with sessionmaker() as session, session.begin():
        job = jobs.enqueue(session, KIND_TAG, {"account_id": account.id, "name": "from a job"})
    worker = Worker(sessionmaker)
    await _drain(worker)
    done = await _job(sessionmaker, job.id)
    assert done.state == "done"
    assert done.attempts == 1
    assert done.finished_at is not None
    async with sessionmaker() as session:
        names = list(await session.scalars(select(Tag.name).where(Tag.account_id == account.id)))
    assert names == ["from a job"]


async def test_enqueue_rolls_back_with_the_callers_transaction(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    marker = uuid.uuid4().hex
    async with sessionmaker() as session:
        jobs.enqueue(session, KIND_TAG, {"marker": marker})
        await session.flush()
        await session.rollback()
    async with sessionmaker() as session:
        found = await session.scalar(select(Job.id).where(Job.payload["marker"].as_string() == marker))
    assert found is None


async def test_failures_retry_with_backoff_then_die_with_the_error(
    sessionmaker: async_sessionmaker[AsyncSession], account: Tenant
) -> None:
    async with sessionmaker() as session, session.begin():
        job = jobs.enqueue(session, KIND_FAIL, {"account_id": account.id}, max_attempts=3)
    worker = Worker(sessionmaker)
    for attempt in (1, 2):
        await _drain(worker)
        retried = await _job(sessionmaker, job.id)
        assert retried.state == "queued"
        assert retried.attempts == attempt
        assert "relay said no" in (retried.last_error or "")
        assert retried.run_at > utcnow() + timedelta(seconds=1)  # backoff pushed it out
        async with sessionmaker() as session, session.begin():  # let time pass
            await session.execute(update(Job).where(Job.id == job.id).values(run_at=utcnow()))
    await _drain(worker)
    dead = await _job(sessionmaker, job.id)
    assert dead.state == "dead"
    assert dead.attempts == 3
    async with sessionmaker() as session:
        leaked = await session.scalar(select(Tag.id).where(Tag.account_id == account.id))
    assert leaked is None  # the failed handler's writes never landed


async def test_a_dead_workers_lease_is_taken_over(
    sessionmaker: async_sessionmaker[AsyncSession], account: Tenant
) -> None:
    async with sessionmaker() as session, session.begin():
        job = jobs.enqueue(session, KIND_TAG, {"account_id": account.id, "name": "orphan"})
    # A worker claims it and dies before finishing.
    async with sessionmaker() as session, session.begin():
        claimed = await queue.claim(session, limit=100, lease=timedelta(seconds=60))
    assert job.id in [c.id for c in claimed]
    async with sessionmaker() as session, session.begin():  # while the lease holds, nobody else takes it
        again = await queue.claim(session, limit=100, lease=timedelta(seconds=60))
    assert job.id not in [c.id for c in again]
    async with sessionmaker() as session, session.begin():  # the lease runs out
        await session.execute(update(Job).where(Job.id == job.id).values(locked_until=utcnow() - timedelta(seconds=1)))
    await _drain(Worker(sessionmaker))
    taken_over = await _job(sessionmaker, job.id)
    assert taken_over.state == "done"
    assert taken_over.attempts == 2


async def test_unknown_kinds_fail_visibly(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session, session.begin():
        job = jobs.enqueue(session, "no.such.kind", {}, max_attempts=1)
    await _drain(Worker(sessionmaker))
    dead = await _job(sessionmaker, job.id)
    assert dead.state == "dead"
    assert "no handler registered" in (dead.last_error or "")
