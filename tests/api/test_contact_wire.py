"""The contact reads send JSON that the database writes (ContactRepository.wire); the writes render
the same shape in Python (ContactOut). A client must not be able to tell them apart."""

from __future__ import annotations

from typing import Any

from tests.helpers import Api

SENDER = {"email": "john@beats.com", "name": "John", "address": "1 Main St"}
AWKWARD = 'He said "hi" \\ then\nleft\ttab, 😀 «ünïcode» </script>'


async def _written_contacts(api: Api) -> list[dict[str, Any]]:
    """Contacts in every shape a write answers with, each as its last write answered it."""
    await api.created("/fields", {"label": "Note", "type": "text", "key": "note"})
    await api.created("/fields", {"label": "Plan", "type": "text", "key": "plan"})
    sequence = await api.created("/sequences", {"name": "Welcome «1»", "description": AWKWARD, "sender": SENDER})
    form = await api.created("/forms", {"name": "Signup"})
    answers = []

    bare = await api.created("/contacts", {"email": "bare@example.com"})
    answers.append(bare)

    full = await api.created(
        "/contacts",
        {
            "email": "Zoë.Quote@Example.com",
            "fields": {"first_name": AWKWARD, "note": AWKWARD, "plan": ""},
            "ipaddress": "2001:db8::1",
        },
    )
    await api.post(f"/contacts/{full['contact_id']}/tags", {"tags": ["zeta", AWKWARD]})
    await api.post(f"/contacts/{full['contact_id']}/tags", {"tags": ["alpha"]})
    answers.append(
        await api.created(f"/contacts/{full['contact_id']}/sequences", {"sequence_id": sequence["sequence_id"]})
    )

    cleared = await api.created("/contacts", {"email": "cleared@example.com", "fields": {"note": "x", "plan": "y"}})
    patched = await api.patch(f"/contacts/{cleared['contact_id']}", {"fields": {"note": None, "last_name": "Ng"}})
    assert patched.status_code == 200, patched.text
    answers.append(patched.json())

    # Through a double opt-in form: unconfirmed, so its confirmed_at and its membership's are null.
    pending = await api.created("/contacts", {"email": "pending@example.com", "form_id": form["form_id"]})
    answers.append(
        await api.created(f"/contacts/{pending['contact_id']}/sequences", {"sequence_id": sequence["sequence_id"]})
    )

    leaving = await api.created("/contacts", {"email": "leaving@example.com"})
    await api.post(f"/contacts/{leaving['contact_id']}/sequences", {"sequence_id": sequence["sequence_id"]})
    assert (await api.delete(f"/contacts/{leaving['contact_id']}/unsubscribe")).status_code == 204
    renamed = await api.patch(f"/contacts/{leaving['contact_id']}", {"fields": {"first_name": "Gone"}})
    assert renamed.json()["status"] == "unsubscribed"
    answers.append(renamed.json())
    return answers


async def test_reads_answer_exactly_what_the_writes_answered(api: Api) -> None:
    written = await _written_contacts(api)
    assert any(contact["sequences"] and contact["sequences"][0]["confirmed_at"] is None for contact in written)
    assert any(contact["confirmed_at"] is None for contact in written)
    for contact in written:
        fetched = (await api.get(f"/contacts/{contact['contact_id']}")).json()
        assert fetched == contact
        assert list(fetched) == list(contact)  # the members in the same order too

    listed = (await api.get("/contacts", per_page=50)).json()["data"]
    by_id = {contact["contact_id"]: contact for contact in written}
    assert {contact["contact_id"]: contact for contact in listed} == by_id

    searched = (await api.get("/contacts", search_by="tag", keyword="alpha")).json()
    full = next(contact for contact in written if contact["tags"])
    assert searched["data"] == [full]
    # In the order applied; the two of one request in the order their tags were created.
    assert [tag["name"] for tag in full["tags"]] == ["zeta", AWKWARD, "alpha"]
