"""Enqueue, claim, finish. Enqueue is an insert in the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit.clock import utcnow
from roost.models import Job

JobHandler = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]
_HANDLERS: dict[str, JobHandler] = {}


def handler(kind: str) -> Callable[[JobHandler], JobHandler]:
    """Register the coroutine that runs jobs of `kind`."""

    def register(fn: JobHandler) -> JobHandler:
        _HANDLERS[kind] = fn
        return fn

    return register


def registered(kind: str) -> JobHandler | None:
    return _HANDLERS.get(kind)


def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    max_attempts: int = 10,
) -> Job:
    """Add a job row; it exists only if the caller's transaction commits."""
    job = Job(kind=kind, payload=payload or {}, run_at=run_at or utcnow(), max_attempts=max_attempts)
    session.add(job)
    return job


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


def backoff(attempts: int) -> timedelta:
    """Exponential backoff: 2 s, 4 s, 8 s … capped at one hour."""
    return timedelta(seconds=min(2**attempts, 3600))


async def claim(session: AsyncSession, *, limit: int, lease: timedelta) -> list[ClaimedJob]:
    """Take up to `limit` due jobs, including running ones whose lease ran out (a killed worker's).

    PostgreSQL: FOR UPDATE SKIP LOCKED lets many workers claim side by side. SQLite: the single
    UPDATE … RETURNING is atomic under the database write lock.
    """
    now = utcnow()
    # The one interpolation below is this constant locking clause; every value is a bind.
    skip_locked = " FOR UPDATE SKIP LOCKED" if session.get_bind().dialect.name == "postgresql" else ""
    rows = await session.execute(
        text(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_until = :lease_end "  # noqa: S608
            "WHERE id IN (SELECT id FROM jobs "
            "WHERE (state = 'queued' AND run_at <= :now) OR (state = 'running' AND locked_until < :now) "
            f"ORDER BY run_at, id LIMIT :limit{skip_locked}) "
            "RETURNING id, kind, payload, attempts, max_attempts"
        ).bindparams(now=_bind_time(session, now), lease_end=_bind_time(session, now + lease), limit=limit),
    )
    claimed = [
        ClaimedJob(id=r.id, kind=r.kind, payload=_as_dict(r.payload), attempts=r.attempts, max_attempts=r.max_attempts)
        for r in rows
    ]
    return sorted(claimed, key=lambda job: job.id)


async def finish(session: AsyncSession, job_id: int) -> None:
    await session.execute(
        text("UPDATE jobs SET state = 'done', finished_at = :now, locked_until = NULL WHERE id = :id").bindparams(
            now=_bind_time(session, utcnow()), id=job_id
        )
    )


async def fail(session: AsyncSession, job: ClaimedJob, error: str) -> None:
    """Retry later with backoff, or end in the dead state with the last error."""
    now = utcnow()
    dead = job.attempts >= job.max_attempts
    await session.execute(
        text(
            "UPDATE jobs SET state = :state, run_at = :run_at, locked_until = NULL, last_error = :error, "
            "finished_at = :finished WHERE id = :id"
        ).bindparams(
            state="dead" if dead else "queued",
            run_at=_bind_time(session, now + backoff(job.attempts)),
            error=error[:4000],
            finished=_bind_time(session, now) if dead else None,
            id=job.id,
        )
    )


def _bind_time(session: AsyncSession, value: datetime) -> datetime:
    """Raw SQL bypasses UTCDateTime, so apply its storage rule here."""
    return value.replace(tzinfo=None) if session.get_bind().dialect.name == "sqlite" else value


def _as_dict(value: Any) -> dict[str, Any]:
    # Raw SQL skips the column type: SQLite and asyncpg hand JSON back as text.
    return dict(json.loads(value) if isinstance(value, str) else value)
