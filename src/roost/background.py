"""Everything a worker process runs besides HTTP: the job queue, delivery, the event dispatcher (rules and the
webhook fan-out) and the webhook sender, started and stopped together."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.db import Gate, no_gate
from roost.delivery.runner import DeliveryRunner
from roost.events.dispatcher import Dispatcher
from roost.jobs.runner import Worker
from roost.media import config as media_config
from roost.rule.engine import RuleEngine
from roost.webhook.fanout import WebhookFanout
from roost.webhook.sender import WebhookSender


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
