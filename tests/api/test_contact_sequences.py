"""Contacts joining and leaving sequences (CONVENTIONS §7: contacts, sequence semantics)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.models import ContactSequence, Event
from tests.helpers import Api, Tenant

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
SENDER = {"email": "john@beats.com", "name": "John", "address": "1 Main St"}
Maker = async_sessionmaker[AsyncSession]


async def _sequence(api: Api, name: str = "Football Lovers", **extra: Any) -> int:
    body = {"name": name, "description": "People who love football", "sender": SENDER, **extra}
    sequence_id: int = (await api.created("/sequences", body))["sequence_id"]
    return sequence_id


async def _email(api: Api, sequence_id: int, *, delay: int, unit: str, active: bool = True) -> dict[str, Any]:
    body = {"subject": "Hi", "body": "b", "schedule": {"delay": delay, "type": unit}, "active": active}
    return await api.created(f"/sequences/{sequence_id}/emails", body)


async def _contact(api: Api, email: str = "david@example.net") -> int:
    contact_id: int = (await api.created("/contacts", {"email": email}))["contact_id"]
    return contact_id


async def _events(sessionmaker: Maker, account: Tenant, prefix: str) -> list[tuple[str, int | None, Any]]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(Event).where(Event.account_id == account.id, Event.type.like(f"{prefix}%")).order_by(Event.id)
        )
        return [(e.type, e.contact_id, e.data) for e in rows]


async def _membership(sessionmaker: Maker, contact_id: int, sequence_id: int) -> ContactSequence | None:
    async with sessionmaker() as session:
        row: ContactSequence | None = await session.get(ContactSequence, (contact_id, sequence_id))
        return row


def _wire(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


async def test_join_as_in_the_seed_and_again(api: Api, sessionmaker: Maker, account: Tenant) -> None:
    sid = await _sequence(api)
    cid = await _contact(api)
    joined = await api.post(f"/contacts/{cid}/sequences", {"sequence_id": sid})
    assert joined.status_code == 201
    body = joined.json()
    assert body["contact_id"] == cid
    [link] = body["sequences"]
    assert link == {
        "sequence_id": sid,
        "current_step": 0,
        "name": "Football Lovers",
        "description": "People who love football",
        "subscribed_at": link["subscribed_at"],
        "confirmed_at": link["subscribed_at"],  # the contact was already confirmed
    }
    assert TIMESTAMP.match(link["subscribed_at"])
    again = await api.post(f"/contacts/{cid}/sequences", {"sequence_id": sid})
    assert again.status_code == 201
    assert again.json() == body  # idempotent: nothing changed
    assert (await api.get(f"/contacts/{cid}")).json() == body
    assert await _events(sessionmaker, account, "sequence.") == [("sequence.subscribed", cid, {"sequence_id": sid})]


async def test_next_due_at_follows_the_first_active_email(api: Api, sessionmaker: Maker) -> None:
    sid = await _sequence(api)
    inactive = await _email(api, sid, delay=1, unit="minute", active=False)
    await _email(api, sid, delay=2, unit="day")
    cid = await _contact(api)
    await api.created(f"/contacts/{cid}/sequences", {"sequence_id": sid})
    member = await _membership(sessionmaker, cid, sid)
    assert member is not None
    assert member.current_step == 0
    assert member.next_due_at == member.subscribed_at + timedelta(days=2)

    # The steps changed: waiting members are re-planned.
    await api.patch(f"/sequences/{sid}/emails/{inactive['email_id']}", {"active": True})
    member = await _membership(sessionmaker, cid, sid)
    assert member is not None
    assert member.next_due_at == member.subscribed_at + timedelta(minutes=1)
    await api.delete(f"/sequences/{sid}/emails/{inactive['email_id']}")
    member = await _membership(sessionmaker, cid, sid)
    assert member is not None
    assert member.next_due_at == member.subscribed_at + timedelta(days=2)


async def test_a_sequence_without_active_email_has_nothing_due(api: Api, sessionmaker: Maker) -> None:
    sid = await _sequence(api)
    cid = await _contact(api)
    await api.created(f"/contacts/{cid}/sequences", {"sequence_id": sid})
    member = await _membership(sessionmaker, cid, sid)
    assert member is not None
    assert member.next_due_at is None
    # Its first email arrives later: the member is now due for it.
    await _email(api, sid, delay=3, unit="hour")
    member = await _membership(sessionmaker, cid, sid)
    assert member is not None
    assert member.next_due_at == member.subscribed_at + timedelta(hours=3)


async def test_leave_a_sequence(api: Api, sessionmaker: Maker, account: Tenant) -> None:
    sid = await _sequence(api)
    other = await _sequence(api, "Other")
    cid = await _contact(api)
    await api.created(f"/contacts/{cid}/sequences", {"sequence_id": sid})
    await api.created(f"/contacts/{cid}/sequences", {"sequence_id": other})
    left = await api.delete(f"/contacts/{cid}/sequences/{sid}")
    assert left.status_code == 204
    assert left.content == b""
    assert [s["sequence_id"] for s in (await api.get(f"/contacts/{cid}")).json()["sequences"]] == [other]
    assert (await api.delete(f"/contacts/{cid}/sequences/{sid}")).status_code == 204  # not a member: still 204
    assert (await api.delete(f"/contacts/{cid}/sequences/999999999")).status_code == 404
    assert (await api.delete(f"/contacts/999999999/sequences/{sid}")).status_code == 404
    assert (await api.delete(f"/contacts/{cid}/sequences/abc")).status_code == 404
    assert [t for t, _, _ in await _events(sessionmaker, account, "sequence.")] == [
        "sequence.subscribed",
        "sequence.subscribed",
        "sequence.unsubscribed",
    ]


async def test_join_input_is_validated(api: Api) -> None:
    sid = await _sequence(api)
    cid = await _contact(api)
    path = f"/contacts/{cid}/sequences"
    unknown = await api.post(path, {"sequence_id": 999999999})
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == {"sequence_id": ["The selected sequence id is invalid."]}
    for bad in (None, "abc", "1", 0, -1, 1.5, 2**64, [sid]):
        response = await api.post(path, {"sequence_id": bad})
        assert response.status_code == 422, bad
        assert list(response.json()["errors"]) == ["sequence_id"]
    assert (await api.post(path, {})).json()["errors"] == {"sequence_id": ["The sequence id field is required."]}
    assert (await api.post("/contacts/999999999/sequences", {"sequence_id": sid})).status_code == 404
    assert (await api.get(f"/contacts/{cid}")).json()["sequences"] == []


async def test_unsubscribe_leaves_every_sequence(api: Api, sessionmaker: Maker, account: Tenant) -> None:
    first, second = await _sequence(api, "First"), await _sequence(api, "Second")
    cid = await _contact(api)
    for sid in (first, second):
        await api.created(f"/contacts/{cid}/sequences", {"sequence_id": sid})
    assert (await api.delete(f"/contacts/{cid}/unsubscribe")).status_code == 204
    contact = (await api.get(f"/contacts/{cid}")).json()
    assert contact["status"] == "unsubscribed"
    assert contact["sequences"] == []
    assert await _membership(sessionmaker, cid, first) is None
    events = await _events(sessionmaker, account, "")
    assert [(t, d) for t, _, d in events if t != "sequence.subscribed"] == [
        ("contact.created", {}),
        ("contact.unsubscribed", {}),
        ("sequence.unsubscribed", {"sequence_id": first}),
        ("sequence.unsubscribed", {"sequence_id": second}),
    ]


async def test_contacts_list_shows_sequences_and_searches_by_sequence_name(api: Api) -> None:
    football, tennis = await _sequence(api, "Football Lovers"), await _sequence(api, "Tennis Fans")
    ann, bob, cat = [await _contact(api, f"{name}@example.com") for name in ("ann", "bob", "cat")]
    for cid, sids in ((ann, [football]), (bob, [tennis, football]), (cat, [])):
        for sid in sids:
            await api.created(f"/contacts/{cid}/sequences", {"sequence_id": sid})

    async def emails(**params: Any) -> list[str]:
        response = await api.get("/contacts", **params)
        assert response.status_code == 200, response.text
        return [c["email"] for c in response.json()["data"]]

    assert await emails(search_by="sequence", keyword="FOOTBALL") == ["bob@example.com", "ann@example.com"]
    assert await emails(search_by="sequence", keyword="fans") == ["bob@example.com"]
    assert await emails(search_by="sequence", keyword="golf") == []
    # Both sequences' names hold an "s": Bob, in both, is counted once.
    matching_both = (await api.get("/contacts", search_by="sequence", keyword="s")).json()
    assert matching_both["meta"]["total"] == 2
    listed = {c["email"]: c["sequences"] for c in (await api.get("/contacts")).json()["data"]}
    assert {s["name"] for s in listed["bob@example.com"]} == {"Tennis Fans", "Football Lovers"}
    assert [s["sequence_id"] for s in listed["ann@example.com"]] == [football]
    assert listed["cat@example.com"] == []


@contextmanager
def _counting_queries(app: FastAPI) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = app.state.roost.engine.sync_engine

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_contact_lists_load_sequences_without_a_query_per_contact(api: Api, app: FastAPI) -> None:
    sid = await _sequence(api)

    async def queries_for_list(count: int) -> int:
        for n in range(count):
            cid = await _contact(api, f"c{count}-{n}@example.com")
            await api.created(f"/contacts/{cid}/sequences", {"sequence_id": sid})
        with _counting_queries(app) as statements:
            response = await api.get("/contacts", per_page=100)
        assert response.status_code == 200
        assert all(len(c["sequences"]) == 1 for c in response.json()["data"])
        return len(statements)

    assert await queries_for_list(2) == await queries_for_list(8)
