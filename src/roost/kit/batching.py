"""Calls that arrive together run together: one database round trip (or transaction) for many requests.

Under load a process's requests overlap, and each would pay its own statements. A `Batcher` queues
the calls; a single task takes everything waiting (up to `max_batch`) and runs it as one batch,
while the next calls gather behind it. No timer: a quiet process runs a lone call at once, a busy one
makes bigger batches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """Runs `run_batch(items)`, which answers each item in order, for calls that wait at the same time."""

    def __init__(
        self, run_batch: Callable[[list[Item]], Awaitable[Sequence[Result]]], *, max_batch: int, name: str
    ) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._name = name
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def __call__(self, item: Item) -> Result:
        """The item's answer, once its batch has run; what the batch raised, if it failed for this item."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._waiting.append((item, future))
        # A runner of a loop that has gone (a closed event loop, as in tests) runs nothing any more.
        if self._runner is None or self._runner.done() or self._runner.get_loop() is not loop:
            self._runner = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        """Run batches until none waits; a later call starts a new runner."""
        batch: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while self._waiting:
                # Let the calls that are ready to be made join first: one pass of the event loop.
                await asyncio.sleep(0)
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._answer(batch)
        finally:
            # Cancelling futures matters only when the runner itself is cancelled (the process
            # stopping): no caller waits forever. A done future ignores it.
            for _, future in batch:
                future.cancel()
            if self._runner is asyncio.current_task():
                self._runner = None
                for _, future in self._waiting:
                    future.cancel()

    async def _answer(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._run_batch([item for item, _ in batch])
        except Exception as error:
            if len(batch) > 1:
                # One item's trouble must not fail the others: each runs on its own.
                log.warning("%s: a batch of %d failed; running its items one by one", self._name, len(batch))
                for waiting in batch:
                    await self._answer([waiting])
            elif not batch[0][1].done():
                batch[0][1].set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # its caller may have gone: the batch has run for it all the same
                future.set_result(result)
