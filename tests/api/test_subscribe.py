"""Subscribing through a form, with and without double opt-in, and confirming (CONVENTIONS §7: forms)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.contact import service as contact_service
from roost.errors import NotFound
from roost.models import Contact, Event
from tests.helpers import Api, Tenant

SENDER = {"email": "john@beats.com", "name": "John", "address": "1 Main St"}
Maker = async_sessionmaker[AsyncSession]


async def _form(api: Api, *, double_optin: bool) -> dict[str, Any]:
    vip = (await api.created("/tags", {"name": "VIP"}))["tag_id"]
    lead = (await api.created("/tags", {"name": "Lead"}))["tag_id"]
    sequence = await api.created("/sequences", {"name": "Football Lovers", "sender": SENDER})
    return await api.created(
        "/forms",
        {"name": "Form", "double_optin": double_optin, "tags": [vip, lead], "sequence_id": sequence["sequence_id"]},
    )


async def _events(sessionmaker: Maker, account: Tenant) -> list[tuple[str, Any]]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(Event).where(Event.account_id == account.id).order_by(Event.id))
        return [(e.type, e.data) for e in rows]


async def _set_status(sessionmaker: Maker, contact_id: int, status: str) -> None:
    async with sessionmaker() as session, session.begin():
        await session.execute(update(Contact).where(Contact.id == contact_id).values(status=status))


def _applied(contact: dict[str, Any]) -> tuple[list[str], list[str]]:
    return [t["name"] for t in contact["tags"]], [s["name"] for s in contact["sequences"]]


async def test_create_through_a_single_opt_in_form(api: Api, sessionmaker: Maker, account: Tenant) -> None:
    form = await _form(api, double_optin=False)
    contact = await api.created("/contacts", {"email": "new@example.com", "form_id": form["form_id"]})
    assert contact["status"] == "active"
    assert contact["confirmed_at"] is not None
    assert contact["subscribed_at"] is not None
    assert _applied(contact) == (["VIP", "Lead"], ["Football Lovers"])
    assert contact["sequences"][0]["confirmed_at"] is not None
    cid = contact["contact_id"]
    events = [(t, d) for t, d in await _events(sessionmaker, account)]
    assert events[-5:] == [
        ("contact.created", {}),
        ("contact.subscribed", {"form_id": form["form_id"]}),
        ("tag.applied", {"tag_id": form["tags"][0], "tag": "VIP"}),
        ("tag.applied", {"tag_id": form["tags"][1], "tag": "Lead"}),
        ("sequence.subscribed", {"sequence_id": form["sequence_id"]}),
    ]
    assert (await api.get(f"/contacts/{cid}")).json() == contact


async def test_create_through_a_double_opt_in_form_waits_for_confirmation(
    api: Api, sessionmaker: Maker, account: Tenant
) -> None:
    form = await _form(api, double_optin=True)
    contact = await api.created("/contacts", {"email": "new@example.com", "form_id": form["form_id"]})
    assert contact["status"] == "unconfirmed"
    assert contact["subscribed_at"] is not None
    assert contact["confirmed_at"] is None
    assert _applied(contact) == ([], [])
    events = await _events(sessionmaker, account)
    assert events[-2:] == [
        ("contact.created", {}),
        ("contact.confirmation_requested", {"form_id": form["form_id"]}),
    ]


async def test_confirm_applies_the_form_once(api: Api, sessionmaker: Maker, account: Tenant) -> None:
    form = await _form(api, double_optin=True)
    contact = await api.created("/contacts", {"email": "new@example.com", "form_id": form["form_id"]})
    cid = contact["contact_id"]
    # Joined by hand while unconfirmed: that membership is confirmed along with the contact.
    other = await api.created("/sequences", {"name": "Other", "sender": SENDER})
    early = (await api.post(f"/contacts/{cid}/sequences", {"sequence_id": other["sequence_id"]})).json()
    assert early["sequences"][0]["confirmed_at"] is None

    for _ in range(2):  # confirming again changes nothing
        async with sessionmaker() as session, session.begin():
            view = await contact_service.confirm(
                session, account_id=account.id, contact_id=cid, form_id=form["form_id"]
            )
            assert view.contact.status == "active"

    confirmed = (await api.get(f"/contacts/{cid}")).json()
    assert confirmed["status"] == "active"
    assert confirmed["confirmed_at"] is not None
    assert confirmed["subscribed_at"] == contact["subscribed_at"]
    tags, sequences = _applied(confirmed)
    assert tags == ["VIP", "Lead"]
    assert sorted(sequences) == ["Football Lovers", "Other"]
    assert all(s["confirmed_at"] is not None for s in confirmed["sequences"])
    types = [t for t, _ in await _events(sessionmaker, account)]
    assert types[types.index("contact.confirmation_requested") :] == [
        "contact.confirmation_requested",
        "sequence.subscribed",
        "contact.subscribed",
        "tag.applied",
        "tag.applied",
        "sequence.subscribed",
    ]

    async with sessionmaker() as session:
        with pytest.raises(NotFound):
            await contact_service.confirm(session, account_id=account.id, contact_id=cid, form_id=999999999)


async def test_confirm_is_scoped_to_the_account(
    api: Api, other_api: Api, sessionmaker: Maker, other_account: Tenant
) -> None:
    form = await _form(api, double_optin=True)
    contact = await api.created("/contacts", {"email": "new@example.com", "form_id": form["form_id"]})
    theirs = await other_api.created("/forms", {"name": "Theirs"})
    async with sessionmaker() as session:
        with pytest.raises(NotFound):
            await contact_service.confirm(
                session, account_id=other_account.id, contact_id=contact["contact_id"], form_id=theirs["form_id"]
            )
    assert (await api.get(f"/contacts/{contact['contact_id']}")).json()["status"] == "unconfirmed"


async def test_subscribe_an_existing_contact_as_in_the_seed(api: Api) -> None:
    await api.created("/fields", {"label": "Phone", "type": "text", "key": "phone"})
    form = await _form(api, double_optin=False)
    contact = await api.created("/contacts", {"email": "david@example.net", "fields": {"first_name": "David"}})
    path = f"/contacts/{contact['contact_id']}/subscribe"
    subscribed = await api.post(
        path, {"form_id": form["form_id"], "fields": {"last_name": "Martinez"}, "ipaddress": "192.168.10.100"}
    )
    assert subscribed.status_code == 201
    body = subscribed.json()
    assert body["fields"] == {"first_name": "David", "last_name": "Martinez"}
    assert body["ipaddress"] == "192.168.10.100"
    assert body["status"] == "active"
    assert body["confirmed_at"] == contact["confirmed_at"]  # it was already confirmed
    assert _applied(body) == (["VIP", "Lead"], ["Football Lovers"])
    again = await api.post(path, {"form_id": form["form_id"]})
    assert again.status_code == 201
    assert again.json() == body


async def test_an_active_contact_needs_no_second_confirmation(api: Api, sessionmaker: Maker, account: Tenant) -> None:
    form = await _form(api, double_optin=True)
    contact = await api.created("/contacts", {"email": "david@example.net"})
    body = (await api.post(f"/contacts/{contact['contact_id']}/subscribe", {"form_id": form["form_id"]})).json()
    assert body["status"] == "active"
    assert _applied(body) == (["VIP", "Lead"], ["Football Lovers"])
    assert "contact.confirmation_requested" not in [t for t, _ in await _events(sessionmaker, account)]


async def test_an_unsubscribed_contact_opts_in_again(api: Api, sessionmaker: Maker, account: Tenant) -> None:
    double = await _form(api, double_optin=True)
    contact = await api.created("/contacts", {"email": "david@example.net"})
    cid = contact["contact_id"]
    await api.delete(f"/contacts/{cid}/unsubscribe")
    pending = (await api.post(f"/contacts/{cid}/subscribe", {"form_id": double["form_id"]})).json()
    assert pending["status"] == "unconfirmed"
    assert pending["confirmed_at"] is None
    assert _applied(pending) == ([], [])
    assert (await _events(sessionmaker, account))[-1] == (
        "contact.confirmation_requested",
        {"form_id": double["form_id"]},
    )

    single = await api.created("/forms", {"name": "Single", "double_optin": False})
    await api.delete(f"/contacts/{cid}/unsubscribe")
    back = (await api.post(f"/contacts/{cid}/subscribe", {"form_id": single["form_id"]})).json()
    assert back["status"] == "active"
    assert back["confirmed_at"] is not None


@pytest.mark.parametrize(
    ("status", "why"), [("bounced", "has bounced"), ("complained", "has reported our mail as spam")]
)
async def test_undeliverable_addresses_cannot_subscribe(api: Api, sessionmaker: Maker, status: str, why: str) -> None:
    form = await _form(api, double_optin=False)
    contact = await api.created("/contacts", {"email": "gone@example.net"})
    await _set_status(sessionmaker, contact["contact_id"], status)
    response = await api.post(f"/contacts/{contact['contact_id']}/subscribe", {"form_id": form["form_id"]})
    assert response.status_code == 422
    assert response.json()["errors"] == {"email": [f"The email address {why}; it cannot be subscribed again."]}
    after = (await api.get(f"/contacts/{contact['contact_id']}")).json()
    assert after["status"] == status
    assert _applied(after) == ([], [])


async def test_subscribe_input_is_validated(api: Api) -> None:
    form = await _form(api, double_optin=False)
    contact = await api.created("/contacts", {"email": "david@example.net"})
    path = f"/contacts/{contact['contact_id']}/subscribe"
    assert (await api.post(path, {})).json()["errors"] == {"form_id": ["The form id field is required."]}
    unknown = await api.post(path, {"form_id": 999999999})
    assert unknown.json()["errors"] == {"form_id": ["The selected form id is invalid."]}
    for bad in ("abc", 0, 2**64, None):
        assert list((await api.post(path, {"form_id": bad})).json()["errors"]) == ["form_id"], bad
    unknown_field = await api.post(path, {"form_id": form["form_id"], "fields": {"shoe": "44"}})
    assert list(unknown_field.json()["errors"]) == ["fields.shoe"]
    bad_ip = await api.post(path, {"form_id": form["form_id"], "ipaddress": "999.1.1.1"})
    assert list(bad_ip.json()["errors"]) == ["ipaddress"]
    assert (await api.post("/contacts/999999999/subscribe", {"form_id": form["form_id"]})).status_code == 404
    unchanged = (await api.get(f"/contacts/{contact['contact_id']}")).json()
    assert _applied(unchanged) == ([], [])
    assert unchanged["ipaddress"] is None


async def test_create_with_unknown_form_creates_nothing(api: Api) -> None:
    response = await api.post("/contacts", {"email": "new@example.com", "form_id": 999999999})
    assert response.status_code == 422
    assert response.json()["errors"] == {"form_id": ["The selected form id is invalid."]}
    assert (await api.get("/contacts")).json()["meta"]["total"] == 0
