"""Sending through a channel (seeds 003/004, CONVENTIONS §10): what is accepted, what leaves over SMTP,
how the status follows, and the reads."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import uuid
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.bounce import service as bounce_service
from roost.bounce.reports import Report
from roost.channel.messages import send_many, settle
from roost.channel.types import Accepted, NewMessage, Receiver, Submission
from roost.delivery.runner import DeliveryRunner
from roost.errors import Conflict, Invalid, NotFound
from roost.kit.clock import utcnow
from roost.models import ChannelMessage, Contact, Event, Message
from tests.bird.conftest import CHANNEL
from tests.bird.test_channels import RFC3339_MS
from tests.bird.test_media import presign, upload
from tests.helpers import Api, Bird, Tenant
from tests.mail.sink import Sink

Sessions = async_sessionmaker[AsyncSession]


def address(local: str = "reader") -> str:
    return f"{local}@{uuid.uuid4().hex[:8]}.example"


def to(*addresses: str, kind: str = "to") -> dict[str, Any]:
    return {"contacts": [{"identifierKey": "emailaddress", "identifierValue": a, "type": kind} for a in addresses]}


def text_body(text: str = "Single text message", **metadata: Any) -> dict[str, Any]:
    return {"type": "text", "text": {"text": text, **({"metadata": metadata} if metadata else {})}}


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


async def mail_to(runner: DeliveryRunner, sink: Sink, recipient: str, count: int = 1) -> list[EmailMessage]:
    for _ in range(20):
        received = [parsed(r.data) for r in sink.received if recipient in r.recipients]
        if len(received) >= count:
            return received
        await runner.run_once()
    raise AssertionError(f"{recipient} received {len(received)} mails, not {count}")


async def send(bird: Bird, channel: dict[str, Any], body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await bird.post(f"/channels/{channel['id']}/messages", body, headers=headers)
    assert response.status_code == 202, response.text
    data: dict[str, Any] = response.json()
    return data


async def message(bird: Bird, channel: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    return await bird.ok("GET", f"/channels/{channel['id']}/messages/{sent['id']}")


async def test_a_plain_text_email_is_accepted_sent_and_read_back(
    bird: Bird, channel: dict[str, Any], runner: DeliveryRunner, sink: Sink
) -> None:
    reader = address()
    body = text_body("Hey, this is a nice text email.", subject="What is the subject?")
    sent = await send(bird, channel, {"receiver": to(reader), "body": body, "reference": "order-42"})
    assert sent["status"] == "accepted"
    assert sent["channelId"] == channel["id"]
    assert sent["reference"] == "order-42"
    assert sent["direction"] == "outgoing"
    assert sent["body"] == body
    assert sent["receiver"]["contacts"][0]["identifierValue"] == reader
    assert RFC3339_MS.match(sent["createdAt"])

    [mail] = await mail_to(runner, sink, reader)
    assert mail["Subject"] == "What is the subject?"
    assert mail["From"] == "Shop <shop@example.com>"
    assert mail["To"] == reader
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content().strip() == "Hey, this is a nice text email."
    assert "List-Unsubscribe" in mail  # the default use case is marketing

    read = await message(bird, channel, sent)
    assert read["status"] == "sent"
    assert read["lastStatusAt"] >= sent["lastStatusAt"]


async def test_html_with_text_fallback_sender_name_reply_to_and_participants(
    bird: Bird, channel: dict[str, Any], runner: DeliveryRunner, sink: Sink
) -> None:
    first, second, copied, hidden = address("first"), address("second"), address("copied"), address("hidden")
    receivers = to(first, second)["contacts"] + to(copied, kind="cc")["contacts"] + to(hidden, kind="bcc")["contacts"]
    body = {
        "type": "html",
        "html": {
            "html": '<p>Single html message <a href="https://shop.example/order">order</a></p>',
            "text": "Single text message",
            "metadata": {
                "subject": "Here is an Email",
                "headers": {"reply-to": "replyto@this.address"},
                "emailFrom": {"username": "support", "displayName": "Support Team"},
            },
        },
    }
    sent = await send(
        bird,
        channel,
        {"receiver": {"contacts": receivers}, "body": body, "meta": {"extraInformation": {"useCase": "transactional"}}},
    )
    for recipient in (first, second, copied, hidden):
        [mail] = await mail_to(runner, sink, recipient)
        assert mail["From"] == "Support Team <support@example.com>"
        assert mail["Reply-To"] == "replyto@this.address"
        assert mail["To"] == f"{first}, {second}"
        assert mail["Cc"] == copied
        assert hidden not in str(mail)  # Bcc is never shown
        assert "List-Unsubscribe" not in mail  # transactional
        text = mail.get_body(("plain",))
        assert text is not None
        assert text.get_content().strip() == "Single text message"
        html = mail.get_body(("html",))
        assert html is not None
        assert "https://shop.example/order" in html.get_content()  # no link tracking unless asked
    assert (await message(bird, channel, sent))["status"] == "sent"


async def test_an_unknown_receiver_becomes_a_non_subscribed_contact(
    bird: Bird, api: Api, channel: dict[str, Any]
) -> None:
    reader = address()
    await send(bird, channel, {"receiver": to(reader), "body": text_body()})
    found = (await api.get("/contacts", search_by="email", keyword=reader)).json()["data"]
    assert [(c["email"], c["status"]) for c in found] == [(reader, "non_subscribed")]


async def test_a_receiver_made_a_contact_is_announced_only_where_a_webhook_listens(
    bird: Bird, other_bird: Bird, api: Api, channel: dict[str, Any], sessionmaker: Sessions
) -> None:
    hook = await api.created("/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["contact.created"]})
    other_channel = await other_bird.ok("POST", "/channels", CHANNEL, status=201)
    heard, unheard = address("heard"), address("unheard")
    await send(bird, channel, {"receiver": to(heard), "body": text_body()})
    await send(other_bird, other_channel, {"receiver": to(unheard), "body": text_body()})
    await api.patch(f"/webhooks/{hook['webhook_id']}", {"active": False})  # no later dispatcher tries it
    async with sessionmaker() as session:
        created = (
            await session.execute(
                select(Contact.email)
                .join(Event, Event.contact_id == Contact.id)
                .where(Event.type == "contact.created", Contact.email.in_([heard, unheard]))
            )
        ).scalars()
        assert list(created) == [heard]  # no rule hears contact.created: without a webhook the row is not made
        assert await session.scalar(select(Contact.status).where(Contact.email == unheard)) == "non_subscribed"


async def test_receivers_by_contact_id(
    bird: Bird, api: Api, channel: dict[str, Any], runner: DeliveryRunner, sink: Sink
) -> None:
    reader = address()
    contact = await api.created("/contacts", {"email": reader})
    await send(bird, channel, {"receiver": {"contacts": [{"id": str(contact["contact_id"])}]}, "body": text_body()})
    assert await mail_to(runner, sink, reader)
    unknown = await bird.post(
        f"/channels/{channel['id']}/messages", {"receiver": {"contacts": [{"id": "999999999"}]}, "body": text_body()}
    )
    assert unknown.status_code == 422
    assert "receiver.contacts.0.id" in unknown.json()["details"]


async def test_tags_are_lower_cased_created_on_use_and_at_most_ten(
    bird: Bird, api: Api, channel: dict[str, Any]
) -> None:
    sent = await send(bird, channel, {"receiver": to(address()), "body": text_body(), "tags": ["Tag-1", "tag-2"]})
    assert sent["tags"] == ["tag-1", "tag-2"]
    names = {t["name"] for t in (await api.get("/tags", per_page=100)).json()["data"]}
    assert {"tag-1", "tag-2"} <= names
    eleven = [f"t{i}" for i in range(11)]
    refused = await bird.post(
        f"/channels/{channel['id']}/messages", {"receiver": to(address()), "body": text_body(), "tags": eleven}
    )
    assert refused.status_code == 422
    assert "tags" in refused.json()["details"]


async def test_scheduling(bird: Bird, channel: dict[str, Any], runner: DeliveryRunner, sink: Sink) -> None:
    soon, later = address("soon"), address("later")
    now = utcnow()
    soon_message = await send(
        bird,
        channel,
        {"receiver": to(soon), "body": text_body(), "scheduledFor": (now + timedelta(minutes=5)).isoformat()},
    )
    assert soon_message["status"] == "accepted"
    later_message = await send(
        bird,
        channel,
        {"receiver": to(later), "body": text_body(), "scheduledFor": (now + timedelta(days=20)).isoformat()},
    )
    assert later_message["status"] == "scheduled"
    assert later_message["scheduledFor"].startswith((now + timedelta(days=20)).date().isoformat())
    await mail_to(runner, sink, soon)
    await runner.run_once()
    assert not [r for r in sink.received if later in r.recipients]
    assert (await message(bird, channel, later_message))["status"] == "scheduled"

    too_far = await bird.post(
        f"/channels/{channel['id']}/messages",
        {"receiver": to(address()), "body": text_body(), "scheduledFor": (now + timedelta(days=36)).isoformat()},
    )
    assert too_far.status_code == 422
    assert "scheduledFor" in too_far.json()["details"]
    naive = await bird.post(
        f"/channels/{channel['id']}/messages",
        {"receiver": to(address()), "body": text_body(), "scheduledFor": "2030-01-01T10:00:00"},
    )
    assert naive.status_code == 422


async def test_a_message_past_its_validity_is_not_sent(
    bird: Bird, channel: dict[str, Any], runner: DeliveryRunner, sink: Sink, sessionmaker: Sessions
) -> None:
    reader = address()
    sent = await send(bird, channel, {"receiver": to(reader), "body": text_body(), "validity": 60})
    async with sessionmaker() as session, session.begin():  # the message waited (a relay outage) past its validity
        row = await session.scalar(select(Message).where(Message.to_address == reader))
        assert row is not None
        channel_message = await session.get(ChannelMessage, row.channel_message_id)
        assert channel_message is not None
        channel_message.expires_at = utcnow() - timedelta(seconds=1)
    for _ in range(3):
        await runner.run_once()
    assert not [r for r in sink.received if reader in r.recipients]
    read = await message(bird, channel, sent)
    assert read["status"] == "sending_failed"
    assert "validity" in read["failure"]["description"]


async def test_marketing_honours_unsubscribes_transactional_does_not(
    bird: Bird, api: Api, channel: dict[str, Any], runner: DeliveryRunner, sink: Sink
) -> None:
    reader = address()
    contact = await api.created("/contacts", {"email": reader})
    assert (await api.delete(f"/contacts/{contact['contact_id']}/unsubscribe")).status_code in (200, 204)
    marketing = await send(bird, channel, {"receiver": to(reader), "body": text_body("promo")})
    assert marketing["status"] == "sending_failed"
    assert "unsubscribed" in marketing["failure"]["description"]
    transactional = await send(
        bird,
        channel,
        {
            "receiver": to(reader),
            "body": text_body("receipt"),
            "meta": {"extraInformation": {"useCase": "transactional"}},
        },
    )
    [mail] = await mail_to(runner, sink, reader)
    assert mail.get_content().strip() == "receipt"
    assert (await message(bird, channel, transactional))["status"] == "sent"
    assert (await message(bird, channel, marketing))["status"] == "sending_failed"


async def test_an_idempotency_key_makes_retries_safe(
    bird: Bird, channel: dict[str, Any], sessionmaker: Sessions
) -> None:
    reader = address()
    request = {"receiver": to(reader), "body": text_body()}
    first = await send(bird, channel, request, **{"Idempotency-Key": "order-7-receipt"})
    again = await bird.post(
        f"/channels/{channel['id']}/messages", request, headers={"Idempotency-Key": "order-7-receipt"}
    )
    assert again.status_code == 202
    assert again.json()["id"] == first["id"]
    assert again.headers["idempotent-replayed"] == "true"
    async with sessionmaker() as session:
        rows = (await session.scalars(select(Message).where(Message.to_address == reader))).all()
    assert len(rows) == 1
    different = await bird.post(
        f"/channels/{channel['id']}/messages",
        {"receiver": to(address()), "body": text_body()},
        headers={"Idempotency-Key": "order-7-receipt"},
    )
    assert different.status_code == 409
    assert different.json()["code"] == "Conflict"


async def test_concurrent_sends_are_each_accepted_once_and_delivered(
    bird: Bird, channel: dict[str, Any], runner: DeliveryRunner, sink: Sink, sessionmaker: Sessions
) -> None:
    path = f"/channels/{channel['id']}/messages"
    readers = [address(f"reader{number}") for number in range(24)]
    retried = {"receiver": to(address("retried")), "body": text_body("once")}
    responses = await asyncio.gather(
        *(bird.post(path, {"receiver": to(reader), "body": text_body(f"for {reader}")}) for reader in readers),
        *(bird.post(path, retried, headers={"Idempotency-Key": "checkout-9"}) for _ in range(3)),
        bird.post(path, {"receiver": {"contacts": [{"id": "999999999"}]}, "body": text_body()}),
    )
    *accepted, refused = responses
    assert [response.status_code for response in accepted] == [202] * 27
    assert refused.status_code == 422
    assert len({response.json()["id"] for response in accepted[:24]}) == 24
    assert len({response.json()["id"] for response in accepted[24:]}) == 1
    for reader in readers:
        (mail,) = await mail_to(runner, sink, reader)
        assert mail.get_content().strip() == f"for {reader}"
    async with sessionmaker() as session:
        retried_rows = (
            await session.scalars(
                select(Message).where(Message.to_address == retried["receiver"]["contacts"][0]["identifierValue"])
            )
        ).all()
    assert len(retried_rows) == 1


async def test_sends_taken_together_are_each_accepted_or_refused_on_their_own(
    bird: Bird, other_account: Tenant, channel: dict[str, Any], sessionmaker: Sessions
) -> None:
    account_id, channel_id = bird.account.id, channel["id"]
    stray, kept = address("stray"), address("kept")

    def new(*receivers: Receiver, request_hash: str) -> NewMessage:
        return NewMessage(receivers=receivers, text="Hello", request_hash=request_hash)

    keyed = new(Receiver(address("keyed"), None), request_hash="keyed")
    submissions = [
        Submission(account_id, channel_id, new(Receiver(kept, None), request_hash="kept")),
        Submission(account_id, channel_id, new(Receiver(stray, None), Receiver(None, 999_999_999), request_hash="bad")),
        Submission(account_id, channel_id, keyed, "order-1"),
        Submission(account_id, channel_id, keyed, "order-1"),
        Submission(account_id, channel_id, new(Receiver(address(), None), request_hash="other"), "order-1"),
        Submission(account_id, str(uuid.uuid4()), new(Receiver(address(), None), request_hash="nowhere")),
        Submission(other_account.id, channel_id, new(Receiver(address(), None), request_hash="not-theirs")),
    ]
    async with sessionmaker() as session:
        outcomes = await send_many(session, submissions)
        await session.commit()
    first, unknown_contact, keyed_first, keyed_again, keyed_differently, no_channel, foreign = outcomes
    assert isinstance(first, Accepted)
    assert first.message.receivers[0]["address"] == kept
    assert isinstance(unknown_contact, Invalid)
    assert "receiver.contacts.1.id" in unknown_contact.errors
    assert isinstance(keyed_first, Accepted)
    assert not keyed_first.replayed
    assert isinstance(keyed_again, Accepted)
    assert keyed_again.replayed
    assert keyed_again.message.uuid == keyed_first.message.uuid
    assert isinstance(keyed_differently, Conflict)
    assert isinstance(no_channel, NotFound)
    assert isinstance(foreign, NotFound)
    async with sessionmaker() as session:
        made = (await session.scalars(select(ChannelMessage.uuid).where(ChannelMessage.account_id == account_id))).all()
        # The refused message left nothing behind, not even a contact for its address.
        strays = (await session.scalars(select(Contact.id).where(Contact.email == stray))).all()
    assert sorted(made) == sorted([first.message.uuid, keyed_first.message.uuid])
    assert strays == []


async def test_an_inactive_or_unknown_channel_refuses_to_send(bird: Bird, channel: dict[str, Any]) -> None:
    await bird.ok("PATCH", f"/channels/{channel['id']}", {"status": "inactive"})
    refused = await bird.post(f"/channels/{channel['id']}/messages", {"receiver": to(address()), "body": text_body()})
    assert refused.status_code == 422
    assert "not active" in refused.json()["details"]["channelId"][0]
    unknown = await bird.post(f"/channels/{uuid.uuid4()}/messages", {"receiver": to(address()), "body": text_body()})
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"receiver": {"contacts": []}, "body": text_body()}, "receiver.contacts"),
        ({"receiver": to("not an address"), "body": text_body()}, "receiver.contacts.0"),
        ({"receiver": {"contacts": [{"id": 2**70}]}, "body": text_body()}, "receiver.contacts.0.id"),
        ({"receiver": {"contacts": [{"id": -3}]}, "body": text_body()}, "receiver.contacts.0.id"),
        ({"receiver": to(address()), "template": {"projectId": "x", "variables": {"n": 2**70}}}, "template.projectId"),
        ({"receiver": {"contacts": [{"id": str(uuid.uuid4())}]}, "body": text_body()}, "receiver.contacts.0.id"),
        ({"receiver": to("not an address"), "body": {"type": "html", "text": {"text": "x"}}}, "body"),
        ({"receiver": to(address())}, "body"),
        ({"receiver": to(address()), "body": text_body(), "meta": {"extraInformation": {"useCase": "otp"}}}, "meta"),
        ({"receiver": to(address()), "body": text_body(), "validity": 0}, "validity"),
        ({"receiver": to(address()), "body": text_body(), "validity": 10**9}, "validity"),
        (
            {
                "receiver": to(address()),
                "body": {"type": "text", "text": {"text": "x", "metadata": {"headers": {"reply-to": "nope"}}}},
            },
            "body.text.metadata.headers",
        ),
        (
            {
                "receiver": to(address()),
                "body": {"type": "text", "text": {"text": "x", "metadata": {"emailFrom": {"username": "a b"}}}},
            },
            "body.metadata.emailFrom.username",
        ),
    ],
)
async def test_bad_messages_get_a_422_and_change_nothing(
    bird: Bird, channel: dict[str, Any], body: dict[str, Any], path: str
) -> None:
    response = await bird.post(f"/channels/{channel['id']}/messages", body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "InvalidPayload"
    assert any(key.startswith(path) for key in response.json()["details"]), response.json()
    assert (await bird.ok("GET", f"/channels/{channel['id']}/messages"))["results"] == []


async def test_a_refused_recipient_fails_the_message_with_the_reply(
    bird: Bird, channel: dict[str, Any], runner: DeliveryRunner, sink: Sink
) -> None:
    reader = address()
    sink.recipient_replies[reader] = "550 5.1.1 No such user"
    sent = await send(bird, channel, {"receiver": to(reader), "body": text_body()})
    for _ in range(3):
        await runner.run_once()
    read = await message(bird, channel, sent)
    assert read["status"] == "sending_failed"
    assert read["failure"]["code"] == 550
    assert "No such user" in read["failure"]["description"]
    interactions = await bird.ok("GET", f"/channels/{channel['id']}/messages/{sent['id']}/interactions")
    assert [i["type"] for i in interactions["results"]] == ["bounced"]


async def test_two_receivers_settled_at_once_by_two_recorders_make_the_message_sent(
    bird: Bird, channel: dict[str, Any], sessionmaker: Sessions
) -> None:
    """Two workers record the outcomes of a message's two receivers at the same moment: the second
    settles after the first commits and sees both copies sent."""
    sent = await send(bird, channel, {"receiver": to(address("first"), address("second")), "body": text_body()})
    async with sessionmaker() as first, sessionmaker() as second:
        if first.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite runs one writer at a time: two recorders cannot overlap")
        [channel_message_id] = (
            await first.scalars(select(ChannelMessage.id).where(ChannelMessage.uuid == uuid.UUID(sent["id"])))
        ).all()
        copies = (await first.scalars(select(Message.id).where(Message.channel_message_id == channel_message_id))).all()
        await first.rollback()

        async def record(session: AsyncSession, message_id: int) -> None:
            await session.execute(
                update(Message).where(Message.id == message_id).values(status="sent", sent_at=utcnow())
            )
            await settle(session, {channel_message_id})

        await record(first, copies[0])
        recording = asyncio.create_task(record(second, copies[1]))
        await asyncio.sleep(0.3)
        assert not recording.done()  # waiting for the first recorder's lock on the message
        await first.commit()
        await recording
        await second.commit()
    assert (await message(bird, channel, sent))["status"] == "sent"


async def test_status_changes_are_events_for_webhooks(
    bird: Bird, api: Api, channel: dict[str, Any], runner: DeliveryRunner, sink: Sink, sessionmaker: Sessions
) -> None:
    hook = await api.created("/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["message.status"]})
    reader = address()
    sent = await send(bird, channel, {"receiver": to(reader), "body": text_body(), "reference": "r-1"})
    await mail_to(runner, sink, reader)
    async with sessionmaker() as session:
        events = (
            await session.scalars(
                select(Event)
                .where(Event.account_id == bird.account.id, Event.type == "message.status")
                .order_by(Event.id)
            )
        ).all()
    # Switched off, so that no later test's dispatcher and sender try it.
    await api.patch(f"/webhooks/{hook['webhook_id']}", {"active": False})
    mine = [e.data for e in events if e.data["message_id"] == sent["id"]]
    assert [e["status"] for e in mine] == ["accepted", "sent"]
    assert all(e["channel_id"] == channel["id"] and e["reference"] == "r-1" for e in mine)


async def test_a_template_message_is_rendered_with_its_variables(
    bird: Bird, channel: dict[str, Any], runner: DeliveryRunner, sink: Sink
) -> None:
    project = await bird.ok("POST", "/projects", {"name": "Receipt"}, status=201)
    version = await bird.ok(
        "POST",
        f"/projects/{project['id']}/versions",
        {
            "defaultLocale": "en",
            "contents": [
                {"locale": "en", "subject": "Order {{order}}", "html": "<p>Hi {{name}}, order {{order}} shipped.</p>"},
                {"locale": "de", "subject": "Bestellung {{order}}", "html": "<p>Hallo {{name}}!</p>"},
            ],
            "variables": [{"key": "name", "default": "there"}, {"key": "order"}],
        },
        status=201,
    )
    reader = address()
    sent = await send(
        bird,
        channel,
        {
            "receiver": to(reader),
            "template": {
                "projectId": project["id"],
                "version": version["id"],
                "locale": "de-AT",
                "variables": {"name": "Zoë <3"},
                "parameters": [{"type": "string", "key": "order", "value": "A-17"}],
            },
        },
    )
    assert sent["template"]["projectId"] == project["id"]
    [mail] = await mail_to(runner, sink, reader)
    assert mail["Subject"] == "Bestellung A-17"
    html = mail.get_body(("html",))
    assert html is not None
    assert "Hallo Zoë &lt;3!" in html.get_content()

    missing = await bird.post(
        f"/channels/{channel['id']}/messages",
        {"receiver": to(address()), "template": {"projectId": project["id"], "version": "latest"}},
    )
    assert missing.status_code == 422
    assert "template.variables.order" in missing.json()["details"]
    unknown = await bird.post(
        f"/channels/{channel['id']}/messages",
        {"receiver": to(address()), "template": {"projectId": str(uuid.uuid4())}},
    )
    assert unknown.status_code == 422
    assert "template.projectId" in unknown.json()["details"]


async def test_attachments_from_uploaded_media_and_inline_images(
    client: Any, bird: Bird, channel: dict[str, Any], runner: DeliveryRunner, sink: Sink
) -> None:

    logo, invoice = b"\x89PNG\r\n\x1a\n" + bytes(range(256)), b"%PDF-1.4\n" + b"x" * 3000
    logo_upload = await presign(bird, "image/png")
    assert (await upload(client, logo_upload, content=logo, filename="logo.png")).status_code == 204
    invoice_upload = await presign(bird, "application/pdf")
    assert (
        await upload(client, invoice_upload, content=invoice, filename="invoice.pdf", file_type="application/pdf")
    ).status_code == 204
    reader = address()
    await send(
        bird,
        channel,
        {
            "receiver": to(reader),
            "body": {
                "type": "html",
                "html": {
                    "html": '<p>INLINE IMAGE! <img src="cid:image.png"></p>',
                    "attachments": [
                        {"mediaUrl": logo_upload["mediaUrl"], "filename": "image.png", "inline": True},
                        {"mediaUrl": invoice_upload["mediaUrl"], "filename": "invoice.pdf"},
                    ],
                },
            },
        },
    )
    [mail] = await mail_to(runner, sink, reader)
    assert mail.get_content_type() == "multipart/mixed"
    parts = {part.get_filename(): part for part in mail.walk() if part.get_filename()}
    assert parts["image.png"]["Content-ID"] == "<image.png>"
    assert parts["image.png"].get_content() == logo
    assert parts["invoice.pdf"].get_content() == invoice
    assert parts["invoice.pdf"].get_content_disposition() == "attachment"

    pending = await presign(bird, "image/png")
    refused = await bird.post(
        f"/channels/{channel['id']}/messages",
        {
            "receiver": to(address()),
            "body": {
                "type": "text",
                "text": {"text": "x", "attachments": [{"mediaUrl": pending["mediaUrl"], "filename": "a.png"}]},
            },
        },
    )
    assert refused.status_code == 422
    assert "body.attachments.0.mediaUrl" in refused.json()["details"]


async def test_the_list_pages_stably_and_filters(bird: Bird, channel: dict[str, Any]) -> None:
    path = f"/channels/{channel['id']}/messages"
    first = [
        await send(
            bird,
            channel,
            {
                "receiver": to(address(f"r{i}")),
                "body": text_body(subject=f"Invoice {i}"),
                "tags": ["even" if i % 2 == 0 else "odd"],
            },
        )
        for i in range(5)
    ]
    page = await bird.ok("GET", path + "?limit=2")
    assert [m["id"] for m in page["results"]] == [first[4]["id"], first[3]["id"]]
    # A message accepted between two pages does not shift the next page.
    await send(bird, channel, {"receiver": to(address()), "body": text_body(subject="Later")})
    second = await bird.ok("GET", path + f"?limit=2&pageToken={page['nextPageToken']}")
    assert [m["id"] for m in second["results"]] == [first[2]["id"], first[1]["id"]]
    last = await bird.ok("GET", path + f"?limit=2&pageToken={second['nextPageToken']}")
    assert [m["id"] for m in last["results"]] == [first[0]["id"]]
    assert last.get("nextPageToken") is None

    oldest = await bird.ok("GET", path + "?limit=1&reverse=true")
    assert oldest["results"][0]["id"] == first[0]["id"]
    evens = await bird.ok("GET", path + "?tag=EVEN")
    assert {m["id"] for m in evens["results"]} == {first[0]["id"], first[2]["id"], first[4]["id"]}
    subject = await bird.ok("GET", path + "?emailSubject=invoice 3")
    assert [m["id"] for m in subject["results"]] == [first[3]["id"]]
    receiver = first[1]["receiver"]["contacts"][0]["identifierValue"]
    assert [m["id"] for m in (await bird.ok("GET", path + f"?to={receiver.upper()}"))["results"]] == [first[1]["id"]]
    by_id = await bird.ok("GET", path + f"?id={first[0]['id']},{first[1]['id']}")
    assert {m["id"] for m in by_id["results"]} == {first[0]["id"], first[1]["id"]}
    assert (await bird.ok("GET", path + "?status=sent"))["results"] == []
    assert len((await bird.ok("GET", path + "?status=accepted&limit=100"))["results"]) == 6
    assert (await bird.ok("GET", path + "?direction=incoming"))["results"] == []
    assert (await bird.ok("GET", path + "?from=shop@example.com&limit=100"))["results"]
    assert (await bird.ok("GET", path + "?from=else@example.com"))["results"] == []
    assert (await bird.ok("GET", path + "?startAt=2999-01-01T00:00:00Z"))["results"] == []
    huge = base64.urlsafe_b64encode(b"roost-page:" + b"9" * 30).decode()
    for bad in (
        "limit=0",
        "limit=1001",
        "pageToken=bogus",
        f"pageToken={huge}",
        "status=lost",
        "id=nope",
        "startAt=yesterday",
    ):
        response = await bird.client.get(bird.base + path + "?" + bad, headers=bird.headers)
        assert response.status_code == 422, bad
        assert response.json()["code"] == "InvalidPayload"


async def test_opens_clicks_and_unsubscribes_are_interactions(
    bird: Bird, channel: dict[str, Any], runner: DeliveryRunner, sink: Sink, client: Any
) -> None:
    import re as regex

    reader = address()
    sent = await send(
        bird,
        channel,
        {
            "receiver": to(reader),
            "body": {"type": "html", "html": {"html": '<p><a href="https://shop.example/deal">Deal</a></p>'}},
            "enableLinkTracking": True,
        },
    )
    [mail] = await mail_to(runner, sink, reader)
    html_part = mail.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert 'href="https://shop.example/deal"' not in html  # the link goes through the click redirect
    click = regex.search(r'href="http://roost\.test(/t/[^"]+)"', html)
    pixel = regex.search(r'src="http://roost\.test(/t/[^"]+)"', html)
    assert click is not None
    assert pixel is not None
    redirect = await client.get(click.group(1).replace("&amp;", "&"))
    assert redirect.headers["location"] == "https://shop.example/deal"
    await client.get(pixel.group(1).replace("&amp;", "&"))
    unsubscribe = mail["List-Unsubscribe"]
    link = regex.search(r"<http://roost\.test(/u/[^>]+)>", unsubscribe)
    assert link is not None
    assert (await client.post(link.group(1), data={"List-Unsubscribe": "One-Click"})).status_code in (200, 204)
    found = await bird.ok("GET", f"/channels/{channel['id']}/messages/{sent['id']}/interactions")
    kinds = [item["type"] for item in found["results"]]
    assert set(kinds) == {"clicked", "opened", "unsubscribed"}
    clicked = next(item for item in found["results"] if item["type"] == "clicked")
    assert clicked["metadata"]["link"]["url"] == "https://shop.example/deal"
    assert clicked["messageId"] == sent["id"]


async def test_a_bounce_after_sending_makes_it_delivery_failed(
    bird: Bird, channel: dict[str, Any], runner: DeliveryRunner, sink: Sink, sessionmaker: Sessions
) -> None:
    reader = address()
    sent = await send(bird, channel, {"receiver": to(reader), "body": text_body()})
    await mail_to(runner, sink, reader)
    assert (await message(bird, channel, sent))["status"] == "sent"
    async with sessionmaker() as session, session.begin():  # the DSN the bounce listener reads
        row = await session.scalar(select(Message).where(Message.to_address == reader))
        assert row is not None
        report = Report(kind="hard", status="5.1.1", diagnostic="smtp; 550 5.1.1 mailbox unknown")
        assert await bounce_service.record_report(session, message_id=row.id, report=report)
    read = await message(bird, channel, sent)
    assert read["status"] == "delivery_failed"
    assert read["failure"]["code"] == 550
    assert "mailbox unknown" in read["failure"]["description"]
