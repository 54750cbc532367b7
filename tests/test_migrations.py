from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from roost.account import service as account_service
from roost.contact import service as contact_service
from roost.contact.types import ContactView, NewContact
from roost.db import create_engine, create_sessionmaker
from roost.db.migrate import check, upgrade
from roost.errors import Invalid
from roost.models import Contact


def test_models_and_migrations_agree(database_url: str) -> None:
    # `alembic check`: autogenerate finds nothing to do against the migrated database.
    check(database_url)


async def test_sqlite_ids_are_never_handed_out_twice_after_the_upgrade(tmp_path: Path) -> None:
    # Migration 0014 copies every table of a populated SQLite database to declare its ids
    # AUTOINCREMENT: the rows, their links and the indexes must come through, and a deleted
    # newest contact's id must not come back.
    url = f"sqlite:///{tmp_path / 'roost.db'}"
    await asyncio.to_thread(upgrade, url, "0013")
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session, session.begin():
            account = await account_service.create(session, email="owner@example.com", password="correct horse")
            made = await contact_service.create_many(
                session, [NewContact(account.id, f"reader{n}@example.com", {}) for n in range(3)]
            )
            first, _, newest = [view.contact.id for view in made if isinstance(view, ContactView)]
            await contact_service.apply_tags(session, account_id=account.id, contact_id=first, names=["vip"])
        await engine.dispose()
        await asyncio.to_thread(upgrade, url)

        async with sessions() as session, session.begin():
            assert await session.scalar(select(func.count()).select_from(Contact)) == 3
            wire = await contact_service.wire(await session.connection(), account_id=account.id, contact_id=first)
            assert [link["name"] for link in json.loads(wire)["tags"]] == ["vip"]
            await contact_service.delete(session, account_id=account.id, contact_id=newest)
        async with sessions() as session, session.begin():
            [again] = await contact_service.create_many(session, [NewContact(account.id, "late@example.com", {})])
            assert isinstance(again, ContactView)
            assert again.contact.id > newest
            # The unique index on the lower-cased address came through the copy.
            [taken] = await contact_service.create_many(session, [NewContact(account.id, "READER0@example.com", {})])
            assert isinstance(taken, Invalid)
        async with sessions() as session, session.begin():
            session.add(Contact(account_id=account.id, email="Reader0@Example.com", fields={}, status="active"))
            with pytest.raises(IntegrityError):
                await session.flush()
    finally:
        await engine.dispose()


def test_every_sqlite_table_keyed_by_id_never_reuses_its_ids(database_url: str) -> None:
    # Batch mode copies a table from its reflection, which knows nothing of AUTOINCREMENT: a later
    # migration that copies a table must pass table_kwargs={"sqlite_autoincrement": True}, and a new
    # table needs sqlite_autoincrement=True (autogenerate writes it, from the models).
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's sequences never reuse an id")
    with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as connection:
        declared = dict(connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
        keyed = [
            name
            for name in declared
            if any(column[1] == "id" for column in connection.execute(f'PRAGMA table_info("{name}")'))
        ]
    assert "contacts" in keyed
    assert [name for name in keyed if "AUTOINCREMENT" not in declared[name]] == []
