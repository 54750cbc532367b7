"""Nothing accepted is lost: senders killed mid-send, a relay that goes away and comes back."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.delivery.runner import DeliveryRunner, recording_sessions
from roost.kit.clock import utcnow
from roost.mail.smtp import SmtpTransport
from roost.models import Contact, Message
from tests.delivery.conftest import SENDER
from tests.helpers import Api, eventually, running
from tests.mail.sink import Sink


async def _seed_contacts(sessionmaker: async_sessionmaker[AsyncSession], account_id: int, count: int) -> set[str]:
    """Many active contacts at once (the API makes them one request at a time)."""
    domain = f"{uuid.uuid4().hex[:8]}.example"
    now = utcnow()
    addresses = [f"reader{n}@{domain}" for n in range(count)]
    rows = [
        {
            "account_id": account_id,
            "email": address,
            "first_name": f"Reader{n}",
            "fields": {},
            "status": "active",
            "subscribed_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for n, address in enumerate(addresses)
    ]
    async with sessionmaker() as session, session.begin():
        await session.execute(insert(Contact), rows)
    return set(addresses)


async def _send_now(api: Api) -> int:
    body = {
        "name": "Autumn letter",
        "email": {
            "subject": "News for %contact.first_name%",
            "body": "<p>Hi %contact.first_name%, <a href='https://shop.example/a'>new</a>.</p>",
        },
        "sender": SENDER,
        "immediate": True,
    }
    return int((await api.created("/broadcasts", body))["broadcast_id"])


async def _statuses(sessionmaker: async_sessionmaker[AsyncSession], broadcast_id: int) -> dict[str, int]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(Message.status, func.count()).where(Message.broadcast_id == broadcast_id).group_by(Message.status)
        )
        return {status: count for status, count in rows.all()}


def _received_by(sink: Sink, addresses: set[str]) -> Counter[str]:
    return Counter(rcpt for item in sink.received for rcpt in item.recipients if rcpt in addresses)


def _delivered(sink: Sink, addresses: set[str], count: int) -> Callable[[], Awaitable[bool]]:
    """A check: the sink has taken at least `count` messages for these addresses."""

    async def check() -> bool:
        return sum(_received_by(sink, addresses).values()) >= count

    return check


def _all_sent(
    sessionmaker: async_sessionmaker[AsyncSession], broadcast_id: int, count: int
) -> Callable[[], Awaitable[bool]]:
    """A check: the broadcast's `count` messages are all sent (none left waiting, none failed)."""

    async def check() -> bool:
        return await _statuses(sessionmaker, broadcast_id) == {"sent": count}

    return check


async def test_killing_the_sender_mid_send_loses_nothing_and_repeats_at_most_one_message_per_connection(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink, tmp_path: Path
) -> None:
    addresses = await _seed_contacts(sessionmaker, api.account.id, 5000)
    broadcast_id = await _send_now(api)
    environment = {
        **os.environ,
        "ROOST_DATABASE_URL": settings.effective_database_url,
        "ROOST_DATA_DIR": str(settings.data_dir),
        "ROOST_SECRET_KEY": settings.effective_secret_key,
        "ROOST_BASE_URL": settings.base_url,
        "ROOST_SMTP_URL": sink.url,
        "ROOST_SMTP_CONCURRENCY": "4",
        "ROOST_DELIVERY_LEASE": "2",  # a killed sender's messages are taken over after two seconds
    }
    roost = str(Path(sys.executable).with_name("roost"))
    log = (tmp_path / "worker.log").open("wb")

    async def start_worker() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(roost, "worker", env=environment, stdout=log, stderr=log)

    open_at_kills = 0
    worker = await start_worker()
    try:
        for kill in range(1, 4):
            await eventually(_delivered(sink, addresses, kill * 1000), within=120)
            open_at_kills += sink.open_connections
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
            worker = await start_worker()
        await eventually(_all_sent(sessionmaker, broadcast_id, 5000), within=180)
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), timeout=30) == 0
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
        log.close()

    received = _received_by(sink, addresses)
    assert set(received) == addresses, "every recipient got the mail"
    duplicates = sum(received.values()) - len(received)
    assert 0 < open_at_kills <= 3 * 4
    assert duplicates <= open_at_kills, (duplicates, open_at_kills)
    assert (await api.get(f"/broadcasts/{broadcast_id}")).json()["stats"]["sent"] == 5000


async def test_a_relay_that_goes_down_mid_send_delays_mail_but_loses_and_fails_none(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink
) -> None:
    addresses = await _seed_contacts(sessionmaker, api.account.id, 600)
    broadcast_id = await _send_now(api)
    runner = DeliveryRunner.from_settings(
        settings.model_copy(update={"smtp_url": sink.url, "smtp_concurrency": 4}), sessionmaker
    )
    async with running(runner):
        await eventually(_delivered(sink, addresses, 150), within=60)
        await sink.stop()  # every connection dropped, new ones refused
        await asyncio.sleep(2)
        await sink.start()  # back on the same port

        await eventually(_all_sent(sessionmaker, broadcast_id, 600), within=60)

    assert await _statuses(sessionmaker, broadcast_id) == {"sent": 600}  # none failed, none left waiting
    received = _received_by(sink, addresses)
    assert set(received) == addresses
    assert sum(received.values()) - len(received) <= 4  # at most the messages in flight when it went down


async def test_a_sender_slower_than_its_lease_keeps_its_messages_and_nothing_goes_twice(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink
) -> None:
    addresses = await _seed_contacts(sessionmaker, api.account.id, 8)
    broadcast_id = await _send_now(api)
    sink.data_delay = 0.4  # one connection takes 3.2 s for the batch: well past a one-second lease
    slow = settings.model_copy(update={"smtp_url": sink.url, "smtp_concurrency": 1, "delivery_lease": 1.0})
    first, second = (DeliveryRunner.from_settings(slow, sessionmaker) for _ in range(2))
    async with running(first, second):
        await eventually(_all_sent(sessionmaker, broadcast_id, 8), within=60)
    assert _received_by(sink, addresses) == Counter(dict.fromkeys(addresses, 1))


async def test_mail_to_a_domain_is_paced_at_its_configured_rate(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink
) -> None:
    addresses = await _seed_contacts(sessionmaker, api.account.id, 30)
    domain = next(iter(addresses)).rpartition("@")[2]
    await _send_now(api)
    paced = settings.model_copy(update={"smtp_url": sink.url, "smtp_domain_rates": f"{domain}=10/second"})
    runner = DeliveryRunner.from_settings(paced, sessionmaker)
    # Every connection open before the first paced message: a message waits for its turn and then
    # for a connection, and opening one (a quarter of a second on a loaded machine) would delay the
    # first window's arrivals and shorten the gaps after them.
    warm_up = b"Subject: warm-up\r\n\r\nwarm-up\r\n"
    transport = runner.sender.transport
    await asyncio.gather(
        *(
            transport.send("warm@example.org", ["warm@elsewhere.example"], warm_up)
            for _ in range(paced.smtp_concurrency)
        )
    )
    async with running(runner):
        await eventually(_delivered(sink, addresses, 30), within=30)
    times = sorted(item.at for item in sink.received if item.recipients[0] in addresses)
    # No second holds more than ten of them, so thirty take at least two seconds.
    gaps = [later - earlier for earlier, later in zip(times, times[10:], strict=False)]
    assert min(gaps) >= 0.75, gaps  # the window holds at the limiter; arrival adds SMTP jitter
    assert times[-1] - times[0] >= 2.0


async def test_the_overall_rate_is_shared_by_every_sender_through_redis(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink
) -> None:
    addresses = await _seed_contacts(sessionmaker, api.account.id, 30)
    await _send_now(api)
    shared = settings.model_copy(
        update={
            "smtp_url": sink.url,
            "smtp_rate": "10/second",
            "redis_url": "redis://127.0.0.1:6379/0",
            "delivery_lease": 30.0,
        }
    )
    runners = [DeliveryRunner.from_settings(shared, sessionmaker) for _ in range(2)]
    for runner in runners:
        runner.batch_size = 5  # both get a share of the thirty
    pacer = runners[0].sender.pacer
    assert pacer is not None
    await pacer.reset()  # windows left by an earlier run of this test
    async with running(*runners):
        await eventually(_delivered(sink, addresses, 30), within=30)
    times = sorted(item.at for item in sink.received if item.recipients[0] in addresses)
    assert times[-1] - times[0] >= 1.5  # two senders, one window of ten a second between them


async def test_only_the_recorders_commits_skip_waiting_for_the_disk_flush(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with recording_sessions(sessionmaker) as recording:
        async with sessionmaker() as session:
            if session.get_bind().dialect.name != "postgresql":
                assert recording is sessionmaker  # SQLite: nothing to relax
                return
            assert await session.scalar(text("SHOW synchronous_commit")) == "on"
        async with recording() as session, session.begin():
            assert await session.scalar(text("SHOW synchronous_commit")) == "off"
    async with sessionmaker() as session:  # the API's connections keep the server's setting
        assert await session.scalar(text("SHOW synchronous_commit")) == "on"


async def test_a_helper_shares_a_backlog_and_leaves_starting_broadcasts_to_the_full_runner(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink
) -> None:
    """The other processes of `roost serve` run a helper: it sends, but only the elected one's full
    runner starts broadcasts (and sequences); a broadcast's backlog is then sent by both."""
    addresses = await _seed_contacts(sessionmaker, api.account.id, 80)
    broadcast_id = await _send_now(api)
    sink.data_delay = 0.02  # slow enough for a backlog to last while both take from it
    relay = settings.model_copy(update={"smtp_url": sink.url, "smtp_concurrency": 2})
    helper = DeliveryRunner.from_settings(relay, sessionmaker, helper=True)
    full = DeliveryRunner.from_settings(relay, sessionmaker)
    for runner in (helper, full):
        runner.batch_size = 10
    async with running(helper):
        await asyncio.sleep(1.5)  # three of the helper's polls
        assert await _statuses(sessionmaker, broadcast_id) == {}  # nothing queued: not the helper's work
        async with running(full):
            await eventually(_all_sent(sessionmaker, broadcast_id, 80), within=60)
    assert _received_by(sink, addresses) == Counter(dict.fromkeys(addresses, 1))
    transports = [runner.sender.transport for runner in (helper, full)]
    assert all(isinstance(transport, SmtpTransport) and transport.connections_opened for transport in transports)
