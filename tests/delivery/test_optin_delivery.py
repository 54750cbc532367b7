"""Double opt-in and sequence notifications really send mail (CONVENTIONS §7: forms, sequences).

Subscribing through a double opt-in form queues the form's confirmation email in the same
transaction; the delivery runner sends it over real SMTP to the sink; its signed link, followed
through the app, confirms the contact. A sequence's notification address hears of each new member.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import uuid
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.delivery.addressing import Addressing
from roost.delivery.runner import DeliveryRunner
from roost.kit.clock import utcnow
from roost.models import Event, Message
from tests.delivery.conftest import SENDER
from tests.helpers import Api, Tenant
from tests.mail.sink import Sink

Sessions = async_sessionmaker[AsyncSession]
CONFIRM_LINK = re.compile(r"http://roost\.test(/confirm/[A-Za-z0-9._-]+)")


@pytest.fixture
def runner(settings: Settings, sessionmaker: Sessions, sink: Sink) -> DeliveryRunner:
    return DeliveryRunner.from_settings(settings.model_copy(update={"smtp_url": sink.url}), sessionmaker)


@pytest.fixture
def addressing(app: FastAPI) -> Addressing:
    found: Addressing = app.state.roost.addressing
    return found


def _address(local: str = "reader") -> str:
    return f"{local}@{uuid.uuid4().hex[:8]}.example"


def _parsed(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


async def _mail_to(runner: DeliveryRunner, sink: Sink, address: str, count: int = 1) -> list[EmailMessage]:
    """Run delivery passes until `count` mails reached the address (other tests' mail may be served too)."""
    for _ in range(20):
        received = [_parsed(r.data) for r in sink.received if r.recipients == [address]]
        if len(received) >= count:
            return received
        await runner.run_once()
    raise AssertionError(f"{address} received {len(received)} mails, not {count}")


def _html(mail: EmailMessage) -> str:
    part = mail.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def _text(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _confirm_path(mail: EmailMessage) -> str:
    found = CONFIRM_LINK.search(_html(mail))
    assert found is not None, _html(mail)
    assert found.group(1) in _text(mail)  # the text part carries the same link
    return found.group(1)


async def _form(api: Api, *, double_optin: bool = True, **extra: Any) -> dict[str, Any]:
    """A form applying two tags and a sequence of one email, with the given options."""
    vip = (await api.created("/tags", {"name": "VIP"}))["tag_id"]
    lead = (await api.created("/tags", {"name": "Lead"}))["tag_id"]
    sequence = await api.created("/sequences", {"name": "Football Lovers", "sender": SENDER})
    sid = sequence["sequence_id"]
    await api.created(f"/sequences/{sid}/emails", {"subject": "Welcome aboard", "body": "<p>Hi</p>"})
    body = {"name": "Newsletter", "double_optin": double_optin, "tags": [vip, lead], "sequence_id": sid, **extra}
    return await api.created("/forms", body)


async def _messages(sessions: Sessions, account: Tenant, kind: str) -> list[Message]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Message).where(Message.account_id == account.id, Message.kind == kind).order_by(Message.id)
        )
        return list(rows)


async def _event_types(sessions: Sessions, account: Tenant) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(select(Event.type).where(Event.account_id == account.id).order_by(Event.id))
        return list(rows)


def _applied(contact: dict[str, Any]) -> tuple[list[str], list[str]]:
    return [t["name"] for t in contact["tags"]], [s["name"] for s in contact["sequences"]]


async def test_a_double_opt_in_signup_gets_the_confirmation_email_and_its_link_confirms(
    api: Api, client: httpx.AsyncClient, runner: DeliveryRunner, sink: Sink, sessionmaker: Sessions, account: Tenant
) -> None:
    form = await _form(
        api,
        confirmation={
            "subject": "Confirm %contact.first_name|your% signup to %sender.name%",
            "body": '<p>Hi %contact.first_name%!</p><p><a href="%confirmlink%">Yes, subscribe me</a></p>',
        },
    )
    address = _address()
    contact = await api.created(
        "/contacts", {"email": address, "fields": {"first_name": "Ada"}, "form_id": form["form_id"]}
    )
    cid = contact["contact_id"]
    assert contact["status"] == "unconfirmed"
    [queued] = await _messages(sessionmaker, account, "confirmation")  # queued with the subscribe itself
    assert (queued.contact_id, queued.form_id, queued.to_address) == (cid, form["form_id"], address)

    [mail] = await _mail_to(runner, sink, address)
    assert mail["Subject"] == "Confirm Ada signup to Shop News"
    assert mail["From"] == "Shop News <news@shop.example>"  # the sender of the form's sequence
    assert mail["List-Unsubscribe"] is None  # transactional: no mailing to leave
    assert "Hi Ada!" in _html(mail)
    assert "1 Market Street" not in _html(mail)  # no marketing footer
    assert "/t/o/" not in _html(mail)  # and no tracking
    link = _confirm_path(mail)
    assert (await api.get(f"/contacts/{cid}")).json()["status"] == "unconfirmed"  # sending confirmed nothing

    page = await client.get(link)
    assert page.status_code == 200
    assert "Your subscription is confirmed" in page.text
    assert address in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    confirmed = (await api.get(f"/contacts/{cid}")).json()
    assert confirmed["status"] == "active"
    assert confirmed["confirmed_at"] is not None
    assert confirmed["subscribed_at"] == contact["subscribed_at"]
    assert _applied(confirmed) == (["VIP", "Lead"], ["Football Lovers"])
    events = await _event_types(sessionmaker, account)

    again = await client.get(link)  # a second click is harmless
    assert again.status_code == 200
    assert "Your subscription is confirmed" in again.text
    assert (await api.get(f"/contacts/{cid}")).json() == confirmed
    assert await _event_types(sessionmaker, account) == events

    # The sequence's own email follows; the confirmation counts in no stats.
    welcome = await _mail_to(runner, sink, address, count=2)
    assert [m["Subject"] for m in welcome] == ["Confirm Ada signup to Shop News", "Welcome aboard"]
    steps = (await api.get(f"/sequences/{form['sequence_id']}/emails")).json()["data"]
    assert [step["stats"]["sent"] for step in steps] == [1]
    assert [m.status for m in await _messages(sessionmaker, account, "confirmation")] == ["sent"]


async def test_subscribe_route_sends_it_as_the_account_and_the_link_goes_to_the_redirect_url(
    api: Api, client: httpx.AsyncClient, runner: DeliveryRunner, sink: Sink, account: Tenant
) -> None:
    form = await api.created(
        "/forms", {"name": "Plain", "double_optin": True, "redirect_url": "https://shop.example/thanks"}
    )
    address = _address()
    contact = await api.created("/contacts", {"email": address})
    cid = contact["contact_id"]
    await api.delete(f"/contacts/{cid}/unsubscribe")  # an active contact would need no confirmation
    pending = await api.post(f"/contacts/{cid}/subscribe", {"form_id": form["form_id"]})
    assert pending.json()["status"] == "unconfirmed"

    [mail] = await _mail_to(runner, sink, address)
    assert mail["Subject"] == "Please confirm your subscription"  # the default confirmation email
    assert mail["From"] == f"Ada Owner <{account.email}>"  # no sequence: the account owner
    response = await client.get(_confirm_path(mail))
    assert response.status_code == 303
    assert response.headers["location"] == "https://shop.example/thanks"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert (await api.get(f"/contacts/{cid}")).json()["status"] == "active"


async def test_a_confirmation_body_without_the_link_gets_it_appended(
    api: Api, runner: DeliveryRunner, sink: Sink
) -> None:
    form = await api.created("/forms", {"name": "Terse", "confirmation": {"body": "<p>Welcome, please confirm.</p>"}})
    address = _address()
    await api.created("/contacts", {"email": address, "form_id": form["form_id"]})
    [mail] = await _mail_to(runner, sink, address)
    assert "Welcome, please confirm." in _html(mail)
    assert "Confirm your subscription" in _html(mail)
    _confirm_path(mail)


async def test_a_tampered_or_foreign_confirm_link_is_the_404_page(
    api: Api,
    client: httpx.AsyncClient,
    runner: DeliveryRunner,
    sink: Sink,
    addressing: Addressing,
    sessionmaker: Sessions,
    account: Tenant,
) -> None:
    form = await _form(api)
    address = _address()
    contact = await api.created("/contacts", {"email": address, "form_id": form["form_id"]})
    link = _confirm_path((await _mail_to(runner, sink, address))[0])
    message_id = (await _messages(sessionmaker, account, "confirmation"))[0].id
    token = link.removeprefix("/confirm/")
    flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
    for forged in (
        f"/confirm/{flipped}",  # signature altered
        f"/confirm/{message_id + 1}.{token.partition('.')[2]}",  # another message under this signature
        f"/confirm/{addressing.token(message_id)}",  # the message's tracking token is not a confirm token
        f"/confirm/{token.partition('.')[0]}",  # no signature
        "/confirm/garbage",
    ):
        response = await client.get(forged)
        assert response.status_code == 404, forged
        assert "This link is not valid" in response.text
        assert response.headers["content-type"].startswith("text/html")
    # Nor does a confirm token open, click or unsubscribe anything.
    for elsewhere in (f"/u/{token}", f"/t/o/{token}"):
        assert (await client.get(elsewhere)).status_code == 404, elsewhere
    assert (await client.post(f"/u/{token}")).status_code == 404
    assert (await api.get(f"/contacts/{contact['contact_id']}")).json()["status"] == "unconfirmed"


async def test_a_confirm_token_naming_a_message_that_is_no_confirmation_is_404(
    api: Api, client: httpx.AsyncClient, addressing: Addressing, sessionmaker: Sessions, account: Tenant
) -> None:
    await api.post(f"/broadcasts/{(await _broadcast(api))['broadcast_id']}/test", {"emails": ["probe@example.com"]})
    [test_send] = await _messages(sessionmaker, account, "test")
    response = await client.get(addressing.confirm_url(test_send.id).removeprefix("http://roost.test"))
    assert response.status_code == 404


async def _broadcast(api: Api) -> dict[str, Any]:
    body = {"name": "B", "email": {"subject": "S", "body": "<p>B</p>"}, "sender": SENDER}
    return await api.created("/broadcasts", body)


async def test_a_single_opt_in_form_sends_no_confirmation(
    api: Api, runner: DeliveryRunner, sink: Sink, sessionmaker: Sessions, account: Tenant
) -> None:
    form = await _form(api, double_optin=False)
    address = _address()
    contact = await api.created("/contacts", {"email": address, "form_id": form["form_id"]})
    assert contact["status"] == "active"
    mails = await _mail_to(runner, sink, address)  # straight into the sequence
    assert [m["Subject"] for m in mails] == ["Welcome aboard"]
    assert await _messages(sessionmaker, account, "confirmation") == []
    # An active contact subscribing through a double opt-in form has nothing to confirm either.
    double = await api.created("/forms", {"name": "Double", "double_optin": True})
    await api.post(f"/contacts/{contact['contact_id']}/subscribe", {"form_id": double["form_id"]})
    assert await _messages(sessionmaker, account, "confirmation") == []


async def test_subscribing_again_does_not_flood_the_address(
    api: Api, runner: DeliveryRunner, sink: Sink, sessionmaker: Sessions, account: Tenant
) -> None:
    form = await _form(api)
    other_form = await api.created("/forms", {"name": "Other", "double_optin": True})
    address = _address()
    contact = await api.created("/contacts", {"email": address, "form_id": form["form_id"]})
    path = f"/contacts/{contact['contact_id']}/subscribe"
    for _ in range(3):  # while the first one waits to be sent
        assert (await api.post(path, {"form_id": form["form_id"]})).status_code == 201
    await _mail_to(runner, sink, address)
    assert (await api.post(path, {"form_id": form["form_id"]})).status_code == 201  # just sent: not again yet
    for _ in range(2):
        await runner.run_once()
    assert len(await _mail_to(runner, sink, address)) == 1
    assert len(await _messages(sessionmaker, account, "confirmation")) == 1

    # Another form has its own confirmation; and once the interval has passed, the same form sends again.
    await api.post(path, {"form_id": other_form["form_id"]})
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(Message)
            .where(Message.account_id == account.id, Message.kind == "confirmation")
            .values(created_at=utcnow() - timedelta(minutes=11))
        )
    await api.post(path, {"form_id": form["form_id"]})
    mails = await _mail_to(runner, sink, address, count=3)
    assert len(mails) == 3
    assert len({_confirm_path(mail) for mail in mails}) == 3
    assert sorted(m.form_id or 0 for m in await _messages(sessionmaker, account, "confirmation")) == sorted(
        [form["form_id"], form["form_id"], other_form["form_id"]]
    )


async def test_a_deleted_form_cancels_its_pending_confirmation_and_its_sent_links_are_404(
    api: Api, client: httpx.AsyncClient, runner: DeliveryRunner, sink: Sink, sessionmaker: Sessions, account: Tenant
) -> None:
    sent_form = await api.created("/forms", {"name": "Sent"})
    pending_form = await api.created("/forms", {"name": "Pending"})
    sent_to, pending_to = _address("sent"), _address("pending")
    await api.created("/contacts", {"email": sent_to, "form_id": sent_form["form_id"]})
    link = _confirm_path((await _mail_to(runner, sink, sent_to))[0])
    await api.created("/contacts", {"email": pending_to, "form_id": pending_form["form_id"]})

    assert (await api.delete(f"/forms/{pending_form['form_id']}")).status_code == 204
    assert (await api.delete(f"/forms/{sent_form['form_id']}")).status_code == 204
    for _ in range(3):
        await runner.run_once()
    assert [r for r in sink.received if r.recipients == [pending_to]] == []
    statuses = {m.to_address: (m.status, m.form_id) for m in await _messages(sessionmaker, account, "confirmation")}
    assert statuses == {sent_to: ("sent", None), pending_to: ("cancelled", None)}
    assert (await client.get(link)).status_code == 404


async def test_a_link_whose_contact_is_gone_or_unsubscribed_since_is_404(
    api: Api, client: httpx.AsyncClient, runner: DeliveryRunner, sink: Sink
) -> None:
    form = await api.created("/forms", {"name": "Form"})
    deleted, unsubscribed = _address("deleted"), _address("unsubscribed")
    gone = await api.created("/contacts", {"email": deleted, "form_id": form["form_id"]})
    left = await api.created("/contacts", {"email": unsubscribed, "form_id": form["form_id"]})
    deleted_link = _confirm_path((await _mail_to(runner, sink, deleted))[0])
    unsubscribed_link = _confirm_path((await _mail_to(runner, sink, unsubscribed))[0])

    await api.delete(f"/contacts/{gone['contact_id']}")
    await api.delete(f"/contacts/{left['contact_id']}/unsubscribe")
    assert (await client.get(deleted_link)).status_code == 404
    assert (await client.get(unsubscribed_link)).status_code == 404  # an old link does not undo an unsubscribe
    assert (await api.get(f"/contacts/{left['contact_id']}")).json()["status"] == "unsubscribed"


async def test_a_contact_that_unsubscribed_before_sending_gets_no_confirmation(
    api: Api, runner: DeliveryRunner, sink: Sink, sessionmaker: Sessions, account: Tenant
) -> None:
    form = await api.created("/forms", {"name": "Form"})
    address = _address()
    contact = await api.created("/contacts", {"email": address, "form_id": form["form_id"]})
    await api.delete(f"/contacts/{contact['contact_id']}/unsubscribe")
    for _ in range(3):
        await runner.run_once()
    assert [r for r in sink.received if r.recipients == [address]] == []
    assert [m.status for m in await _messages(sessionmaker, account, "confirmation")] == ["cancelled"]


async def test_a_sequence_notification_address_hears_of_each_new_member(
    api: Api, client: httpx.AsyncClient, runner: DeliveryRunner, sink: Sink, sessionmaker: Sessions, account: Tenant
) -> None:
    owner = _address("owner")
    sequence = await api.created("/sequences", {"name": "Football Lovers", "sender": SENDER, "notification": owner})
    sid = sequence["sequence_id"]
    await api.created(f"/sequences/{sid}/emails", {"subject": "Welcome aboard", "body": "<p>Hi</p>"})
    member = _address("member")
    contact = await api.created("/contacts", {"email": member})
    for _ in range(2):  # joining again is no new member
        await api.post(f"/contacts/{contact['contact_id']}/sequences", {"sequence_id": sid})

    [notification] = await _mail_to(runner, sink, owner)
    assert notification["Subject"] == f"New subscriber to Football Lovers: {member}"
    assert notification["From"] == "Shop News <news@shop.example>"
    assert notification["List-Unsubscribe"] is None
    assert member in _html(notification)
    assert member in _text(notification)
    assert "/t/o/" not in _html(notification)
    assert "1 Market Street" not in _html(notification)
    [row] = await _messages(sessionmaker, account, "notification")
    assert (row.contact_id, row.about_contact_id, row.sequence_id, row.status) == (
        None,
        contact["contact_id"],
        sid,
        "sent",
    )

    # A member confirming through a double opt-in form is told of too, once it joins.
    form = await api.created("/forms", {"name": "Form", "sequence_id": sid})
    later = _address("later")
    await api.created("/contacts", {"email": later, "form_id": form["form_id"]})
    await runner.run_once()
    assert len([r for r in sink.received if r.recipients == [owner]]) == 1  # not a member before it confirms
    [confirmation] = await _mail_to(runner, sink, later)
    assert (await client.get(_confirm_path(confirmation))).status_code == 200
    told = await _mail_to(runner, sink, owner, count=2)
    assert told[1]["Subject"] == f"New subscriber to Football Lovers: {later}"

    # Both members get the sequence's email; notifications and confirmations count in no stats.
    assert [m["Subject"] for m in await _mail_to(runner, sink, member)] == ["Welcome aboard"]
    assert [m["Subject"] for m in await _mail_to(runner, sink, later, count=2)][1] == "Welcome aboard"
    steps = (await api.get(f"/sequences/{sid}/emails")).json()["data"]
    assert steps[0]["stats"]["sent"] == 2


async def test_a_bounced_notification_never_touches_the_member(
    api: Api, runner: DeliveryRunner, sink: Sink, sessionmaker: Sessions, account: Tenant
) -> None:
    owner = _address("owner")
    sequence = await api.created("/sequences", {"name": "Drip", "sender": SENDER, "notification": owner})
    sink.recipient_replies = {owner: "550 5.1.1 no such user"}
    contact = await api.created("/contacts", {"email": _address("member")})
    await api.post(f"/contacts/{contact['contact_id']}/sequences", {"sequence_id": sequence["sequence_id"]})
    for _ in range(3):
        await runner.run_once()
    assert [m.status for m in await _messages(sessionmaker, account, "notification")] == ["bounced"]
    assert (await api.get(f"/contacts/{contact['contact_id']}")).json()["status"] == "active"
    assert "contact.bounced" not in await _event_types(sessionmaker, account)


async def test_no_notification_without_an_address_and_none_after_the_member_is_deleted(
    api: Api, runner: DeliveryRunner, sink: Sink, sessionmaker: Sessions, account: Tenant
) -> None:
    quiet = await api.created("/sequences", {"name": "Quiet", "sender": SENDER, "notification": ""})
    owner = _address("owner")
    told = await api.created("/sequences", {"name": "Told", "sender": SENDER, "notification": owner})
    contact = await api.created("/contacts", {"email": _address("member")})
    await api.post(f"/contacts/{contact['contact_id']}/sequences", {"sequence_id": quiet["sequence_id"]})
    assert await _messages(sessionmaker, account, "notification") == []
    await api.post(f"/contacts/{contact['contact_id']}/sequences", {"sequence_id": told["sequence_id"]})
    await api.delete(f"/contacts/{contact['contact_id']}")  # gone before the notification went out
    for _ in range(3):
        await runner.run_once()
    assert [r for r in sink.received if r.recipients == [owner]] == []
    [row] = await _messages(sessionmaker, account, "notification")
    assert (row.status, row.about_contact_id) == ("cancelled", None)


async def test_two_clicks_at_once_both_answer_and_the_form_applies_once(
    api: Api, client: httpx.AsyncClient, runner: DeliveryRunner, sink: Sink, sessionmaker: Sessions, account: Tenant
) -> None:
    form = await _form(api)
    address = _address()
    contact = await api.created("/contacts", {"email": address, "form_id": form["form_id"]})
    link = _confirm_path((await _mail_to(runner, sink, address))[0])
    first, second = await asyncio.gather(client.get(link), client.get(link))
    assert (first.status_code, second.status_code) == (200, 200)
    confirmed = (await api.get(f"/contacts/{contact['contact_id']}")).json()
    assert _applied(confirmed) == (["VIP", "Lead"], ["Football Lovers"])
    types = await _event_types(sessionmaker, account)
    assert types.count("contact.subscribed") == 1
    assert types.count("tag.applied") == 2
