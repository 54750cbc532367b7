"""How soon a rule reacts: from the API call that applies a tag to the moment the rule's action is visible,
while a large broadcast is sending from the same server.

It seeds an account with `--recipients` contacts, starts `roost serve` with an SMTP sink as its relay,
creates a rule (`tag_applied` "Trigger" -> `apply_tag` "Reacted") and an immediate broadcast to every
contact, and once the broadcast is sending, applies "Trigger" to `--events` contacts through
`POST /v1/contacts/{id}/tags`, `--concurrency` at a time. For each, the clock runs from just before the
request until a read of the database sees "Reacted" on the contact. It prints the percentiles, and how
much of the broadcast went out meanwhile. It prints figures; it is not a test. See bench/README.md.

    python bench/rules.py --db sqlite --recipients 100000 --events 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api import DEFAULT_PG_URL, HOST, Database, free_port, log, postgres_database, seed, server_env, sqlite_database
from api import serving as serving_process
from roost.db import create_engine
from roost.models import ContactTag, Message

TRIGGER, REACTED = "Trigger", "Reacted"
POLL = 0.01  # how often the database is read for reactions: the figures' resolution


@contextlib.contextmanager
def smtp_sink() -> Iterator[str | None]:
    """Postfix's smtp-sink (C, a fraction of a core) as the relay; None (mail captured in the database) without it."""
    binary = shutil.which("smtp-sink") or ("/usr/sbin/smtp-sink" if Path("/usr/sbin/smtp-sink").exists() else None)
    if binary is None:
        log("smtp-sink not found (apt-get install postfix): mail is captured in the database instead")
        yield None
        return
    port = free_port()
    process = subprocess.Popen(
        [binary, "-u", "nobody", f"{HOST}:{port}", "256"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
                break
            time.sleep(0.05)
        yield f"smtp://{HOST}:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True, slots=True)
class Figures:
    reactions: list[float]  # seconds from the request to the reaction being visible
    requests: list[float]  # seconds the request itself took
    sent_before: int
    sent_after: int
    elapsed: float
    finished_early: bool
    quiet_rate: float  # messages per second before the events, with no rule running


async def _sent(engine: AsyncEngine, broadcast_id: int) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).where(Message.broadcast_id == broadcast_id, Message.status == "sent")
        )
        return int(count or 0)


async def _broadcast_status(http: httpx.AsyncClient, broadcast_id: int) -> str:
    response = await http.get(f"/v1/broadcasts/{broadcast_id}")
    response.raise_for_status()
    return str(response.json()["status"])


async def measure(
    base: str,
    token: str,
    url: str,
    contact_ids: Sequence[int],
    *,
    events: int,
    concurrency: int,
    warm_sent: int,
    quiet: float,
) -> Figures:
    engine = create_engine(url, pool_size=2)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) as http:
        rule = await http.post(
            "/v1/rules",
            json={
                "name": "React",
                "active": True,
                "triggers": [{"trigger": "tag_applied", "params": {"tag": TRIGGER}}],
                "actions": [{"action": "apply_tag", "params": {"tag": REACTED}}],
            },
        )
        rule.raise_for_status()
        tags = (await http.get("/v1/tags", params={"keyword": REACTED})).json()["data"]
        reacted_id = next(tag["tag_id"] for tag in tags if tag["name"] == REACTED)
        broadcast = await http.post(
            "/v1/broadcasts",
            json={
                "name": "Big send",
                "email": {
                    "subject": "News for %contact.first_name|you%",
                    "body": '<p>Hello %contact.first_name%,</p><p><a href="https://shop.example/sale">Sale</a></p>',
                },
                "sender": {"email": "news@shop.example", "name": "Shop", "address": "1 Market Street"},
                "immediate": True,
            },
        )
        broadcast.raise_for_status()
        broadcast_id = broadcast.json()["broadcast_id"]
        log(f"broadcast {broadcast_id} created; waiting until {warm_sent:,} messages went out")
        while True:
            if await _sent(engine, broadcast_id) >= warm_sent:
                break
            await asyncio.sleep(0.2)

        quiet_from = await _sent(engine, broadcast_id)
        await asyncio.sleep(quiet)
        quiet_rate = (await _sent(engine, broadcast_id) - quiet_from) / quiet if quiet else 0.0

        sample = random.Random(7).sample(list(contact_ids), events)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for contact_id in sample:
            queue.put_nowait(contact_id)
        waiting: dict[int, asyncio.Future[float]] = {}
        reactions: list[float] = []
        requests: list[float] = []
        done = asyncio.Event()

        async def watch() -> None:
            """One read for every contact still waiting, every POLL seconds."""
            while not done.is_set():
                if waiting:
                    async with engine.connect() as connection:
                        seen = set(
                            await connection.scalars(
                                select(ContactTag.contact_id).where(
                                    ContactTag.tag_id == reacted_id, ContactTag.contact_id.in_(list(waiting))
                                )
                            )
                        )
                    now = time.perf_counter()
                    for contact_id in seen:
                        future = waiting.pop(contact_id, None)
                        if future is not None and not future.done():
                            future.set_result(now)
                await asyncio.sleep(POLL)

        async def client() -> None:
            loop = asyncio.get_running_loop()
            while not queue.empty():
                contact_id = queue.get_nowait()
                seen: asyncio.Future[float] = loop.create_future()
                started = time.perf_counter()
                waiting[contact_id] = seen
                response = await http.post(f"/v1/contacts/{contact_id}/tags", json={"tags": [TRIGGER]})
                requests.append(time.perf_counter() - started)
                response.raise_for_status()
                reactions.append(await asyncio.wait_for(seen, timeout=120) - started)

        sent_before = await _sent(engine, broadcast_id)
        started = time.perf_counter()
        watcher = asyncio.create_task(watch())
        try:
            await asyncio.gather(*(client() for _ in range(concurrency)))
        finally:
            done.set()
            await watcher
        elapsed = time.perf_counter() - started
        sent_after = await _sent(engine, broadcast_id)
        finished_early = await _broadcast_status(http, broadcast_id) == "sent"
    await engine.dispose()
    return Figures(reactions, requests, sent_before, sent_after, elapsed, finished_early, quiet_rate)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(database: Database, args: argparse.Namespace, figures: Figures, relay: str | None) -> str:
    ms = 1000.0
    sent = figures.sent_after - figures.sent_before
    lines = [
        f"{database}, roost serve --workers {args.workers}, {args.recipients:,} recipients, "
        f"{len(figures.reactions):,} events, {args.concurrency} at a time; relay: {relay or 'captured in the db'}",
        "",
        f"{'':<34}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}",
    ]
    for name, values in (
        ("tag applied -> rule's tag visible", figures.reactions),
        ("the API call alone", figures.requests),
    ):
        row = [percentile(values, f) * ms for f in (0.5, 0.9, 0.99, 1.0)]
        lines.append(f"{name:<34}" + "".join(f"{value:>7.0f}ms" for value in row))
    lines += [
        f"{'mean reaction':<34}{statistics.fmean(figures.reactions) * ms:>7.0f}ms",
        "",
        f"broadcast meanwhile: {sent:,} messages sent in {figures.elapsed:.1f} s ({sent / figures.elapsed:,.0f}/s), "
        f"{figures.sent_after:,} of {args.recipients:,} in all",
    ]
    if args.quiet:
        lines.append(f"broadcast alone, the {args.quiet:.0f} s before the events: {figures.quiet_rate:,.0f}/s")
    if figures.finished_early:
        lines.append("note: the broadcast finished before the last event; later events ran without it")
    return "\n".join(lines)


def bench(database: Database, args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory(prefix="roost-bench-rules-") as workdir:
        data_dir = Path(workdir)
        databases = sqlite_database(data_dir) if database == "sqlite" else postgres_database(args.pg_url)
        with databases as url, smtp_sink() as relay:
            seeded = seed(database, url, args.recipients, data_dir)
            env = server_env(url, data_dir)
            if relay:
                env["ROOST_SMTP_URL"] = relay
            command = [
                sys.executable, "-m", "roost", "serve", "--host", HOST, "--port", "{port}",
                "--workers", str(args.workers), "--no-migrate",
            ]  # fmt: skip
            with serving_process(command, env, "/healthz", data_dir / "serve.log") as base:
                contact_ids = range(seeded.low_id, seeded.high_id + 1)
                figures = asyncio.run(
                    measure(
                        base,
                        seeded.token,
                        url,
                        contact_ids,
                        events=min(args.events, len(contact_ids)),
                        concurrency=args.concurrency,
                        warm_sent=min(args.warm, args.recipients // 10),
                        quiet=args.quiet,
                    )
                )
            return report(database, args, figures, relay)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--recipients", type=int, default=100_000, help="contacts seeded, all broadcast recipients")
    parser.add_argument("--events", type=int, default=1000, help="tags applied, each one event")
    parser.add_argument("--concurrency", type=int, default=4, help="tag requests in flight at once")
    parser.add_argument("--workers", type=int, default=1, help="roost serve --workers")
    parser.add_argument("--warm", type=int, default=2000, help="messages sent before the events start")
    parser.add_argument("--quiet", type=float, default=10.0, help="seconds of sending measured before the events")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    databases: list[Database] = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    reports = [bench(database, args) for database in databases]
    print("\n\n".join(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
