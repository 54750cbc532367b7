"""How fast Roost counts a broadcast's recipients, beside hand-written SQL for the same count.

Seeds a throwaway PostgreSQL database with an account of 1,000,000 contacts and 3,000,000 tag
assignments, saves a broadcast whose recipients are `all [tag A, tag B]` + `exclude [tag C]`,
then times the count the API's `GET /v1/broadcasts/{id}/recipients/count` computes (the same
service call, in a session of its own per run) against hand-written queries of the same count
(the ceiling: the fastest of them). Prints figures; asserts nothing. See bench/README.md.

    python bench/recipients.py --contacts 1000000 --runs 9
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import TextClause, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api import DEFAULT_PG_URL, log, postgres_database, roost_cli, server_env
from roost.audience import service as audience_service
from roost.audience.types import GroupMatch, RecipientOperator, RecipientType
from roost.broadcast import service as broadcast_service
from roost.db import create_engine, create_sessionmaker
from roost.models import Tag

TAG_COUNT = 20
# Each contact gets one tag from each slot (first tag index, how many tags), so no pair repeats:
# tag 0 (A) on about 1/2 of the contacts, tag 2 (B) on 1/3, tag 5 (C) on 1/15.
SLOTS = ((0, 2), (2, 3), (5, 15))
TAG_A, TAG_B, TAG_C = 0, 2, 5
UNSUBSCRIBED_EVERY = 20  # one contact in 20 is unsubscribed, so the `active` filter matters

SEED_CONTACTS = text(
    """
    INSERT INTO contacts (account_id, email, first_name, last_name, fields, status,
                          subscribed_at, confirmed_at, created_at, updated_at)
    SELECT :account_id, 'contact' || n || '@bench.example.com', 'Bench', 'Contact ' || n, '{}'::jsonb,
           CASE WHEN n % :unsubscribed_every = 0 THEN 'unsubscribed' ELSE 'active' END,
           t, t, t, t
    FROM generate_series(1, :contacts) AS n, LATERAL (SELECT now() - n * interval '30 seconds' AS t) AS at
    """
)
SEED_TAGS = text(
    """
    INSERT INTO contact_tags (contact_id, tag_id, account_id, tagged_at)
    SELECT c.id, :first_tag + slot.first + floor(random() * slot.width)::int, :account_id, c.created_at
    FROM contacts AS c CROSS JOIN (VALUES """
    + ", ".join(f"({first}, {width})" for first, width in SLOTS)
    + """) AS slot(first, width)
    WHERE c.account_id = :account_id
    """
)
# Hand-written forms of the same count; the fastest is the ceiling.
CEILINGS = {
    "IN, NOT EXISTS": text(
        """
        SELECT count(*) FROM contacts AS c
        WHERE c.account_id = :account_id AND c.status = 'active'
          AND c.id IN (SELECT contact_id FROM contact_tags WHERE tag_id = :a)
          AND c.id IN (SELECT contact_id FROM contact_tags WHERE tag_id = :b)
          AND NOT EXISTS (SELECT 1 FROM contact_tags AS x WHERE x.contact_id = c.id AND x.tag_id = :c)
        """
    ),
    "INTERSECT/EXCEPT": text(
        """
        SELECT count(*) FROM (
            SELECT contact_id FROM contact_tags WHERE tag_id = :a
            INTERSECT SELECT contact_id FROM contact_tags WHERE tag_id = :b
            EXCEPT SELECT contact_id FROM contact_tags WHERE tag_id = :c
        ) AS chosen JOIN contacts AS c ON c.id = chosen.contact_id
        WHERE c.account_id = :account_id AND c.status = 'active'
        """
    ),
    "joins": text(
        """
        SELECT count(*) FROM contact_tags AS a
        JOIN contact_tags AS b ON b.contact_id = a.contact_id AND b.tag_id = :b
        JOIN contacts AS c ON c.id = a.contact_id
        LEFT JOIN contact_tags AS x ON x.contact_id = a.contact_id AND x.tag_id = :c
        WHERE a.tag_id = :a AND x.contact_id IS NULL AND c.account_id = :account_id AND c.status = 'active'
        """
    ),
}


@dataclass(frozen=True)
class Condition:
    type: RecipientType
    value: int | str
    operator: RecipientOperator = "equal"


@dataclass(frozen=True)
class Group:
    match: GroupMatch
    conditions: Sequence[Condition]


@dataclass(frozen=True)
class Seeded:
    url: str
    account_id: int
    tags: list[int]


def seed(url: str, contacts: int, workdir: Path) -> Seeded:
    """Schema and account through the CLI, then contacts and tags in a few set-based statements."""
    env = server_env(url, workdir)
    started = time.perf_counter()
    roost_cli(env, "migrate")
    owner = ("--email", "owner@bench.example.com", "--password", "bench-password")
    account_id = int(json.loads(roost_cli(env, "account", "create", *owner, "--json"))["account_id"])
    tags = asyncio.run(_seed_rows(url, account_id, contacts))
    log(f"seeded {contacts:,} contacts, {contacts * len(SLOTS):,} tag links in {time.perf_counter() - started:.0f} s")
    return Seeded(url, account_id, tags)


async def _seed_rows(url: str, account_id: int, contacts: int) -> list[int]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(Tag), [{"account_id": account_id, "name": f"tag-{n}"} for n in range(TAG_COUNT)]
            )
            tags = list(
                (await connection.scalars(select(Tag.id).where(Tag.account_id == account_id).order_by(Tag.id))).all()
            )
            assert tags == list(range(tags[0], tags[0] + TAG_COUNT)), "tag ids must be consecutive"
            params = {"account_id": account_id, "contacts": contacts, "unsubscribed_every": UNSUBSCRIBED_EVERY}
            await connection.execute(SEED_CONTACTS, params)
            await connection.execute(text("SELECT setseed(0.2026)"))
            await connection.execute(SEED_TAGS, {"account_id": account_id, "first_tag": tags[0]})
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()
    return tags


async def _median_ms(work: Callable[[], Awaitable[int]], warmup: int, runs: int) -> tuple[float, int]:
    for _ in range(warmup):
        await work()
    timings = []
    result = 0
    for _ in range(runs):
        started = time.perf_counter()
        result = await work()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), result


async def measure(seeded: Seeded, args: argparse.Namespace) -> None:
    engine = create_engine(seeded.url, pool_size=2)
    sessions = create_sessionmaker(engine)
    a, b, c = (seeded.tags[i] for i in (TAG_A, TAG_B, TAG_C))
    try:
        async with sessions() as session, session.begin():
            broadcast = await broadcast_service.create(
                session,
                account_id=seeded.account_id,
                content={
                    "name": "Bench",
                    "subject": "Hello",
                    "body": "<p>Hello</p>",
                    "sender_email": "owner@bench.example.com",
                    "sender_name": "Bench",
                    "sender_address": "1 Main St",
                },
                recipients=[
                    Group("all", [Condition("tag", a), Condition("tag", b)]),
                    Group("exclude", [Condition("tag", c)]),
                ],
            )
            broadcast_id, groups = broadcast.id, broadcast.recipients

        async def service_count() -> int:
            async with sessions() as session:
                return await broadcast_service.count_recipients(
                    session, account_id=seeded.account_id, broadcast_id=broadcast_id
                )

        if args.explain:
            await _explain(engine, sessions, seeded.account_id, groups)
        figures = {"service (GET …/recipients/count)": await _median_ms(service_count, args.warmup, args.runs)}
        params = {"account_id": seeded.account_id, "a": a, "b": b, "c": c}
        for label, statement in CEILINGS.items():

            async def hand_written(statement: TextClause = statement) -> int:
                async with engine.connect() as connection:
                    return int((await connection.execute(statement, params)).scalar_one())

            figures[f"hand-written SQL, {label}"] = await _median_ms(hand_written, args.warmup, args.runs)
    finally:
        await engine.dispose()
    _report(figures, args)


async def _explain(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], account_id: int, groups: list[dict[str, Any]]
) -> None:
    async with sessions() as session:
        statement = await audience_service.recipients(session, account_id=account_id, groups=groups)
    sql = str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    async with engine.connect() as connection:
        plan = await connection.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM ({sql}) AS recipients"))
        log(f"\n{sql}\n\n" + "\n".join(row[0] for row in plan))


def _report(figures: dict[str, tuple[float, int]], args: argparse.Namespace) -> None:
    service_label = next(iter(figures))
    service_ms, count = figures[service_label]
    ceiling_label = min((label for label in figures if label != service_label), key=lambda label: figures[label][0])
    ceiling_ms = figures[ceiling_label][0]
    print(
        f"\n{args.contacts:,} contacts, {args.contacts * len(SLOTS):,} tag links; recipients all [A, B] + exclude [C]; "
        f"median of {args.runs} runs after {args.warmup} warm-up; {os.cpu_count()} CPUs\n"
    )
    width = max(len(label) for label in figures)
    for label, (ms, result) in figures.items():
        print(f"{label.ljust(width)}  {ms:9.1f} ms  count {result:,}")
    print(f"\nservice / ceiling ({ceiling_label}): {service_ms / ceiling_ms:.2f}x; recipients {count:,}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=9, help="timed runs per query (the median is printed)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    parser.add_argument("--explain", action="store_true", help="print the generated SQL and its EXPLAIN ANALYZE")
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL),
        help="a PostgreSQL server login allowed to CREATE DATABASE (env BENCH_PG_URL)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.contacts < 1 or args.runs < 1 or args.warmup < 0:
        parser.error("--contacts and --runs must be positive, --warmup not negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="roost-bench-") as tmp, postgres_database(args.pg_url) as url:
        seeded = seed(url, args.contacts, Path(tmp))
        asyncio.run(measure(seeded, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
