"""The ceiling for bench/api.py: the same lookups as Roost's, with nothing else around them.

A bare Starlette app, served by the same uvicorn settings as `roost serve` and talking to the
same database through the same SQLAlchemy async engines (Roost's engine factories: the same
driver, pool size and SQLite pragmas, and the reads on Roost's engine of short reads), with plain
text SQL. It skips what Roost adds per request: token lookup, scope check, the tag links of each
contact, events and validation.

Configuration comes from the environment:

* BENCH_DATABASE_URL: the database, written as for ROOST_DATABASE_URL;
* BENCH_ACCOUNT_ID: the account whose contacts are read and written.

Serve it with `uvicorn ceiling:create_app --factory --app-dir bench`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, RowMapping, bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from roost.config import Settings
from roost.db import create_engine, create_read_engine

PAGE_SIZE = 15
COLUMNS = (
    "contacts.id, contacts.account_id, contacts.email, contacts.first_name, contacts.last_name, contacts.fields, "
    "contacts.ipaddress, contacts.status, contacts.subscribed_at, contacts.confirmed_at, contacts.unsubscribed_at, "
    "contacts.created_at, contacts.updated_at"
)
BY_ID = text(f"SELECT {COLUMNS} FROM contacts WHERE contacts.account_id = :account_id AND contacts.id = :contact_id")
# How Roost reads a tag search (newest first): the matching tags with the count each keeps of its
# contacts, then the page's slice of the tag's links (the benchmark's keyword matches one tag).
MATCHING_TAGS = text(
    "SELECT tags.id, tags.contacts_count FROM tags "
    "WHERE tags.account_id = :account_id AND lower(tags.name) LIKE :pattern ESCAPE '\\'"
)
ONE_TAG_PAGE = text(
    f"SELECT {COLUMNS} FROM contacts WHERE contacts.account_id = :account_id AND contacts.id IN ("
    "SELECT contact_tags.contact_id FROM contact_tags WHERE contact_tags.tag_id = :tag_id "
    "ORDER BY contact_tags.contact_id DESC LIMIT :limit OFFSET :offset) ORDER BY contacts.id DESC"
)
INSERT = text(
    "INSERT INTO contacts (account_id, email, first_name, fields, status, subscribed_at, confirmed_at, "
    "created_at, updated_at) VALUES (:account_id, :email, :first_name, '{}', 'active', :now, :now, :now, :now) "
    "RETURNING id"
).bindparams(bindparam("now", type_=DateTime(timezone=True)))


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def _contact(row: RowMapping) -> dict[str, Any]:
    fields = row["fields"]
    return {key: _wire(value) for key, value in row.items()} | {
        "fields": json.loads(fields) if isinstance(fields, str) else fields
    }


def _like_pattern(keyword: str) -> str:
    escaped = keyword.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def create_app() -> Starlette:
    # The pool `roost serve` gets by default.
    pool_size = Settings.model_fields["db_pool_size"].default
    engine: AsyncEngine = create_engine(os.environ["BENCH_DATABASE_URL"], pool_size=pool_size)
    reads = create_read_engine(engine)
    account_id = int(os.environ["BENCH_ACCOUNT_ID"])
    naive_times = engine.dialect.name == "sqlite"

    async def hello(_: Request) -> JSONResponse:
        return JSONResponse({"hello": "world"})

    async def get_contact(request: Request) -> JSONResponse:
        params = {"account_id": account_id, "contact_id": request.path_params["contact_id"]}
        async with reads.connect() as connection:
            row = (await connection.execute(BY_ID, params)).mappings().first()
        if row is None:
            return JSONResponse({"message": "Not found."}, status_code=404)
        return JSONResponse(_contact(row))

    async def search_contacts(request: Request) -> JSONResponse:
        params = {"account_id": account_id, "pattern": _like_pattern(request.query_params.get("keyword", ""))}
        async with reads.connect() as connection:
            tags = (await connection.execute(MATCHING_TAGS, params)).all()
            if not tags:
                return JSONResponse({"data": [], "total": 0})
            tag_id, total = tags[0]
            page = {"account_id": account_id, "tag_id": tag_id, "limit": PAGE_SIZE, "offset": 0}
            rows = (await connection.execute(ONE_TAG_PAGE, page)).mappings()
            data = [_contact(row) for row in rows]
        return JSONResponse({"data": data, "total": total})

    async def create_contact(request: Request) -> JSONResponse:
        body = await request.json()
        now = datetime.now(UTC).replace(microsecond=0)
        params = {
            "account_id": account_id,
            "email": body["email"],
            "first_name": body.get("fields", {}).get("first_name"),
            "now": now.replace(tzinfo=None) if naive_times else now,
        }
        async with engine.begin() as connection:
            contact_id = (await connection.execute(INSERT, params)).scalar_one()
        return JSONResponse({"contact_id": contact_id, "email": body["email"]}, status_code=201)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await engine.dispose()
        await reads.dispose()

    return Starlette(
        routes=[
            Route("/hello", hello),
            Route("/contacts/{contact_id:int}", get_contact),
            Route("/contacts", search_contacts, methods=["GET"]),
            Route("/contacts", create_contact, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
