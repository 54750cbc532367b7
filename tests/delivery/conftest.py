from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.mail.sink import Sink

SENDER = {"email": "news@shop.example", "name": "Shop News", "address": "1 Market Street, Springfield"}


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    """A real SMTP server in the test's event loop, recording what it accepts."""
    server = Sink()
    await server.start()
    yield server
    if server.running:
        await server.stop()
