from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.contact import service as contact_service
from roost.contact.types import ContactView, NewContact
from roost.db import no_gate
from roost.db.group_commit import GroupCommit
from roost.errors import Invalid
from roost.models import Contact, Event
from tests.helpers import Api, Tenant, eventually

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


async def _events(sessionmaker: async_sessionmaker[AsyncSession], account: Tenant) -> list[tuple[str, Any]]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(Event).where(Event.account_id == account.id).order_by(Event.id))
        return [(event.type, event.contact_id) for event in rows]


async def test_create_contact_as_in_the_seed(api: Api) -> None:
    await api.created("/fields", {"label": "Phone", "type": "text", "key": "phone"})
    contact = await api.created(
        "/contacts",
        {
            "email": "david.martin@example.net",
            "fields": {"first_name": "David", "last_name": "Martin", "phone": "08765286542"},
            "ipaddress": "192.168.10.100",
        },
    )
    assert contact["email"] == "david.martin@example.net"
    assert contact["fields"] == {"first_name": "David", "last_name": "Martin", "phone": "08765286542"}
    assert contact["ipaddress"] == "192.168.10.100"
    assert contact["tags"] == []
    assert contact["sequences"] == []
    assert contact["status"] == "active"
    # Without a form the contact is confirmed at once (CONVENTIONS §7).
    assert TIMESTAMP.match(contact["subscribed_at"])
    assert contact["confirmed_at"] == contact["subscribed_at"]
    assert TIMESTAMP.match(contact["created_at"])
    fetched = await api.get(f"/contacts/{contact['contact_id']}")
    assert fetched.json() == contact


async def test_email_is_validated_and_unique_ignoring_case(api: Api) -> None:
    await api.created("/contacts", {"email": "Someone@Example.com"})
    duplicate = await api.post("/contacts", {"email": "someone@example.COM"})
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"] == {"email": ["The email has already been taken."]}
    for bad in ("not-an-email", "a@", "@b.com", "a b@c.com", 5):
        response = await api.post("/contacts", {"email": bad})
        assert response.status_code == 422, bad
        assert "email" in response.json()["errors"]
    assert (await api.get("/contacts")).json()["meta"]["total"] == 1


async def test_overlapping_creates_are_each_created_or_refused_on_their_own(
    api: Api, sessionmaker: async_sessionmaker[AsyncSession], account: Tenant
) -> None:
    # Creates that arrive together are written in one transaction (group commit): each must still
    # get its own answer, as if it had come alone.
    await api.created("/fields", {"label": "Plan", "type": "text", "key": "plan", "default": "free"})
    readers: list[dict[str, Any]] = [
        {"email": f"reader{n}@example.com", "fields": {"first_name": f"Reader {n}"}} for n in range(12)
    ]
    twins = [{"email": "Twin@example.com"}, {"email": "twin@EXAMPLE.com"}, {"email": "TWIN@example.com"}]
    refused = [
        {"email": "odd@example.com", "fields": {"shoe_size": "44"}},
        {"email": "far@example.com", "ipaddress": "300.1.2.3"},
    ]
    responses = await asyncio.gather(*(api.post("/contacts", body) for body in [*readers, *twins, *refused]))
    made, twin_answers, (odd, far) = responses[:12], responses[12:15], responses[15:]

    assert [response.status_code for response in made] == [201] * 12
    for body, response in zip(readers, made, strict=True):
        contact = response.json()
        assert (contact["email"], contact["fields"]) == (
            body["email"],
            {**body["fields"], "last_name": None, "plan": "free"},
        )
        assert (await api.get(f"/contacts/{contact['contact_id']}")).json() == contact
    assert sorted(response.status_code for response in twin_answers) == [201, 422, 422]
    for response in twin_answers:
        if response.status_code == 422:
            assert response.json()["errors"] == {"email": ["The email has already been taken."]}
    assert odd.status_code == 422
    assert list(odd.json()["errors"]) == ["fields.shoe_size"]
    assert far.status_code == 422
    assert list(far.json()["errors"]) == ["ipaddress"]

    created_ids = {response.json()["contact_id"] for response in responses if response.status_code == 201}
    assert len(created_ids) == 13
    assert (await api.get("/contacts", per_page=50)).json()["meta"]["total"] == 13
    events = await _events(sessionmaker, account)
    assert sorted(events) == sorted(("contact.created", contact_id) for contact_id in created_ids)


async def test_create_many_answers_each_contact_in_order(
    sessionmaker: async_sessionmaker[AsyncSession], account: Tenant, other_account: Tenant
) -> None:
    async with sessionmaker() as session:
        session.add(Contact(account_id=account.id, email="known@example.com", fields={}, status="active"))
        await session.commit()
    wanted = [
        NewContact(account.id, "first@example.com", {"first_name": "First", "last_name": None}),
        NewContact(account.id, "KNOWN@example.com", {}),
        NewContact(other_account.id, "known@example.com", {}),
        NewContact(account.id, "First@Example.com", {}),
        NewContact(account.id, "typo@example.com", {"nickname": "T"}),
        NewContact(account.id, "last@example.com", {}, ipaddress="2001:db8::1"),
    ]
    async with sessionmaker() as session:
        outcomes = await contact_service.create_many(session, wanted)
        await session.commit()
    first, known, elsewhere, first_again, typo, last = outcomes
    assert isinstance(first, ContactView)
    assert (first.contact.email, first.contact.first_name, first.contact.last_name) == (
        "first@example.com",
        "First",
        None,
    )
    assert (first.contact.status, first.contact.confirmed_at) == ("active", first.contact.subscribed_at)
    assert isinstance(known, Invalid)
    assert known.errors == {"email": ["The email has already been taken."]}
    # Another account's address is its own business.
    assert isinstance(elsewhere, ContactView)
    assert elsewhere.contact.account_id == other_account.id
    assert isinstance(first_again, Invalid)
    assert isinstance(typo, Invalid)
    assert list(typo.errors) == ["fields.nickname"]
    assert isinstance(last, ContactView)
    assert last.contact.ipaddress == "2001:db8::1"
    async with sessionmaker() as session:
        stored = await session.scalars(
            select(Contact.email).where(Contact.account_id == account.id).order_by(Contact.id)
        )
        assert list(stored) == ["known@example.com", "first@example.com", "last@example.com"]


async def test_a_create_racing_another_writer_is_refused_and_spares_its_batch(
    sessionmaker: async_sessionmaker[AsyncSession], account: Tenant
) -> None:
    async with sessionmaker() as rival:
        if rival.get_bind().dialect.name != "postgresql":
            pytest.skip("the race needs concurrent writers; SQLite's writers take turns")
        # Another process's contact, not yet committed: the batch's check cannot see it, and its
        # INSERT of the same address waits on it.
        rival.add(Contact(account_id=account.id, email="contested@example.com", fields={}, status="active"))
        await rival.flush()
        creates = GroupCommit(sessionmaker, no_gate, contact_service.create_many, name="racing creates")
        batch = asyncio.gather(
            creates(NewContact(account.id, "Contested@example.com", {})),
            creates(NewContact(account.id, "bystander@example.com", {})),
            return_exceptions=True,
        )
        await eventually(lambda: _waiting_on_a_lock(sessionmaker), within=10)
        await rival.commit()
    contested, bystander = await batch
    # The batch failed on the unique index as a whole; each create was then written on its own.
    assert isinstance(contested, Invalid)
    assert contested.errors == {"email": ["The email has already been taken."]}
    assert isinstance(bystander, ContactView)
    assert bystander.contact.email == "bystander@example.com"


async def _waiting_on_a_lock(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    async with sessionmaker() as session:
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(await session.scalar(waiting))


async def test_unknown_field_keys_and_bad_ip_are_refused(api: Api) -> None:
    unknown = await api.post("/contacts", {"email": "x@example.com", "fields": {"shoe_size": "44"}})
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == {
        "fields.shoe_size": ["The fields.shoe_size field is not a defined custom field."]
    }
    bad_ip = await api.post("/contacts", {"email": "x@example.com", "ipaddress": "300.1.1.1"})
    assert bad_ip.json()["errors"] == {"ipaddress": ["The ipaddress must be a valid IP address."]}
    ipv6 = await api.created("/contacts", {"email": "x@example.com", "ipaddress": "2001:db8::1"})
    assert ipv6["ipaddress"] == "2001:db8::1"
    nested = await api.post("/contacts", {"email": "y@example.com", "fields": {"first_name": {"a": 1}}})
    assert nested.status_code == 422
    assert list(nested.json()["errors"]) == ["fields.first_name"]


async def test_unknown_form_is_refused(api: Api) -> None:
    response = await api.post("/contacts", {"email": "f@example.com", "form_id": 12345})
    assert response.status_code == 422
    assert "form_id" in response.json()["errors"]


async def test_patch_merges_and_null_clears(api: Api) -> None:
    await api.created("/fields", {"label": "Phone", "type": "text", "key": "phone"})
    contact = await api.created(
        "/contacts",
        {"email": "david.martin@example.net", "fields": {"first_name": "David", "last_name": "Martin", "phone": "1"}},
    )
    path = f"/contacts/{contact['contact_id']}"
    patched = await api.patch(path, {"email": "david.martinez@example.net", "fields": {"last_name": "Martinez"}})
    assert patched.status_code == 200
    body = patched.json()
    assert body["email"] == "david.martinez@example.net"
    assert body["fields"] == {"first_name": "David", "last_name": "Martinez", "phone": "1"}

    cleared = (await api.patch(path, {"fields": {"phone": None, "first_name": None}})).json()
    assert cleared["fields"] == {"first_name": None, "last_name": "Martinez"}
    assert cleared["email"] == "david.martinez@example.net"

    unchanged = (await api.patch(path, {})).json()
    assert unchanged == cleared


async def test_patch_cannot_take_another_contacts_email(api: Api) -> None:
    await api.created("/contacts", {"email": "one@example.com"})
    two = await api.created("/contacts", {"email": "two@example.com"})
    response = await api.patch(f"/contacts/{two['contact_id']}", {"email": "ONE@example.com"})
    assert response.status_code == 422
    assert (await api.get(f"/contacts/{two['contact_id']}")).json()["email"] == "two@example.com"


async def test_apply_and_remove_tags(api: Api, sessionmaker: async_sessionmaker[AsyncSession], account: Tenant) -> None:
    contact = await api.created("/contacts", {"email": "t@example.com"})
    path = f"/contacts/{contact['contact_id']}"
    tagged = await api.post(f"{path}/tags", {"tags": ["Special", "VIP"]})
    assert tagged.status_code == 201
    names = [t["name"] for t in tagged.json()["tags"]]
    assert names == ["Special", "VIP"]
    assert all(TIMESTAMP.match(t["tagged_at"]) for t in tagged.json()["tags"])

    again = await api.post(f"{path}/tags", {"tags": ["vip", "New"]})
    assert [t["name"] for t in again.json()["tags"]] == ["Special", "VIP", "New"]
    tags = (await api.get("/tags")).json()
    assert tags["meta"]["total"] == 3  # "vip" matched the existing VIP tag

    vip_id = next(t["tag_id"] for t in again.json()["tags"] if t["name"] == "VIP")
    assert (await api.delete(f"{path}/tags/{vip_id}")).status_code == 204
    assert (await api.delete(f"{path}/tags/{vip_id}")).status_code == 204  # not applied: still 204
    assert (await api.delete(f"{path}/tags/999999999")).status_code == 404
    after = (await api.get(path)).json()
    assert [t["name"] for t in after["tags"]] == ["Special", "New"]

    events = await _events(sessionmaker, account)
    cid = contact["contact_id"]
    assert events == [
        ("contact.created", cid),
        ("tag.applied", cid),
        ("tag.applied", cid),
        ("tag.applied", cid),
        ("tag.removed", cid),
    ]


async def test_deleting_a_tag_untags_contacts_without_events(
    api: Api, sessionmaker: async_sessionmaker[AsyncSession], account: Tenant
) -> None:
    contact = await api.created("/contacts", {"email": "t@example.com"})
    tagged = (await api.post(f"/contacts/{contact['contact_id']}/tags", {"tags": ["Gone"]})).json()
    await api.delete(f"/tags/{tagged['tags'][0]['tag_id']}")
    assert (await api.get(f"/contacts/{contact['contact_id']}")).json()["tags"] == []
    assert [e for e, _ in await _events(sessionmaker, account)] == ["contact.created", "tag.applied"]


async def test_tags_body_is_validated(api: Api) -> None:
    contact = await api.created("/contacts", {"email": "t@example.com"})
    path = f"/contacts/{contact['contact_id']}/tags"
    assert (await api.post(path, {"tags": []})).status_code == 422
    assert (await api.post(path, {"tags": "VIP"})).status_code == 422
    wrong_item = await api.post(path, {"tags": ["ok", 3]})
    assert wrong_item.json()["errors"] == {"tags.1": ["The tags.1 must be a string."]}
    assert (await api.get("/tags")).json()["meta"]["total"] == 0


async def test_unsubscribe_and_delete(
    api: Api, sessionmaker: async_sessionmaker[AsyncSession], account: Tenant
) -> None:
    contact = await api.created("/contacts", {"email": "u@example.com"})
    path = f"/contacts/{contact['contact_id']}"
    response = await api.delete(f"{path}/unsubscribe")
    assert response.status_code == 204
    assert (await api.get(path)).json()["status"] == "unsubscribed"
    assert (await api.delete(f"{path}/unsubscribe")).status_code == 204
    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404
    assert (await api.delete(path)).status_code == 404
    assert [e for e, _ in await _events(sessionmaker, account)] == [
        "contact.created",
        "contact.unsubscribed",
        "contact.deleted",
    ]


async def test_contact_search_and_order(api: Api) -> None:
    people = [
        ("ann@alpha.com", "Ann", "Zed", ["Paid"]),
        ("bob@beta.com", "Bob", "Young", ["Free"]),
        ("cat@alpha.com", "Cat", "Xavier", ["Paid", "VIP"]),
    ]
    for email, first, last, tags in people:
        created = await api.created("/contacts", {"email": email, "fields": {"first_name": first, "last_name": last}})
        await api.post(f"/contacts/{created['contact_id']}/tags", {"tags": tags})

    async def emails(**params: Any) -> list[str]:
        response = await api.get("/contacts", **params)
        assert response.status_code == 200, response.text
        return [c["email"] for c in response.json()["data"]]

    assert await emails() == ["cat@alpha.com", "bob@beta.com", "ann@alpha.com"]
    assert await emails(keyword="ann zed") == ["ann@alpha.com"]  # search_by defaults to name
    assert await emails(search_by="email", keyword="ALPHA") == ["cat@alpha.com", "ann@alpha.com"]
    assert await emails(search_by="tag", keyword="paid") == ["cat@alpha.com", "ann@alpha.com"]
    assert await emails(search_by="tag", keyword="vip") == ["cat@alpha.com"]
    assert await emails(search_by="tag", keyword="nothing") == []
    assert await emails(order_by="name", sort="asc") == ["ann@alpha.com", "bob@beta.com", "cat@alpha.com"]
    assert await emails(order_by="email", sort="desc") == ["cat@alpha.com", "bob@beta.com", "ann@alpha.com"]
    listed = (await api.get("/contacts", search_by="tag", keyword="paid")).json()
    cat = listed["data"][0]
    assert [t["name"] for t in cat["tags"]] == ["Paid", "VIP"]
    bad = await api.get("/contacts", search_by="phone")
    assert bad.status_code == 422
    assert bad.json()["errors"] == {"search_by": ["The selected search by is invalid."]}
    assert (await api.get("/contacts", order_by="created_at")).status_code == 422


async def test_search_by_tag_pages_and_totals_count_each_matching_contact_once(api: Api, other_api: Api) -> None:
    async def tagged(email: str, tags: list[str], client: Api = api) -> int:
        created = await client.created("/contacts", {"email": email})
        await client.post(f"/contacts/{created['contact_id']}/tags", {"tags": tags})
        return int(created["contact_id"])

    both = await tagged("both@example.com", ["Gold member", "Silver member"])
    await tagged("gold@example.com", ["Gold member"])
    await tagged("none@example.com", ["Prospect"])
    await tagged("elsewhere@example.com", ["Gold member"], client=other_api)

    async def total(keyword: str) -> int:
        response = await api.get("/contacts", search_by="tag", keyword=keyword, per_page=1)
        assert response.status_code == 200, response.text
        return int(response.json()["meta"]["total"])

    # Two tags match "member"; the contact that has both counts once, and only this account's count.
    assert await total("member") == 2
    assert await total("gold") == 2
    assert await total("prospect") == 1
    assert await total("nobody") == 0

    async def pages(**params: Any) -> list[list[str]]:
        listed = []
        for page in (1, 2, 3):
            response = await api.get("/contacts", search_by="tag", keyword="member", per_page=1, page=page, **params)
            assert response.status_code == 200, response.text
            assert response.json()["meta"]["total"] == 2
            listed.append([contact["email"] for contact in response.json()["data"]])
        return listed

    # Newest first by default; the contact with both tags appears once, on one page.
    assert await pages() == [["gold@example.com"], ["both@example.com"], []]
    assert await pages(sort="asc") == [["both@example.com"], ["gold@example.com"], []]
    # Ordered by another column the page is not a slice of the links (contact_service.list_page):
    # the same contacts, once each, and the same total.
    ordered = (await api.get("/contacts", search_by="tag", keyword="member", order_by="email")).json()
    assert [contact["email"] for contact in ordered["data"]] == ["both@example.com", "gold@example.com"]
    assert ordered["meta"]["total"] == 2
    assert (await api.delete(f"/contacts/{both}")).status_code == 204
    assert await total("member") == 1


async def test_put_replaces_email_fields_and_tag_set(
    api: Api, sessionmaker: async_sessionmaker[AsyncSession], account: Tenant
) -> None:
    await api.created("/fields", {"label": "Phone", "type": "text", "key": "phone"})
    contact = await api.created(
        "/contacts",
        {
            "email": "old@example.com",
            "fields": {"first_name": "Old", "last_name": "Name", "phone": "1"},
            "ipaddress": "10.0.0.1",
        },
    )
    path = f"/contacts/{contact['contact_id']}"
    await api.post(f"{path}/tags", {"tags": ["Keep", "Drop"]})

    replaced = await api.put(
        path, {"email": "new@example.com", "fields": {"first_name": "New"}, "tags": ["keep", "Add"]}
    )
    assert replaced.status_code == 200
    body = replaced.json()
    assert body["email"] == "new@example.com"
    assert body["fields"] == {"first_name": "New", "last_name": None}  # what was not given is cleared
    assert body["ipaddress"] == "10.0.0.1"  # kept unless given
    assert [t["name"] for t in body["tags"]] == ["Keep", "Add"]

    without_tags = (await api.put(path, {"email": "new@example.com"})).json()
    assert [t["name"] for t in without_tags["tags"]] == ["Keep", "Add"]  # no `tags`: tag set untouched

    assert (await api.put(path, {"fields": {}})).status_code == 422  # email is required
    async with sessionmaker() as session:
        rows = await session.execute(
            select(Event.type, Event.data)
            .where(Event.account_id == account.id, Event.type.like("tag.%"))
            .order_by(Event.id)
        )
        tag_events = [(type_, data["tag"]) for type_, data in rows]
    assert tag_events == [
        ("tag.applied", "Keep"),
        ("tag.applied", "Drop"),
        ("tag.applied", "Add"),
        ("tag.removed", "Drop"),
    ]
