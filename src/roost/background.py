"""Everything a worker process runs besides HTTP: the job queue, delivery, the event dispatcher (rules and the
webhook fan-out) and the webhook sender, started and stopped together."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.db import Gate, no_gate
from roost.delivery.runner import DeliveryRunner
from roost.events.dispatcher import Dispatcher
from roost.jobs.runner import Worker
from roost.kit.process_lock import ProcessLock
from roost.kit.waiting import first_of
from roost.media import config as media_config
from roost.rule.engine import RuleEngine
from roost.webhook.fanout import WebhookFanout
from roost.webhook.sender import WebhookSender

log = logging.getLogger("roost.background")


class Loop(Protocol):
    async def run(self) -> None: ...

    def stop(self) -> None: ...


class Background:
    def __init__(
        self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], gate: Gate = no_gate
    ) -> None:
        # Attachments' media are loaded with the process's media configuration (see roost.media.config).
        media_config.configure(media_config.MediaConfig.from_settings(settings))
        self.loops: list[Loop] = [
            Worker(sessionmaker),
            DeliveryRunner.from_settings(settings, sessionmaker, gate=gate),
            # The consumers of events, called in one transaction per batch.
            Dispatcher(
                sessionmaker,
                [RuleEngine(), WebhookFanout()],
                gate=gate,
                retention=timedelta(days=settings.event_retention_days) if settings.event_retention_days else None,
                run_retention=(
                    timedelta(days=settings.rule_run_retention_days) if settings.rule_run_retention_days else None
                ),
            ),
            WebhookSender.from_settings(settings, sessionmaker, gate=gate),
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(loop.run()) for loop in self.loops]

    def stop(self) -> None:
        for loop in self.loops:
            loop.stop()

    async def wait(self) -> None:
        await asyncio.gather(*self._tasks)

    async def run(self) -> None:
        """Run until stop() is called."""
        self.start()
        await self.wait()


# How often a serving process without the background worker checks whether it may take it over.
ELECTION_RETRY = 2.0
LOCK_FILE = ".roost-background.lock"


class ElectedBackground:
    """The background worker of `roost serve`: every serving process runs the API, and one of them,
    the holder of `.roost-background.lock` in the data directory, also runs this.

    The others try for the lock every ELECTION_RETRY seconds, so when the holder ends, however it
    ends, another process takes over within seconds. Meanwhile each runs a delivery helper
    (`DeliveryRunner(helper=True)`), which shares a broadcast's backlog but leaves a stream that the
    holder keeps up with to the holder.

    One full background is enough, and two on one machine cost more than one: each delivery runner
    would claim and commit half-size batches, and each process would poll for jobs, events and
    webhooks. With both of two processes running it, a Bird send took 1.63–1.78 ms of the workers'
    CPU (bench/tx.py); with one, 1.35–1.48.
    """

    def __init__(
        self,
        make: Callable[[], Loop],
        make_helper: Callable[[], Loop],
        lock: ProcessLock,
        *,
        retry: float = ELECTION_RETRY,
    ) -> None:
        self._make = make
        self._make_helper = make_helper
        self.lock = lock
        self._retry = retry
        self.running: Loop | None = None
        self.helping: Loop | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], gate: Gate = no_gate
    ) -> ElectedBackground:
        return cls(
            lambda: Background(settings, sessionmaker, gate),
            lambda: DeliveryRunner.from_settings(settings, sessionmaker, gate=gate, helper=True),
            ProcessLock(settings.data_dir / LOCK_FILE),
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        self._stopping.set()
        for loop in (self.helping, self.running):
            if loop is not None:
                loop.stop()

    async def wait(self) -> None:
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        if not self.lock.try_acquire() and not await self._helping_until_elected():
            return
        try:
            log.info("running the background worker in process %d", os.getpid())
            self.running = self._make()
            if not self._stopping.is_set():
                await self.running.run()
        finally:
            self.lock.release()

    async def _helping_until_elected(self) -> bool:
        """Help until this process holds the lock (True) or is stopped (False)."""
        self.helping = helper = self._make_helper()
        helping = asyncio.create_task(helper.run())
        try:
            while not self.lock.try_acquire():
                await first_of(self._stopping, seconds=self._retry)
                if self._stopping.is_set():
                    return False
            return True
        finally:
            self.helping = None
            helper.stop()
            await helping
