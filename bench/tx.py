"""Transactional email through the Bird Channels API: accepted messages per second, API latency, and
the delay from acceptance to SMTP delivery.

Against a throwaway PostgreSQL database (or a SQLite file), this starts Postfix's `smtp-sink` and
`roost serve --workers N` relaying to it, creates an email channel, then has wrk (bench/load.lua) post messages
(a ~2 KB html body, each to a new address) with a fixed number of keep-alive connections. When
the load stops it waits until every accepted message has been delivered: the delay of a message is
the moment the sink answered 250 for it (`sent_at`, recorded just after) minus its acceptance.
The rate limit is off. It prints figures; it is not a test. See bench/README.md.

    python bench/tx.py --workers 2 --connections 32 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
from sqlalchemy import func, select, text

from api import (
    DEFAULT_PG_URL,
    HOST,
    free_port,
    log,
    postgres_database,
    roost_cli,
    roost_command,
    run_wrk,
    server_env,
    serving,
)
from roost.db import create_engine
from roost.models import ChannelMessage, Message


@contextlib.contextmanager
def smtp_sink() -> Iterator[int]:
    """Postfix's smtp-sink on a free port: it answers every message 250 and keeps nothing."""
    found = shutil.which("smtp-sink") or shutil.which("smtp-sink", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise SystemExit("smtp-sink not found: it comes with Postfix (apt-get install postfix), see bench/README.md")
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    process = subprocess.Popen([found, *user, f"{HOST}:{port}", "1024"])
    try:
        time.sleep(0.3)
        yield port
    finally:
        process.terminate()
        process.wait()


async def analyze(url: str) -> None:
    """Give PostgreSQL statistics of the warm-up's tables, as autovacuum would within its first minute.

    Without them the planner takes the brand-new tables for empty and reads every contact of the
    account to find an address, a cost that grows with the run and that no running server pays.
    """
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


async def wait_delivered(url: str, patience: float) -> tuple[int, float]:
    """Wait until no channel message is waiting to be sent; how many were accepted, and how long it took."""
    engine = create_engine(url, pool_size=1)
    started = time.monotonic()
    try:
        while True:
            async with engine.connect() as connection:
                waiting = await connection.scalar(
                    select(func.count()).select_from(ChannelMessage).where(ChannelMessage.status == "accepted")
                )
                total = await connection.scalar(select(func.count()).select_from(ChannelMessage))
            if not waiting or time.monotonic() - started > patience:
                return int(total or 0), time.monotonic() - started
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()


async def delays(url: str, run: str) -> tuple[list[float], int]:
    """Seconds from acceptance to the sink's 250 of each sent receiver's mail of the measured run, and how
    many there were in all.

    `sent_at` is written when the outcome is recorded, a few milliseconds after the 250 at most,
    so these delays err on the long side.
    """
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(Message.sent_at, ChannelMessage.created_at)
                    .join(ChannelMessage, ChannelMessage.id == Message.channel_message_id)
                    .where(ChannelMessage.reference.like(f"{run}-%"))
                )
            ).all()
    finally:
        await engine.dispose()
    return [(sent - accepted).total_seconds() for sent, accepted in rows if sent is not None], len(rows)


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="a server where a throwaway database is created")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of `roost serve`")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--smtp-concurrency", type=int, default=32, help="ROOST_SMTP_CONCURRENCY: SMTP connections per process"
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of measured load")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--html-bytes", type=int, default=2048)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (apt-get install wrk)")

    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="roost-tx-")))
        if args.db == "postgres":
            url = stack.enter_context(postgres_database(args.pg_url))
        else:
            url = f"sqlite:///{workdir / 'roost-tx.db'}"
        sink_port = stack.enter_context(smtp_sink())
        env = {
            **server_env(url, workdir),
            "ROOST_SMTP_URL": f"smtp://{HOST}:{sink_port}",
            "ROOST_SMTP_CONCURRENCY": str(args.smtp_concurrency),
        }
        roost_cli(env, "migrate")
        owner = ("--email", "owner@tx.example.com", "--password", "bench-password")
        account = json.loads(roost_cli(env, "account", "create", *owner, "--json"))
        token = json.loads(roost_cli(env, "token", "create", "--account", str(account["account_id"]), "--json"))[
            "token"
        ]
        base = stack.enter_context(serving(roost_command(args.workers), env, "/healthz", workdir / "serve.log"))
        workspace = f"/workspaces/{account['workspace_id']}"
        channel = httpx.post(
            f"{base}{workspace}/channels",
            json={"name": "Receipts", "sender": {"email": "receipts@tx.example.com", "displayName": "Shop"}},
            headers={"Authorization": f"AccessKey {token}"},
        ).json()
        path = f"{workspace}/channels/{channel['id']}/messages"
        log(f"[{args.db}] warming up {args.warmup:.0f} s")
        run_wrk(
            base + path, ["message", token, path, str(args.html_bytes), "0", "warm"], args.connections, 2, args.warmup
        )
        if args.db == "postgres":
            asyncio.run(analyze(url))
        log(f"[{args.db}] {args.connections} connections for {args.duration:.0f} s")
        load = run_wrk(
            base + path, ["message", token, path, str(args.html_bytes), "0", "run"], args.connections, 2, args.duration
        )
        accepted, drained = asyncio.run(wait_delivered(url, args.drain_timeout))
        waits, measured = asyncio.run(delays(url, "run"))
        load_average = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print()
    print(f"Bird API send, {args.db}, roost serve --workers {args.workers}, {args.connections} connections, "
          f"{args.smtp_concurrency} SMTP connections a process, {args.duration:.0f} s, {args.html_bytes:,} B html; "
          f"load average {load_average}")  # fmt: skip
    print(f"  accepted          {load.requests_per_second:8,.0f} msg/s   (errors: {load.errors})")
    print(f"  API latency       p50 {load.p50_ms:6.1f} ms   p99 {load.p99_ms:6.1f} ms")
    if waits:
        p50, p99, mean = (
            1000 * value for value in (percentile(waits, 0.5), percentile(waits, 0.99), statistics.fmean(waits))
        )
        print(f"  to SMTP delivery  p50 {p50:6.0f} ms   p99 {p99:6.0f} ms   mean {mean:6.0f} ms")
        print(f"  delivered         {len(waits):,} of {measured:,} measured messages; the last {drained:.1f} s")
        print("                    after the load stopped")
    print(f"  messages in all   {accepted:,} (warm-up included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
