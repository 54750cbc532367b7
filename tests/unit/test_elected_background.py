"""Of the serving processes sharing a data directory, one runs the background worker at a time and
the others a delivery helper."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from roost.background import ElectedBackground
from roost.kit.process_lock import ProcessLock

RETRY = 0.05


class Recorded:
    """A loop that runs until stopped, and says so."""

    def __init__(self) -> None:
        self.running = False
        self.runs = 0
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        self.running = True
        try:
            await self._stopped.wait()
        finally:
            self.running = False

    def stop(self) -> None:
        self._stopped.set()


class Process:
    """What one serving process makes: its background worker and its helpers, each when it makes it."""

    def __init__(self, path: Path) -> None:
        self.backgrounds: list[Recorded] = []
        self.helpers: list[Recorded] = []
        self.elected = ElectedBackground(
            lambda: self._made(self.backgrounds), lambda: self._made(self.helpers), ProcessLock(path), retry=RETRY
        )

    @staticmethod
    def _made(into: list[Recorded]) -> Recorded:
        into.append(Recorded())
        return into[-1]

    @property
    def background_running(self) -> bool:
        return any(loop.running for loop in self.backgrounds)

    @property
    def helper_running(self) -> bool:
        return any(loop.running for loop in self.helpers)


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_one_runs_the_background_the_others_help_and_one_takes_over_when_it_stops(tmp_path: Path) -> None:
    path = tmp_path / ".roost-background.lock"
    processes = [Process(path) for _ in range(3)]
    for process in processes:
        process.elected.start()
    await _until(lambda: sum(p.background_running for p in processes) == 1)
    await _until(lambda: sum(p.helper_running for p in processes) == 2)
    await asyncio.sleep(10 * RETRY)  # the others keep trying for the lock, and keep failing
    first = next(p for p in processes if p.background_running)
    assert [len(p.backgrounds) for p in processes].count(1) == 1
    assert not first.helpers  # elected at once: no helper made
    assert all(p.helper_running and not p.background_running for p in processes if p is not first)

    first.elected.stop()
    await first.elected.wait()
    assert not first.background_running
    await _until(lambda: sum(p.background_running for p in processes) == 1)
    second = next(p for p in processes if p.background_running)
    assert second is not first
    assert not second.helper_running  # its helper stopped before its background started
    assert second.helpers[0].runs == 1
    assert second.backgrounds[0].runs == 1

    for process in processes:  # the one still waiting stops its helper at once too
        process.elected.stop()
    await asyncio.wait_for(asyncio.gather(*(p.elected.wait() for p in processes)), timeout=5)
    assert not any(p.background_running or p.helper_running for p in processes)
    assert sum(len(p.backgrounds) for p in processes) == 2
    assert ProcessLock(path).try_acquire()  # nobody holds it any more
