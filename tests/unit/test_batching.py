"""Batcher: calls that wait together run as one batch, and each caller gets its own answer."""

from __future__ import annotations

import asyncio

import pytest

from roost.kit.batching import Batcher


class Doubler:
    """Doubles numbers a batch at a time, refusing a batch that holds 13; records the batches it ran."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def __call__(self, numbers: list[int]) -> list[int]:
        self.batches.append(numbers)
        await asyncio.sleep(0.01)  # a round trip, during which more calls arrive
        if 13 in numbers:
            raise ValueError("unlucky")
        return [2 * number for number in numbers]


async def test_overlapping_calls_share_batches_and_get_their_own_answers() -> None:
    doubler = Doubler()
    double = Batcher(doubler, max_batch=50, name="doubler")
    numbers = range(100, 220)
    assert await asyncio.gather(*(double(number) for number in numbers)) == [2 * n for n in numbers]
    assert sorted(n for batch in doubler.batches for n in batch) == list(numbers)
    assert max(len(batch) for batch in doubler.batches) == 50
    assert len(doubler.batches) <= 4


async def test_a_lone_call_runs_at_once() -> None:
    doubler = Doubler()
    double = Batcher(doubler, max_batch=50, name="doubler")
    assert await asyncio.wait_for(double(4), timeout=1) == 8
    assert await asyncio.wait_for(double(5), timeout=1) == 10
    assert doubler.batches == [[4], [5]]


async def test_a_failing_batch_fails_only_the_call_that_caused_it() -> None:
    doubler = Doubler()
    double = Batcher(doubler, max_batch=50, name="doubler")
    results = await asyncio.gather(*(double(number) for number in (11, 12, 13, 14)), return_exceptions=True)
    assert results[:2] == [22, 24]
    assert isinstance(results[2], ValueError)
    assert results[3] == 28


async def test_a_caller_that_gives_up_does_not_stop_the_others() -> None:
    doubler = Doubler()
    double = Batcher(doubler, max_batch=50, name="doubler")
    impatient = asyncio.ensure_future(double(1))
    patient = asyncio.ensure_future(double(2))
    await asyncio.sleep(0)
    impatient.cancel()
    assert await patient == 4
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert await double(3) == 6
