"""End-to-end delivery throughput: one broadcast to N contacts, sent by `roost worker` into a local SMTP sink.

Seeds a throwaway PostgreSQL database with N active contacts, starts K `roost worker`
processes, schedules a broadcast to every contact and times it until every message row is
`sent`: recipients resolved, each message composed and rendered (tracked links, optionally
signed with RSA-2048 DKIM), handed over SMTP to Postfix's `smtp-sink`, its status recorded.
Prints messages per second, the workers' CPU and peak RSS and the CPU of the PostgreSQL
backends, beside the ceiling of the SMTP leg measured in the same run: Postfix's
`smtp-source` sending the same rendered message into the same sink. Prints figures; asserts
nothing. See bench/README.md.

    python bench/send.py --contacts 100000 --workers 2 --dkim
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from api import DEFAULT_PG_URL, HOST, free_port, log, postgres_database, roost_cli, server_env
from roost.broadcast import service as broadcast_service
from roost.config import Settings
from roost.db import create_engine, create_sessionmaker
from roost.delivery.addressing import Addressing
from roost.field import service as field_service
from roost.mail import DkimKeyring, Recipient, Sender, compile_email

BASE_URL = "https://roost.bench.example.com"
BOUNCE_DOMAIN = "roost.bench.example.com"  # what Roost derives from BASE_URL
SENDER = Sender(
    name="Northwind Outdoor",
    email="news@northwind.example.com",
    address="48 Harbour Road\nPortsmouth PO1 3AB\nUnited Kingdom",
    company="Northwind Outdoor Ltd",
)
SENDER_DOMAIN = "northwind.example.com"
SUBJECT = "%contact.first_name|Hello%, our autumn picks for %contact.city|you%"
# About 2 KB of HTML: a greeting with merge tags, three stories with a link each, a call to action.
HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Northwind autumn letter</title>
<style>
  body { margin: 0; font-family: Helvetica, Arial, sans-serif; color: #1f2937; }
  h1 { font-size: 24px; } p { font-size: 16px; line-height: 24px; }
  .button { display: inline-block; padding: 10px 18px; background: #2563eb; color: #ffffff; }
</style></head>
<body>
<h1>Hi %contact.first_name|there%,</h1>
<p>The evenings are drawing in around %contact.city|your town%, and the trails are at their best. Here is
what the Northwind team has been testing this month, picked for %contact.email%.</p>
<h2>A jacket that packs into its own pocket</h2>
<p>Our lightest waterproof yet weighs 190 g and survived a week of Atlantic squalls on the coast path.
<a href="https://northwind.example.com/jackets/featherlite?utm_source=letter">See the Featherlite</a></p>
<h2>Three day hikes within an hour of the city</h2>
<p>Ridge walks, a river gorge and a forest loop, each with a map, the bus times and a pub at the end.
<a href="https://northwind.example.com/guides/day-hikes?utm_source=letter">Read the guide</a></p>
<h2>Repair, don't replace</h2>
<p>Bring a torn tent or a tired zip to any of our shops: the repair bench fixes most things while you wait,
and the first repair is on us for members.
<a href="https://northwind.example.com/repairs?utm_source=letter">Find a repair bench</a></p>
<p><a class="button" href="https://northwind.example.com/autumn?utm_source=letter&amp;c=%contact.email%">Shop the
autumn collection</a></p>
<p>See you out there,<br>%sender.name%</p>
</body></html>"""
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Linus", "", "Zoë")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "")
CITIES = ("Paris", "London", "", "Köln", "Oslo", "Lisbon", "Kraków", "Leeds", "Porto")
DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com", "inbox.example.net")
COPY_BATCH = 50_000
POLL_INTERVAL = 0.2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PG_SERVER_DEFAULT = DEFAULT_PG_URL


# Processes and /proc -----------------------------------------------------------------------


def cpu_times(pid: int) -> tuple[float, float] | None:
    """User and system CPU seconds of a live process, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS  # utime, stime: fields 14 and 15


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process, or None when it is gone."""
    times = cpu_times(pid)
    return sum(times) if times is not None else None


def memory_kb(pid: int, key: str) -> int | None:
    """A line of /proc/<pid>/status in kB (VmHWM: peak resident set, VmRSS: current)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{key}:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else None


def machine_busy() -> tuple[float, float]:
    """Seconds of CPU time the machine spent busy and in total (all cores), since boot."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM (a worker finishes its pass and closes its connections), SIGKILL if it takes too long."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_port(process: subprocess.Popen[bytes], port: int, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} is not listening on {HOST}:{port} after {timeout:.0f} s")


# The SMTP sink and the ceiling ---------------------------------------------------------------


def postfix_tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise SystemExit(f"{name} not found: it comes with Postfix (apt-get install postfix), see bench/README.md")
    return found


@dataclass
class Sink:
    """smtp-sink on a free loopback port: accepts every message and throws it away, counting them."""

    port: int
    process: subprocess.Popen[bytes]
    counters: Path

    def received(self) -> int | None:
        """Messages the sink took so far, from its -c counters (`… mesg=N`, rewritten in place)."""
        found = re.findall(rb"mesg=(\d+)", self.counters.read_bytes())
        return int(found[-1]) if found else None


@contextlib.contextmanager
def smtp_sink(workdir: Path) -> Iterator[Sink]:
    port = free_port()
    counters = workdir / "smtp-sink.out"
    # -u: smtp-sink refuses to run as root without a user to switch to once it listens.
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    command = [postfix_tool("smtp-sink"), "-c", *user, f"{HOST}:{port}", "1000"]
    with counters.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(process, port, "smtp-sink")
        yield Sink(port, process, counters)
    finally:
        stop(process, timeout=5)


@dataclass(frozen=True)
class Ceiling:
    messages: int
    sessions: int
    seconds: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def measure_ceiling(sink: Sink, message: bytes, messages: int, sessions: int, workdir: Path) -> Ceiling:
    """smtp-source sending `message` (its exact bytes) over `sessions` reused connections into the sink."""
    path = workdir / "message.eml"
    # -F sends the file line by line, ending each line with CRLF and dot-stuffing it.
    path.write_bytes(message.replace(b"\r\n", b"\n"))
    command = [
        postfix_tool("smtp-source"), "-s", str(sessions), "-d", "-m", str(messages), "-F", str(path),
        "-f", "bounces@roost.bench.example.com", "-t", "reader@example.com", f"{HOST}:{sink.port}",
    ]  # fmt: skip
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    after = os.times()
    if done.returncode != 0:
        raise RuntimeError(f"smtp-source failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return Ceiling(messages, sessions, seconds, cpu)


def sample_message(dkim_directory: Path | None, secret: str, fields: Sequence[str]) -> bytes:
    """The broadcast rendered for one typical contact, as a worker renders it (tracked, maybe signed)."""
    compiled = compile_email(
        subject=SUBJECT,
        html=HTML,
        sender=SENDER,
        message_id_domain=BOUNCE_DOMAIN,
        bounce_domain=BOUNCE_DOMAIN,
        dkim=DkimKeyring(dkim_directory) if dkim_directory is not None else None,
        contact_fields=tuple(sorted(fields)),
    )
    addressing = Addressing.from_settings(Settings(base_url=BASE_URL, secret_key=secret))
    message_id = 1_234_567
    links = addressing.links(message_id)
    address = "grace.hopper.1234567@mail.example.com"
    recipient = Recipient(
        email=address,
        verp_token=links.token,
        unsubscribe_url=links.unsubscribe_url,
        message_id=f"{message_id}.{secrets.token_hex(6)}",
        name="Grace Hopper",
        fields={"email": address, "first_name": "Grace", "last_name": "Hopper", "city": "Lisbon"},
        open_url=links.open_url,
        click_url=links.click_url,
    )
    return compiled.render(recipient).data


# Seeding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    url: str
    account_id: int
    contacts: int
    fields: list[str]


def plain_url(url: str) -> str:
    """The URL asyncpg takes: no SQLAlchemy driver suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def seed(url: str, contacts: int, env: dict[str, str], dkim: bool) -> Seeded:
    """Schema, account and DKIM key through the CLI, a custom field through its service, contacts by COPY."""
    started = time.perf_counter()
    roost_cli(env, "migrate")
    owner = ("--email", "owner@northwind.example.com", "--password", "bench-password")
    account_id = int(json.loads(roost_cli(env, "account", "create", *owner, "--json"))["account_id"])
    if dkim:
        roost_cli(env, "dkim", "generate", SENDER_DOMAIN, "--json")
    fields = asyncio.run(_seed_rows(url, account_id, contacts))
    log(f"seeded {contacts:,} contacts in {time.perf_counter() - started:.1f} s")
    return Seeded(url, account_id, contacts, fields)


def _contact_rows(account_id: int, start: int, stop: int) -> list[tuple[object, ...]]:
    rng = random.Random(start)
    now = datetime.now(UTC)
    rows: list[tuple[object, ...]] = []
    for n in range(start, stop):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        # Names may be anything; the addresses stay ASCII, as an SMTP relay without SMTPUTF8 needs.
        name = unicodedata.normalize("NFKD", f"{first} {last}").encode("ascii", "ignore").decode().lower()
        local = ".".join(name.split()) or "reader"
        email = f"{local}.{n}@{DOMAINS[n % len(DOMAINS)]}"
        at = now - timedelta(seconds=rng.randrange(365 * 86_400))
        fields = json.dumps({"city": rng.choice(CITIES)}, ensure_ascii=False)
        rows.append((account_id, email, first or None, last or None, fields, "active", at, at, at, at))
    return rows


async def _seed_rows(url: str, account_id: int, contacts: int) -> list[str]:
    engine = create_engine(url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await field_service.create(session, account_id=account_id, label="City", type="text", key="city")
            fields = sorted(await field_service.all_fields(session, account_id=account_id))
    finally:
        await engine.dispose()
    connection = await asyncpg.connect(plain_url(url))
    try:
        columns = (
            "account_id", "email", "first_name", "last_name", "fields", "status",
            "subscribed_at", "confirmed_at", "created_at", "updated_at",
        )  # fmt: skip
        for start in range(0, contacts, COPY_BATCH):
            rows = _contact_rows(account_id, start, min(start + COPY_BATCH, contacts))
            await connection.copy_records_to_table("contacts", records=rows, columns=columns)
        # What autovacuum would soon do after a bulk load.
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return fields


# The workers -------------------------------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path
    cpu_at_start: tuple[float, float] = (0.0, 0.0)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def start_workers(workers: list[Worker], count: int, env: dict[str, str], workdir: Path, timeout: float = 60.0) -> None:
    """Start `roost worker` processes into `workers` (the caller stops them); return once each delivers."""
    for n in range(count):
        log_path = workdir / f"worker-{n}.log"
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "roost", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        workers.append(Worker(process, log_path))
    deadline = time.monotonic() + timeout
    waiting = list(workers)
    while waiting:
        for worker in list(waiting):
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker {worker.pid} exited with {worker.process.returncode}:\n{worker.log_tail()}")
            if "delivery started" in worker.log_path.read_text(errors="replace"):
                waiting.remove(worker)
        if time.monotonic() > deadline:
            raise RuntimeError(f"worker {waiting[0].pid} did not start in {timeout:.0f} s:\n{waiting[0].log_tail()}")
        time.sleep(0.1)


# The run -----------------------------------------------------------------------------------


@dataclass
class Backends:
    """CPU of the PostgreSQL server processes serving the database, sampled while they live."""

    local: bool
    first: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)

    def sample(self, pids: Sequence[int], *, baseline: bool = False) -> None:
        if not self.local:
            return
        for pid in pids:
            cpu = cpu_seconds(pid)
            if cpu is None:
                continue
            # A backend first seen after the start began during the run: all of its CPU counts.
            self.first.setdefault(pid, cpu if baseline else 0.0)
            self.last[pid] = cpu

    @property
    def cpu(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


@dataclass
class Run:
    messages: int = 0
    seconds: float = 0.0
    resolve_seconds: float | None = None
    worker_cpu: dict[int, tuple[float, float]] = field(default_factory=dict)  # user, system
    worker_peak_rss_kb: dict[int, int | None] = field(default_factory=dict)
    backends_cpu: float | None = None
    sink_cpu: float = 0.0
    machine_busy: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    load_before: str = ""
    load_after: str = ""


BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
PROGRESS = "SELECT status, sent, bounces FROM broadcasts WHERE id = $1"
FAILED = "SELECT count(*) FROM messages WHERE status IN ('failed', 'bounced') AND broadcast_id = $1"
STATUSES = "SELECT status, count(*) FROM messages WHERE broadcast_id = $1 GROUP BY status"
ERRORS = """
    SELECT status, smtp_code, last_error, count(*) FROM messages
    WHERE broadcast_id = $1 AND status NOT IN ('queued', 'sent') AND (smtp_code IS NOT NULL OR last_error IS NOT NULL)
    GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 5
"""


async def _create_broadcast(seeded: Seeded) -> int:
    """The broadcast to every active contact, scheduled to go out now (the API's `immediate`)."""
    engine = create_engine(seeded.url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            broadcast = await broadcast_service.create(
                session,
                account_id=seeded.account_id,
                content={
                    "name": "Autumn letter",
                    "subject": SUBJECT,
                    "body": HTML,
                    "sender_email": SENDER.email,
                    "sender_name": SENDER.name,
                    "sender_company": SENDER.company,
                    "sender_address": SENDER.address,
                },
                immediate=True,
            )
            return broadcast.id
    finally:
        await engine.dispose()


async def send_broadcast(seeded: Seeded, workers: list[Worker], sink: Sink, args: argparse.Namespace) -> Run:
    """Schedule the broadcast with the workers idle, then poll until every message is sent."""
    run = Run(load_before=load_average())
    monitor = await asyncpg.connect(plain_url(seeded.url))
    host = make_url(seeded.url).host or ""
    backends = Backends(local=host in ("127.0.0.1", "localhost", "::1") or host.startswith("/"))
    try:
        backends.sample(await _backend_pids(monitor), baseline=True)
        for worker in workers:
            worker.cpu_at_start = cpu_times(worker.pid) or (0.0, 0.0)
        sink_before = cpu_seconds(sink.process.pid) or 0.0
        busy_before, _ = machine_busy()
        started = time.perf_counter()
        broadcast_id = await _create_broadcast(seeded)
        sent = last_sent = 0
        progressed = last_check = started
        while sent < seeded.contacts:
            await asyncio.sleep(POLL_INTERVAL)
            now = time.perf_counter()
            row = await monitor.fetchrow(PROGRESS, broadcast_id)
            assert row is not None
            sent = int(row["sent"])
            if run.resolve_seconds is None and row["status"] != "scheduled":
                run.resolve_seconds = now - started
            if sent != last_sent:
                last_sent, progressed = sent, now
            for worker in workers:
                if worker.process.poll() is not None:
                    raise RuntimeError(f"worker {worker.pid} died:\n{worker.log_tail()}")
            if now - last_check >= 1.0:
                last_check = now
                backends.sample(await _backend_pids(monitor))
                failed = int(await monitor.fetchval(FAILED, broadcast_id))
                if failed or int(row["bounces"]):
                    raise RuntimeError(f"messages failed or bounced: {await _trouble(monitor, broadcast_id)}")
                if now - progressed > args.stall:
                    raise RuntimeError(
                        f"no message sent for {args.stall:.0f} s: {await _trouble(monitor, broadcast_id)}\n"
                        f"{workers[0].log_tail()}"
                    )
            if now - started > args.timeout:
                raise RuntimeError(f"not done after {args.timeout:.0f} s: {await _trouble(monitor, broadcast_id)}")
        run.seconds = time.perf_counter() - started
        # Read before the workers stop: their peak memory and CPU, and that of the backends.
        run.machine_busy = machine_busy()[0] - busy_before
        run.sink_cpu = (cpu_seconds(sink.process.pid) or 0.0) - sink_before
        backends.sample(await _backend_pids(monitor))
        for worker in workers:
            user, system = cpu_times(worker.pid) or (0.0, 0.0)
            run.worker_cpu[worker.pid] = (user - worker.cpu_at_start[0], system - worker.cpu_at_start[1])
            run.worker_peak_rss_kb[worker.pid] = memory_kb(worker.pid, "VmHWM")
        run.backends_cpu = backends.cpu if backends.local else None
        run.load_after = load_average()
        run.statuses = await _statuses(monitor, broadcast_id)
        run.messages = sum(run.statuses.values())
    finally:
        await monitor.close()
    if run.statuses != {"sent": seeded.contacts}:
        raise RuntimeError(f"expected {seeded.contacts:,} sent messages, found {run.statuses}")
    return run


async def _backend_pids(connection: asyncpg.Connection) -> list[int]:
    return [int(record["pid"]) for record in await connection.fetch(BACKENDS)]


async def _statuses(connection: asyncpg.Connection, broadcast_id: int) -> dict[str, int]:
    return {row["status"]: int(row["count"]) for row in await connection.fetch(STATUSES, broadcast_id)}


async def _trouble(connection: asyncpg.Connection, broadcast_id: int) -> str:
    """The messages by status, and the commonest errors recorded on them."""
    errors = [
        f"  {row['count']:,} {row['status']}: {row['smtp_code'] or ''} {row['last_error'] or ''}".rstrip()
        for row in await connection.fetch(ERRORS, broadcast_id)
    ]
    return "\n".join([str(await _statuses(connection, broadcast_id)), *errors])


# Report ------------------------------------------------------------------------------------


def report(args: argparse.Namespace, ceiling: Ceiling, size: int, run: Run, received: int | None) -> None:
    rate = run.messages / run.seconds
    worker_cpu = sum(user + system for user, system in run.worker_cpu.values())
    dkim = "RSA-2048 DKIM" if args.dkim else "no DKIM"
    print(
        f"\n{run.messages:,} messages, {args.workers} worker(s) x {args.concurrency} SMTP connections, {dkim}, "
        f"open/click tracking; {size:,}-byte messages; {os.cpu_count()} CPUs\n"
    )
    print(
        f"SMTP leg ceiling   smtp-source -> smtp-sink, {ceiling.sessions} sessions, {ceiling.messages:,} messages: "
        f"{ceiling.rate:,.0f} msg/s ({ceiling.seconds:.2f} s, smtp-source CPU {ceiling.cpu:.2f} s)"
    )
    resolve = f"{run.resolve_seconds:.2f} s" if run.resolve_seconds is not None else "n/a"
    print(
        f"end to end         {run.messages:,} sent in {run.seconds:.2f} s: {rate:,.0f} msg/s "
        f"(broadcast scheduled -> all sent; resolved within {resolve})"
    )
    print(f"ratio to ceiling   {rate / ceiling.rate:.3f}")
    for pid, (user, system) in run.worker_cpu.items():
        peak = run.worker_peak_rss_kb[pid]
        peak_text = f"{peak / 1024:.0f} MB" if peak is not None else "n/a"
        print(f"worker {pid:<11} CPU {user + system:7.2f} s (user {user:.2f} + sys {system:.2f}), peak RSS {peak_text}")
    print(f"workers' CPU       {worker_cpu:.2f} s = {worker_cpu / run.messages * 1e6:,.0f} µs/message")
    if run.backends_cpu is not None:
        backends = run.backends_cpu
        print(f"PostgreSQL CPU     {backends:.2f} s = {backends / run.messages * 1e6:,.0f} µs/message (its backends)")
    print(f"smtp-sink CPU      {run.sink_cpu:.2f} s = {run.sink_cpu / run.messages * 1e6:,.0f} µs/message")
    cores = os.cpu_count() or 1
    rest = run.machine_busy - worker_cpu - (run.backends_cpu or 0.0) - run.sink_cpu
    print(
        f"machine busy       {run.machine_busy:.1f} CPU s = {run.machine_busy / run.seconds:.2f} of {cores} cores; "
        f"{rest:.1f} s of it neither workers, backends nor sink (kernel, other PostgreSQL processes, other work)"
    )
    print(f"load average       {run.load_before} before, {run.load_after} after")
    if received is not None:
        print(f"sink received      {received:,} (ceiling {ceiling.messages:,} + run {run.messages:,})")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts seeded; one message each")
    parser.add_argument("--dkim", action=argparse.BooleanOptionalAction, default=False, help="sign with RSA-2048 DKIM")
    parser.add_argument("--workers", type=int, default=2, help="`roost worker` processes")
    parser.add_argument("--concurrency", type=int, default=8, help="ROOST_SMTP_CONCURRENCY of each worker")
    parser.add_argument("--sessions", type=int, default=8, help="smtp-source sessions for the ceiling")
    parser.add_argument("--ceiling-messages", type=int, default=100_000, help="messages smtp-source sends")
    parser.add_argument(
        "--database-url",
        help="an existing, empty PostgreSQL database to use (kept); by default one is created on --pg-url and dropped",
    )
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", PG_SERVER_DEFAULT),
        help="a PostgreSQL server login allowed to CREATE DATABASE (env BENCH_PG_URL)",
    )  # fmt: skip
    parser.add_argument("--stall", type=float, default=60.0, help="give up after this many seconds without progress")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds in all")
    args = parser.parse_args(argv)
    if args.contacts < 1 or args.workers < 1 or args.concurrency < 1 or args.sessions < 1:
        parser.error("--contacts, --workers, --concurrency and --sessions must be positive")
    if args.database_url and not make_url(args.database_url).drivername.startswith("postgresql"):
        parser.error("--database-url must be a PostgreSQL URL (contacts are seeded with COPY)")
    return args


@contextlib.contextmanager
def database(args: argparse.Namespace) -> Iterator[str]:
    if args.database_url:
        yield args.database_url
    else:
        with postgres_database(args.pg_url) as url:
            yield url


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    secret = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="roost-bench-") as tmp, smtp_sink(Path(tmp)) as sink:
        workdir = Path(tmp)
        dkim_directory = workdir / "dkim" if args.dkim else None
        with database(args) as url:
            env = {
                **server_env(url, workdir),
                "ROOST_SECRET_KEY": secret,
                "ROOST_BASE_URL": BASE_URL,
                "ROOST_SMTP_URL": f"smtp://{HOST}:{sink.port}",
                "ROOST_SMTP_CONCURRENCY": str(args.concurrency),
            }
            seeded = seed(url, args.contacts, env, args.dkim)
            message = sample_message(dkim_directory, secret, seeded.fields)
            log(f"ceiling: smtp-source, {args.sessions} sessions, {args.ceiling_messages:,} x {len(message):,} bytes")
            ceiling = measure_ceiling(sink, message, args.ceiling_messages, args.sessions, workdir)
            log(f"starting {args.workers} worker(s)")
            workers: list[Worker] = []
            try:
                start_workers(workers, args.workers, env, workdir)
                log(f"workers {' '.join(str(w.pid) for w in workers)} idle; scheduling the broadcast")
                run = asyncio.run(send_broadcast(seeded, workers, sink, args))
            finally:
                for worker in workers:
                    stop(worker.process)
        time.sleep(0.3)  # the sink's counters are written as each session ends
        report(args, ceiling, len(message), run, sink.received())
    return 0


if __name__ == "__main__":
    sys.exit(main())
