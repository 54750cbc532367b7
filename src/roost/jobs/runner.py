"""The worker loop: claim due jobs, run each in its own transaction, retry or bury failures."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.jobs import queue

log = logging.getLogger("roost.worker")


class Worker:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        batch_size: int = 20,
        poll_interval: float = 0.5,
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        self.sessionmaker = sessionmaker
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.lease = lease
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run_once(self) -> int:
        """Claim and run one batch; how many jobs were claimed."""
        async with self.sessionmaker() as session, session.begin():
            jobs = await queue.claim(session, limit=self.batch_size, lease=self.lease)
        for job in jobs:
            await self._run(job)
        return len(jobs)

    async def run(self) -> None:
        log.info("worker started")
        while not self._stopping.is_set():
            try:
                claimed = await self.run_once()
            except Exception:  # a database hiccup must not kill the loop; the next poll retries
                log.exception("claiming jobs failed")
                claimed = 0
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.poll_interval)
        log.info("worker stopped")

    async def _run(self, job: queue.ClaimedJob) -> None:
        fn = queue.registered(job.kind)
        try:
            if fn is None:
                raise LookupError(f"no handler registered for job kind {job.kind!r}")
            async with self.sessionmaker() as session, session.begin():
                await fn(session, job.payload)
                # Finishing in the handler's transaction: its work and "done" land together.
                await queue.finish(session, job.id)
        except Exception:
            error = traceback.format_exc(limit=5)
            log.warning("job %s (%s) failed on attempt %s", job.id, job.kind, job.attempts)
            async with self.sessionmaker() as session, session.begin():
                await queue.fail(session, job, error)
