"""Notes, tasks and appointments nested under contacts (seed 002, CONVENTIONS §7)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.models import Appointment, Event, Note, Task
from tests.helpers import Api, Tenant

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


async def _contact(api: Api) -> int:
    contact_id: int = (await api.created("/contacts", {"email": "crm@example.com"}))["contact_id"]
    return contact_id


async def test_note_lifecycle(api: Api, sessionmaker: async_sessionmaker[AsyncSession], account: Tenant) -> None:
    cid = await _contact(api)
    note = await api.created(f"/contacts/{cid}/notes", {"body": "Called, wants the pro plan."})
    assert set(note) == {"note_id", "contact_id", "body", "created_at", "updated_at"}
    assert note["contact_id"] == cid
    assert TIMESTAMP.match(note["created_at"])
    path = f"/contacts/{cid}/notes/{note['note_id']}"
    assert (await api.get(path)).json() == note

    patched = await api.patch(path, {"body": "Called twice."})
    assert patched.json()["body"] == "Called twice."
    replaced = await api.put(path, {"body": "Replaced."})
    assert replaced.json()["body"] == "Replaced."
    assert (await api.put(path, {})).status_code == 422  # PUT needs the whole record

    listing = (await api.get(f"/contacts/{cid}/notes", keyword="REPLACED")).json()
    assert [n["note_id"] for n in listing["data"]] == [note["note_id"]]

    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404
    async with sessionmaker() as session:
        types = list(await session.scalars(select(Event.type).where(Event.account_id == account.id).order_by(Event.id)))
    assert types == ["contact.created", "note.created", "note.updated", "note.updated", "note.deleted"]


async def test_task_status_transitions_stamp_completed_at(api: Api) -> None:
    cid = await _contact(api)
    task = await api.created(f"/contacts/{cid}/tasks", {"title": "Send the quote", "due_at": "2030-01-15 09:30:00"})
    assert task["status"] == "open"
    assert task["due_at"] == "2030-01-15 09:30:00"
    assert task["completed_at"] is None
    assert task["description"] == ""
    path = f"/contacts/{cid}/tasks/{task['task_id']}"

    done = (await api.patch(path, {"status": "completed"})).json()
    assert TIMESTAMP.match(done["completed_at"])
    again = (await api.patch(path, {"title": "Send the signed quote"})).json()
    assert again["completed_at"] == done["completed_at"]  # unchanged by unrelated edits
    reopened = (await api.patch(path, {"status": "open"})).json()
    assert reopened["completed_at"] is None

    offset = await api.patch(path, {"due_at": "2030-01-15T11:30:00+02:00"})
    assert offset.json()["due_at"] == "2030-01-15 09:30:00"  # stored and shown in UTC
    cleared = await api.patch(path, {"due_at": None})
    assert cleared.json()["due_at"] is None

    bad = await api.patch(path, {"status": "archived"})
    assert bad.status_code == 422
    assert bad.json()["errors"] == {"status": ["The selected status is invalid."]}
    bad_date = await api.post(f"/contacts/{cid}/tasks", {"title": "x", "due_at": "next tuesday"})
    assert bad_date.status_code == 422
    assert list(bad_date.json()["errors"]) == ["due_at"]

    ordered = (await api.get(f"/contacts/{cid}/tasks", order_by="due_at")).json()
    assert ordered["meta"]["total"] == 1


async def test_appointment_cannot_end_before_it_starts(api: Api) -> None:
    cid = await _contact(api)
    refused = await api.post(
        f"/contacts/{cid}/appointments",
        {"title": "Demo", "starts_at": "2030-02-01 10:00:00", "ends_at": "2030-02-01 09:00:00"},
    )
    assert refused.status_code == 422
    assert list(refused.json()["errors"]) == ["ends_at"]
    assert (await api.get(f"/contacts/{cid}/appointments")).json()["meta"]["total"] == 0

    appointment = await api.created(
        f"/contacts/{cid}/appointments",
        {"title": "Demo", "starts_at": "2030-02-01 10:00:00", "ends_at": "2030-02-01 11:00:00", "location": "Zoom"},
    )
    assert appointment["status"] == "scheduled"
    path = f"/contacts/{cid}/appointments/{appointment['appointment_id']}"
    moved_badly = await api.patch(path, {"starts_at": "2030-02-01 12:00:00"})
    assert moved_badly.status_code == 422
    assert (await api.get(path)).json()["starts_at"] == "2030-02-01 10:00:00"  # nothing changed
    cancelled = await api.patch(path, {"status": "cancelled"})
    assert cancelled.json()["status"] == "cancelled"
    replaced = (await api.put(path, {"title": "Call", "starts_at": "2030-03-01 08:00:00"})).json()
    assert replaced["ends_at"] is None
    assert replaced["location"] == ""
    assert replaced["status"] == "scheduled"


async def test_records_belong_to_their_contact(api: Api) -> None:
    first = await _contact(api)
    second = (await api.created("/contacts", {"email": "second@example.com"}))["contact_id"]
    note = await api.created(f"/contacts/{first}/notes", {"body": "mine"})
    assert (await api.get(f"/contacts/{second}/notes/{note['note_id']}")).status_code == 404
    assert (await api.get(f"/contacts/{second}/notes")).json()["data"] == []
    assert (await api.get("/contacts/999999999/notes")).status_code == 404
    assert (await api.post("/contacts/999999999/notes", {"body": "nobody's"})).status_code == 404


async def test_deleting_a_contact_deletes_its_records(api: Api, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    cid = await _contact(api)
    note = await api.created(f"/contacts/{cid}/notes", {"body": "personal data"})
    task = await api.created(f"/contacts/{cid}/tasks", {"title": "Call back"})
    appointment = await api.created(
        f"/contacts/{cid}/appointments", {"title": "Demo", "starts_at": "2030-02-01 10:00:00"}
    )
    assert (await api.delete(f"/contacts/{cid}")).status_code == 204
    async with sessionmaker() as session:
        assert await session.get(Note, note["note_id"]) is None
        assert await session.get(Task, task["task_id"]) is None
        assert await session.get(Appointment, appointment["appointment_id"]) is None
