"""Throughput and latency of Roost's contact API, beside a bare Starlette ceiling.

For each database (a SQLite file, a throwaway PostgreSQL database) this seeds an account with
contacts and tags, starts `roost serve` and the ceiling app (bench/ceiling.py) with the same
uvicorn settings, drives each endpoint of both in turn, over several rounds, with a fixed number
of keep-alive connections and prints one table of medians. See bench/README.md.

    python bench/api.py --db both --workers 1 2 --contacts 100000 --duration 5 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.config import Settings
from roost.db import create_engine
from roost.models import Contact, ContactTag, Tag

HERE = Path(__file__).resolve().parent
LUA_SCRIPT = HERE / "load.lua"
HOST = "127.0.0.1"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TAG_NAMES = (
    "customer", "newsletter", "vip", "webinar", "trial", "churned", "partner", "beta", "podcast", "ebook",
    "lead", "course", "affiliate", "event", "survey", "promo", "enterprise", "startup", "agency", "student",
)  # fmt: skip
SEARCHED_TAG = "vip"  # a substring of no other tag name, so the search matches one tag
TAGS_PER_CONTACT = 3
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Linus")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman")
BATCH = 5_000

Database = Literal["sqlite", "postgres"]
Mode = Literal["fixed", "ids", "create"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# Seeding ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seeded:
    """A database ready to serve: the plain URL, the account, a read/write token, the contact ids."""

    database: Database
    url: str
    account_id: int
    token: str
    low_id: int
    high_id: int


def roost_cli(env: dict[str, str], *args: str) -> str:
    """Run `roost ARGS` (the CLI of this interpreter's installation) and return its stdout."""
    done = subprocess.run([sys.executable, "-m", "roost", *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"roost {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def server_env(url: str, data_dir: Path) -> dict[str, str]:
    return {**os.environ, "ROOST_DATABASE_URL": url, "ROOST_DATA_DIR": str(data_dir), "ROOST_RATE_LIMIT": "0"}


def seed(database: Database, url: str, contacts: int, data_dir: Path) -> Seeded:
    """Migrate, create the account and token through the CLI, then bulk-insert contacts and tags."""
    env = server_env(url, data_dir)
    started = time.perf_counter()
    roost_cli(env, "migrate")
    owner = ("--email", "owner@bench.example.com", "--password", "bench-password")
    account_id = int(json.loads(roost_cli(env, "account", "create", *owner, "--json"))["account_id"])
    token = str(json.loads(roost_cli(env, "token", "create", "--account", str(account_id), "--json"))["token"])
    low, high = asyncio.run(_insert_contacts(url, account_id, contacts))
    log(f"[{database}] seeded {contacts:,} contacts in {time.perf_counter() - started:.1f} s")
    return Seeded(database=database, url=url, account_id=account_id, token=token, low_id=low, high_id=high)


async def _insert_contacts(url: str, account_id: int, count: int) -> tuple[int, int]:
    """Rows shaped as the app writes them; returns the lowest and highest contact id."""
    rng = random.Random(20261123)
    now = datetime.now(UTC).replace(microsecond=0)
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            tag_created = now - timedelta(days=400)
            tag_rows = [{"account_id": account_id, "name": name, "created_at": tag_created} for name in TAG_NAMES]
            await connection.execute(insert(Tag), tag_rows)
            tag_ids = list((await connection.scalars(select(Tag.id).where(Tag.account_id == account_id))).all())
            created = [now - timedelta(seconds=rng.randrange(365 * 86_400)) for _ in range(count)]
            created.sort()
            contact_rows = [
                {
                    "account_id": account_id,
                    "email": f"contact{n}@bench.example.com",
                    "first_name": rng.choice(FIRST_NAMES),
                    "last_name": rng.choice(LAST_NAMES),
                    "fields": {},
                    "status": "active",
                    "subscribed_at": at,
                    "confirmed_at": at,
                    "created_at": at,
                    "updated_at": at,
                }
                for n, at in enumerate(created)
            ]
            await _insert_batches(connection, Contact, contact_rows)
            ids = (
                await connection.execute(
                    select(Contact.id, Contact.created_at).where(Contact.account_id == account_id).order_by(Contact.id)
                )
            ).all()
            link_rows = [
                {
                    "contact_id": contact_id,
                    "tag_id": tag_id,
                    "account_id": account_id,
                    "tagged_at": at + timedelta(hours=i),
                }
                for contact_id, at in ids
                for i, tag_id in enumerate(rng.sample(tag_ids, TAGS_PER_CONTACT))
            ]
            await _insert_batches(connection, ContactTag, link_rows)
            bounds = select(func.min(Contact.id), func.max(Contact.id)).where(Contact.account_id == account_id)
            low, high = (await connection.execute(bounds)).one()
        if engine.dialect.name == "postgresql":
            # What autovacuum would soon do after a bulk load; SQLite gets no statistics, as in production.
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()
    return int(low), int(high)


async def _insert_batches(connection: AsyncConnection, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    statement = insert(model)
    for start in range(0, len(rows), BATCH):
        await connection.execute(statement, rows[start : start + BATCH])


@contextlib.contextmanager
def sqlite_database(workdir: Path) -> Iterator[str]:
    path = workdir / "roost-bench.db"
    yield f"sqlite:///{path}"


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A database created for this run and dropped after it, whatever happens in between."""
    name = f"roost_bench_{os.getpid()}"

    async def admin(statement: str) -> None:
        engine = create_engine(admin_url, pool_size=1)
        try:
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def warn_if_postgres_is_short_of_connections(admin_url: str, workers: Sequence[int]) -> None:
    """Say so when the two servers could open more connections than PostgreSQL has free: the
    requests that find none fail, and the rows' error counts show it. Sessions of processes left
    over from other runs count too."""

    async def free_connections() -> int:
        engine = create_engine(admin_url, pool_size=1)
        try:
            async with engine.connect() as connection:
                free = await connection.scalar(
                    text(
                        "SELECT current_setting('max_connections')::int"
                        " - current_setting('superuser_reserved_connections')::int - count(*)"
                        " FROM pg_stat_activity WHERE backend_type = 'client backend'"
                    )
                )
        finally:
            await engine.dispose()
        return int(free or 0)

    # Each worker's pool holds up to twice ROOST_DB_POOL_SIZE connections (roost.db.create_engine).
    wanted = 2 * max(workers) * 2 * Settings.model_fields["db_pool_size"].default
    free = asyncio.run(free_connections())
    if free < wanted:
        log(f"[postgres] warning: {free} connections free, the two servers may open {wanted}")


# Servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serving(command: list[str], env: dict[str, str], health_path: str, log_path: Path) -> Iterator[str]:
    """Run a server until the block ends; yields its base URL once `health_path` answers 200."""
    port = free_port()
    command = [arg.replace("{port}", str(port)) for arg in command]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://{HOST}:{port}"
        try:
            _wait_healthy(process, port, health_path, log_path)
            yield base
        finally:
            _stop(process)


def _wait_healthy(
    process: subprocess.Popen[bytes], port: int, path: str, log_path: Path, timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        connection = http.client.HTTPConnection(HOST, port, timeout=1)
        try:
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.2)
    raise RuntimeError(f"server not healthy after {timeout:.0f} s:\n{log_path.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets uvicorn stop its workers; the process group is killed if that takes too long."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def roost_command(workers: int) -> list[str]:
    return [sys.executable, "-m", "roost", "serve", "--host", HOST, "--port", "{port}", "--workers", str(workers)]


def ceiling_command(workers: int) -> list[str]:
    # The uvicorn settings `roost serve` passes to uvicorn.run.
    return [
        sys.executable, "-m", "uvicorn", "ceiling:create_app", "--factory", "--app-dir", str(HERE),
        "--host", HOST, "--port", "{port}", "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "info",
    ]  # fmt: skip


# Load ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """What one run requests: a fixed GET, GETs of random ids in [low, high], or POSTs of new contacts."""

    mode: Mode
    path: str
    low: int = 0
    high: int = 0
    run: str = ""


@dataclass(frozen=True, slots=True)
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


class Wrk:
    """wrk with bench/load.lua: the load generator of choice (C, a fraction of a core)."""

    name = "wrk"

    def __init__(self, connections: int, threads: int) -> None:
        self.connections = connections
        self.threads = threads

    def run(self, base: str, target: Target, token: str, seconds: float) -> Result:
        arguments = [target.mode, token, target.path, str(target.low), str(target.high), target.run]
        return run_wrk(base + target.path, arguments, self.connections, self.threads, seconds)


def run_wrk(url: str, arguments: Sequence[str], connections: int, threads: int, seconds: float) -> Result:
    """wrk with bench/load.lua and these script arguments; its figures."""
    command = [
        "wrk", "--threads", str(threads), "--connections", str(connections),
        "--duration", f"{max(1, round(seconds))}s", "--timeout", "10s", "--script", str(LUA_SCRIPT),
        url, "--", *arguments,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    report = next((line for line in done.stdout.splitlines() if line.startswith("BENCH ")), None)
    if done.returncode != 0 or report is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    figures = json.loads(report.removeprefix("BENCH "))
    return Result(
        requests_per_second=figures["requests"] / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=figures["errors"],
    )


class PythonClient:
    """A lean asyncio keep-alive HTTP/1.1 client, for machines without wrk.

    It shares the CPU with the servers and costs more of it than wrk, so its figures are lower.
    """

    name = "python"

    def __init__(self, connections: int) -> None:
        self.connections = connections

    def run(self, base: str, target: Target, token: str, seconds: float) -> Result:
        host, port = base.removeprefix("http://").split(":")
        make = _request_maker(target, token, host)
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            latencies, errors, elapsed = runner.run(self._drive(host, int(port), make, seconds))
        latencies.sort()

        def percentile(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else 0.0

        return Result(len(latencies) / elapsed, percentile(0.50), percentile(0.99), errors)

    async def _drive(
        self, host: str, port: int, make: Callable[[], bytes], seconds: float
    ) -> tuple[list[float], int, float]:
        latencies: list[float] = []
        errors = 0
        started = time.perf_counter()
        deadline = started + seconds

        async def connection() -> None:
            nonlocal errors
            reader, writer = await asyncio.open_connection(host, port)
            try:
                while time.perf_counter() < deadline:
                    sent = time.perf_counter()
                    writer.write(make())
                    status = await _read_response(reader)
                    latencies.append(time.perf_counter() - sent)
                    errors += not 200 <= status < 400
            finally:
                writer.close()

        outcomes = await asyncio.gather(*(connection() for _ in range(self.connections)), return_exceptions=True)
        errors += sum(isinstance(outcome, BaseException) for outcome in outcomes)
        return latencies, errors, time.perf_counter() - started


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _request_maker(target: Target, token: str, host: str) -> Callable[[], bytes]:
    head = f"Host: {host}\r\nAuthorization: Bearer {token}\r\n"
    if target.mode == "fixed":
        fixed = f"GET {target.path} HTTP/1.1\r\n{head}\r\n".encode()
        return lambda: fixed
    if target.mode == "ids":
        rng = random.Random()
        return lambda: f"GET {target.path}{rng.randint(target.low, target.high)} HTTP/1.1\r\n{head}\r\n".encode()
    sequence = iter(range(1, sys.maxsize))

    def create() -> bytes:
        email = f"{target.run}-py-{next(sequence)}@bench.example.com"
        body = json.dumps({"email": email, "fields": {"first_name": "X"}})
        return (
            f"POST {target.path} HTTP/1.1\r\n{head}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()

    return create


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response (uvicorn always sends Content-Length here); return its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
    await reader.readexactly(length)
    return int(lines[0].split(" ", 2)[1])


LoadGenerator = Wrk | PythonClient


def pick_client(choice: str, connections: int) -> LoadGenerator:
    if choice == "wrk" or (choice == "auto" and shutil.which("wrk")):
        if not shutil.which("wrk"):
            raise SystemExit("wrk not found: apt-get install wrk (or pass --client python)")
        return Wrk(connections, threads=max(1, min(connections, os.cpu_count() or 1)))
    log("wrk not found: falling back to the Python client (expect lower figures)")
    return PythonClient(connections)


# The benchmark ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    label: str
    roost: Target
    ceiling: Target


@dataclass(frozen=True, slots=True)
class Row:
    """One endpoint's rounds: Roost's and the ceiling's run in each, in turn."""

    endpoint: str
    database: str
    workers: int
    roost: list[Result]
    ceiling: list[Result]

    @property
    def roost_median(self) -> Result:
        return _median_run(self.roost)

    @property
    def ceiling_median(self) -> Result:
        return _median_run(self.ceiling)

    @property
    def ratio(self) -> float | None:
        """The median of each round's Roost/ceiling: a drift of the machine's speed between rounds cancels."""
        ratios = [
            r.requests_per_second / c.requests_per_second
            for r, c in zip(self.roost, self.ceiling, strict=True)
            if c.requests_per_second
        ]
        return statistics.median(ratios) if ratios else None


def _median_run(results: Sequence[Result]) -> Result:
    """The run with the median rate (the lower middle one of an even number), its latencies with it."""
    ranked = sorted(results, key=lambda result: result.requests_per_second)
    return ranked[(len(ranked) - 1) // 2]


def scenarios(seeded: Seeded) -> list[Scenario]:
    low, high = seeded.low_id, seeded.high_id
    return [
        Scenario("GET /healthz (no db)", Target("fixed", "/healthz"), Target("fixed", "/hello")),
        Scenario(
            "GET /v1/contacts/{id}", Target("ids", "/v1/contacts/", low, high), Target("ids", "/contacts/", low, high)
        ),
        Scenario(
            f"GET /v1/contacts?search_by=tag&keyword={SEARCHED_TAG}",
            Target("fixed", f"/v1/contacts?search_by=tag&keyword={SEARCHED_TAG}"),
            Target("fixed", f"/contacts?keyword={SEARCHED_TAG}"),
        ),
        Scenario("POST /v1/contacts", Target("create", "/v1/contacts"), Target("create", "/contacts")),
    ]


def measure(
    client: LoadGenerator, base: str, target: Target, token: str, *, warmup: float, duration: float, tag: str
) -> Result:
    """Warm up (pool, caches, every worker), then measure; POST runs use emails unique to each phase."""
    if warmup > 0:
        client.run(base, replace(target, run=f"{tag}-warm"), token, warmup)
    return client.run(base, replace(target, run=tag), token, duration)


def bench_database(
    seeded: Seeded, workers: int, client: LoadGenerator, args: argparse.Namespace, workdir: Path
) -> list[Row]:
    """Every scenario against Roost and the ceiling in turn, `args.rounds` times, both served with `workers` processes.

    Both servers run throughout (an idle one takes next to nothing), so the two sides of a round are
    measured seconds apart, and the side that goes first alternates from round to round.
    """
    env = server_env(seeded.url, workdir)
    ceiling_env = {**env, "BENCH_DATABASE_URL": seeded.url, "BENCH_ACCOUNT_ID": str(seeded.account_id)}
    servers = {
        "roost": ([*roost_command(workers), "--no-migrate"], env, "/healthz"),
        "ceiling": (ceiling_command(workers), ceiling_env, "/hello"),
    }
    rows = []
    with contextlib.ExitStack() as running:
        bases = {
            side: running.enter_context(
                serving(command, side_env, health, workdir / f"{side}-{seeded.database}-{workers}.log")
            )
            for side, (command, side_env, health) in servers.items()
        }
        for scenario in scenarios(seeded):
            targets = {"roost": scenario.roost, "ceiling": scenario.ceiling}
            results: dict[str, list[Result]] = {"roost": [], "ceiling": []}
            for round_number in range(args.rounds):
                sides = ("roost", "ceiling") if round_number % 2 == 0 else ("ceiling", "roost")
                for side in sides:
                    run_tag = f"{side}{workers}-{os.getpid()}-{time.time_ns()}"
                    result = measure(
                        client,
                        bases[side],
                        targets[side],
                        seeded.token,
                        warmup=args.warmup,
                        duration=args.duration,
                        tag=run_tag,
                    )
                    results[side].append(result)
                    log(
                        f"[{seeded.database} w={workers} round {round_number + 1}] {side:7} {scenario.label}: "
                        f"{result.requests_per_second:,.0f} req/s, p50 {result.p50_ms:.1f} ms, "
                        f"p99 {result.p99_ms:.1f} ms, {result.errors} errors"
                    )
            rows.append(Row(scenario.label, seeded.database, workers, results["roost"], results["ceiling"]))
    return rows


def render_table(rows: Sequence[Row]) -> str:
    header = ("endpoint", "database", "workers", "req/s", "p50 ms", "p99 ms", "ceiling req/s", "ratio", "errors r/c")
    body = [
        (
            row.endpoint,
            row.database,
            str(row.workers),
            f"{row.roost_median.requests_per_second:,.0f}",
            f"{row.roost_median.p50_ms:.1f}",
            f"{row.roost_median.p99_ms:.1f}",
            f"{row.ceiling_median.requests_per_second:,.0f}",
            "-" if row.ratio is None else f"{row.ratio:.2f}",
            f"{sum(r.errors for r in row.roost)}/{sum(c.errors for c in row.ceiling)}",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]

    def fmt(cells: Sequence[str]) -> str:
        padded = (
            cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded)

    return "\n".join([fmt(header), "  ".join("-" * w for w in widths), *(fmt(line) for line in body)])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="uvicorn worker counts to try")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side per endpoint, in turn")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each measurement")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL),
        help="a PostgreSQL server login allowed to CREATE DATABASE (env BENCH_PG_URL)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.contacts < 1 or args.duration <= 0 or args.connections < 1 or args.rounds < 1 or min(args.workers) < 1:
        parser.error("--contacts, --duration, --connections, --rounds and --workers must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    client = pick_client(args.client, args.connections)
    databases: list[Database] = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="roost-bench-") as tmp:
        workdir = Path(tmp)
        for database in databases:
            if database == "postgres":
                warn_if_postgres_is_short_of_connections(args.pg_url, args.workers)
            opened = sqlite_database(workdir) if database == "sqlite" else postgres_database(args.pg_url)
            with opened as url:
                seeded = seed(database, url, args.contacts, workdir)
                for workers in args.workers:
                    rows += bench_database(seeded, workers, client, args, workdir)
    cpus = os.cpu_count()
    print(
        f"\n{args.contacts:,} contacts, {args.connections} connections, {args.rounds} rounds of {args.duration:g} s "
        f"per side after {args.warmup:g} s of warm-up, medians, client {client.name}, {cpus} CPUs, "
        f"Python {sys.version.split()[0]}\n"
    )
    print(render_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
