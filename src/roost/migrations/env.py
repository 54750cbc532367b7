"""Alembic environment: async engine, batch mode so ALTERs work on SQLite."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import roost.models  # noqa: F401  (registers every table)
from roost.config import get_settings
from roost.db import Base, create_engine

config = context.config


def _do_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    url = config.get_main_option("roost.database_url") or get_settings().effective_database_url
    engine = create_engine(url, pool_size=1)
    async with engine.connect() as connection:
        await connection.run_sync(_do_run)
    await engine.dispose()


def run() -> None:
    existing = config.attributes.get("connection")
    if existing is not None:
        _do_run(existing)
    else:
        asyncio.run(_run_online())


run()
