"""Broadcasts really go out: recipients resolved into messages, sent over SMTP or captured, outcomes recorded."""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.delivery import service as delivery_service
from roost.delivery.addressing import Addressing
from roost.delivery.runner import DeliveryRunner
from roost.kit.clock import utcnow
from roost.models import Broadcast, CapturedMail, Message
from tests.delivery.conftest import SENDER
from tests.helpers import Api
from tests.mail.sink import Sink


def _runner(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], smtp_url: str | None) -> DeliveryRunner:
    return DeliveryRunner.from_settings(settings.model_copy(update={"smtp_url": smtp_url}), sessionmaker)


async def _drain(runner: DeliveryRunner, api: Api, broadcast_id: int, *, passes: int = 50) -> dict[str, Any]:
    """Run delivery passes until the broadcast is sent (other tests' broadcasts may be served too)."""
    for _ in range(passes):
        await runner.run_once()
        broadcast = (await api.get(f"/broadcasts/{broadcast_id}")).json()
        if broadcast["status"] == "sent":
            return dict(broadcast)
    raise AssertionError(f"broadcast {broadcast_id} was not sent: {broadcast['status']}")


async def _contacts(api: Api, domain: str, count: int, *, tag: str | None = None) -> list[str]:
    addresses = [f"reader{n}@{domain}" for n in range(count)]
    for address in addresses:
        contact = await api.created("/contacts", {"email": address, "fields": {"first_name": f"Reader{address[6]}"}})
        if tag:
            await api.post(f"/contacts/{contact['contact_id']}/tags", {"tags": [tag]})
    return addresses


async def _broadcast(api: Api, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "Spring sale",
        "email": {"subject": "Hello %contact.first_name|friend%", "body": "<p>Hi %contact.first_name%, 20% off.</p>"},
        "sender": SENDER,
        "immediate": True,
        **extra,
    }
    return await api.created("/broadcasts", body)


async def test_an_immediate_broadcast_reaches_every_recipient_once_over_smtp(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example"
    wanted = set(await _contacts(api, domain, 5, tag="Spring"))
    await _contacts(api, domain.replace(".", "-other."), 2)  # not tagged: not recipients
    tag_id = (await api.get("/tags", keyword="Spring")).json()["data"][0]["tag_id"]
    broadcast = await _broadcast(api, recipients=[{"match": "any", "conditions": [{"type": "tag", "value": tag_id}]}])

    sent = await _drain(_runner(settings, sessionmaker, sink.url), api, broadcast["broadcast_id"])

    mine = [received for received in sink.received if received.recipients[0].endswith("@" + domain)]
    assert sorted(r.recipients[0] for r in mine) == sorted(wanted)
    assert sent["stats"]["sent"] == 5
    assert sent["sent_at"] is not None
    parsed = email.message_from_bytes(mine[0].data, policy=email.policy.default)
    assert str(parsed["Subject"]).startswith("Hello Reader")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "http://roost.test/u/" in str(parsed["List-Unsubscribe"])
    assert mine[0].envelope_from.startswith("bounces+")
    html = parsed.get_body(("html",))
    assert html is not None
    assert "1 Market Street" in html.get_content()


async def test_without_a_relay_mail_is_captured_and_readable_in_the_outbox(
    api: Api, client: httpx.AsyncClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example"
    await _contacts(api, domain, 2)
    broadcast = await _broadcast(api)
    await _drain(_runner(settings, sessionmaker, None), api, broadcast["broadcast_id"])
    async with sessionmaker() as session:
        captured = (
            await session.scalars(select(CapturedMail).where(CapturedMail.recipients.like(f"%@{domain}")))
        ).all()
    assert len(captured) == 2
    assert {row.subject for row in captured} == {"Hello Reader0", "Hello Reader1"}

    listing = await client.get("/outbox")
    assert listing.status_code == 200
    assert f"reader0@{domain}" in listing.text
    page = await client.get(f"/outbox/{captured[0].id}")
    assert page.status_code == 200
    assert "Shop News" in page.text
    assert "<iframe sandbox srcdoc=" in page.text
    assert "&lt;p&gt;Hi Reader" in page.text  # the mail's HTML is escaped into the sandboxed frame
    raw = await client.get(f"/outbox/{captured[0].id}/raw")
    assert raw.content == captured[0].raw
    assert (await client.get("/outbox/999999999")).status_code == 404


async def test_a_broadcast_to_a_segment_on_a_year_before_1000_goes_out(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example"
    await _contacts(api, domain, 2)
    condition = {"type": "subscribed_at", "operator": "after", "value": "0999-01-01 00:00:00"}
    segment = await api.created("/segments", {"name": "Since 999", "conditions": [condition]})
    broadcast = await _broadcast(
        api, recipients=[{"match": "any", "conditions": [{"type": "segment", "value": segment["segment_id"]}]}]
    )
    sent = await _drain(_runner(settings, sessionmaker, None), api, broadcast["broadcast_id"])
    assert sent["stats"]["sent"] == 2


async def test_transient_refusals_are_retried_and_permanent_ones_bounce_without_retry(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example"
    later, refused, fine = await _contacts(api, domain, 3)
    sink.recipient_replies = {later: "451 4.7.1 try again later", refused: "550 5.1.1 no such user"}
    broadcast = await _broadcast(api)
    runner = _runner(settings, sessionmaker, sink.url)
    for _ in range(10):
        await runner.run_once()

    async with sessionmaker() as session:
        rows = await session.execute(
            select(Message.to_address, Message.status).where(Message.to_address.like(f"%@{domain}"))
        )
        statuses = {address: status for address, status in rows.all()}
    assert statuses == {later: "sending", refused: "bounced", fine: "sent"}

    sink.recipient_replies = {}  # the relay recovers; time passes until the retry is due
    async with sessionmaker() as session, session.begin():
        await session.execute(update(Message).where(Message.to_address == later).values(due_at=utcnow()))
    sent = await _drain(runner, api, broadcast["broadcast_id"])

    delivered = [r.recipients[0] for r in sink.received if r.recipients[0].endswith("@" + domain)]
    assert sorted(delivered) == sorted([later, fine])  # the refused address was never tried again
    assert sent["stats"]["sent"] == 2
    assert sent["stats"]["bounces"] == 1
    bounced = (await api.get("/contacts", search_by="email", keyword=refused)).json()["data"][0]
    assert bounced["status"] == "bounced"  # refused for good: later mail skips this contact


async def test_a_list_is_queued_in_chunks_and_each_recipient_mailed_once(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example"
    wanted = await _contacts(api, domain, 7, tag="Chunked")
    tag_id = (await api.get("/tags", keyword="Chunked")).json()["data"][0]["tag_id"]
    broadcast = await _broadcast(api, recipients=[{"match": "any", "conditions": [{"type": "tag", "value": tag_id}]}])
    broadcast_id = broadcast["broadcast_id"]

    async def queued() -> list[str]:
        async with sessionmaker() as session:
            statement = select(Message.to_address).where(Message.broadcast_id == broadcast_id)
            return sorted((await session.scalars(statement)).all())

    async with sessionmaker() as session, session.begin():
        await delivery_service.start_due_broadcasts(session, now=utcnow(), limit=100, chunk=3)
    assert await queued() == sorted(wanted[:3])  # the first chunk, in contact id order
    # Every queued message finished, the broadcast still is not sent: recipients are left.
    async with sessionmaker() as session, session.begin():
        await session.execute(update(Message).where(Message.broadcast_id == broadcast_id).values(status="sent"))
        await delivery_service.finish_broadcasts(session, now=utcnow())
    assert (await api.get(f"/broadcasts/{broadcast_id}")).json()["status"] == "sending"
    async with sessionmaker() as session, session.begin():
        await session.execute(update(Message).where(Message.broadcast_id == broadcast_id).values(status="queued"))
        await delivery_service.resolve_broadcasts(session, now=utcnow(), limit=100, chunk=3)
    assert await queued() == sorted(wanted[:6])

    sent = await _drain(_runner(settings, sessionmaker, sink.url), api, broadcast_id)
    assert await queued() == sorted(wanted)
    delivered = [r.recipients[0] for r in sink.received if r.recipients[0].endswith("@" + domain)]
    assert sorted(delivered) == sorted(wanted)  # each once
    assert sent["stats"]["sent"] == 7
    async with sessionmaker() as session:
        assert (await session.get(Broadcast, broadcast_id)).resolved_through is None  # type: ignore[union-attr]


async def test_unsubscribed_contacts_get_nothing_even_when_already_queued(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example"
    stays, leaves = await _contacts(api, domain, 2)
    broadcast = await _broadcast(api)
    runner = _runner(settings, sessionmaker, sink.url)
    async with sessionmaker() as session, session.begin():
        await delivery_service.start_due_broadcasts(session, now=utcnow(), limit=100)
    contact = (await api.get("/contacts", search_by="email", keyword=leaves)).json()["data"][0]
    assert (await api.delete(f"/contacts/{contact['contact_id']}/unsubscribe")).status_code == 204

    await _drain(runner, api, broadcast["broadcast_id"])
    delivered = [r.recipients[0] for r in sink.received if r.recipients[0].endswith("@" + domain)]
    assert delivered == [stays]


async def test_a_test_send_reaches_the_given_addresses_only_and_counts_nowhere(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example"
    await _contacts(api, domain, 2)
    draft = await api.created(
        "/broadcasts",
        {"name": "Draft", "email": {"subject": "Proof for %contact.email%", "body": "<p>Proof</p>"}, "sender": SENDER},
    )
    bid = draft["broadcast_id"]
    proof = f"editor@{domain}"
    answer = await api.post(f"/broadcasts/{bid}/test", {"emails": [proof, proof]})
    assert answer.status_code == 202
    assert answer.json() == {"queued": 1}
    runner = _runner(settings, sessionmaker, sink.url)
    for _ in range(3):
        await runner.run_once()

    mine = [r for r in sink.received if r.recipients[0].endswith("@" + domain)]
    assert [r.recipients for r in mine] == [[proof]]
    assert str(email.message_from_bytes(mine[0].data)["Subject"]) == f"Proof for {proof}"
    after = (await api.get(f"/broadcasts/{bid}")).json()
    assert after["status"] == "draft"
    assert after["stats"]["sent"] == 0


async def test_a_test_send_takes_at_most_ten_valid_addresses(api: Api) -> None:
    draft = await api.created(
        "/broadcasts", {"name": "Draft", "email": {"subject": "s", "body": "<p>b</p>"}, "sender": SENDER}
    )
    path = f"/broadcasts/{draft['broadcast_id']}/test"
    too_many = await api.post(path, {"emails": [f"a{n}@example.com" for n in range(11)]})
    assert too_many.status_code == 422
    invalid = await api.post(path, {"emails": ["not an address"]})
    assert invalid.status_code == 422
    assert list(invalid.json()["errors"]) == ["emails.0"]
    assert (await api.post(path, {"emails": []})).status_code == 422


async def test_sent_mail_is_tracked_end_to_end_opens_clicks_and_one_click_unsubscribe(
    api: Api, client: httpx.AsyncClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example"
    (reader,) = await _contacts(api, domain, 1)
    broadcast = await _broadcast(
        api, email={"subject": "Links", "body": '<p><a href="https://shop.example/sale?a=1&amp;b=2">Sale</a></p>'}
    )
    sent = await _drain(_runner(settings, sessionmaker, sink.url), api, broadcast["broadcast_id"])
    assert sent["stats"]["sent"] == 1
    (received,) = [r for r in sink.received if r.recipients == [reader]]
    parsed = email.message_from_bytes(received.data, policy=email.policy.default)
    html_part = parsed.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    click = re.search(r'href="(http://roost\.test/t/c/[^"]+)"', html)
    pixel = re.search(r'src="(http://roost\.test/t/o/[^"]+)"', html)
    assert click is not None
    assert pixel is not None

    redirect = await client.get(click.group(1).replace("&amp;", "&").removeprefix("http://roost.test"))
    assert redirect.status_code == 302
    # The link, with the pixel's visitor identifier (the message, signed) added to its query.
    assert re.fullmatch(r"https://shop\.example/sale\?a=1&b=2&_bsc=\d+\.[0-9a-f]{24}", redirect.headers["location"])
    assert (await client.get(pixel.group(1).removeprefix("http://roost.test"))).status_code == 200

    unsubscribe_url = re.search(r"<(http://roost\.test/u/[^>]+)>", str(parsed["List-Unsubscribe"]))
    assert unsubscribe_url is not None
    one_click = await client.post(
        unsubscribe_url.group(1).removeprefix("http://roost.test"),
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200

    stats = (await api.get(f"/broadcasts/{broadcast['broadcast_id']}")).json()["stats"]
    assert (stats["opens"], stats["clicks"], stats["unsubscribes"]) == (1, 1, 1)
    contact = (await api.get("/contacts", search_by="email", keyword=reader)).json()["data"][0]
    assert contact["status"] == "unsubscribed"


async def test_an_email_that_cannot_be_composed_fails_alone_and_the_rest_still_goes_out(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example"
    (reader,) = await _contacts(api, domain, 1)
    broken = await _broadcast(api, name="Broken", immediate=False)
    async with sessionmaker() as session, session.begin():  # a sender the message format cannot carry
        await session.execute(
            update(Broadcast)
            .where(Broadcast.id == broken["broadcast_id"])
            .values(sender_address="", status="scheduled", scheduled_at=utcnow())
        )
    fine = await _broadcast(api, name="Fine")
    await _drain(_runner(settings, sessionmaker, sink.url), api, fine["broadcast_id"])

    assert [r.recipients for r in sink.received if r.recipients == [reader]] == [[reader]]
    async with sessionmaker() as session:
        failed = (
            await session.execute(
                select(Message.status, Message.last_error).where(Message.broadcast_id == broken["broadcast_id"])
            )
        ).all()
    assert [status for status, _ in failed] == ["failed"]
    assert "cannot compose" in (failed[0][1] or "")


async def test_merge_tags_for_fields_the_account_does_not_have_are_left_as_written(
    api: Api, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], sink: Sink
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example"
    (reader,) = await _contacts(api, domain, 1)
    broadcast = await _broadcast(
        api, email={"subject": "Hi %contact.first_name%", "body": "<p>Dear %contact.nickname%</p>"}
    )
    await _drain(_runner(settings, sessionmaker, sink.url), api, broadcast["broadcast_id"])
    (received,) = [r for r in sink.received if r.recipients == [reader]]
    parsed = email.message_from_bytes(received.data, policy=email.policy.default)
    assert str(parsed["Subject"]) == "Hi Reader0"
    html = parsed.get_body(("html",))
    assert html is not None
    assert "Dear %contact.nickname%" in html.get_content()


async def test_opening_a_test_send_leaves_the_broadcast_stats_alone(
    api: Api, client: httpx.AsyncClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    draft = await _broadcast(api, immediate=False)
    bid = draft["broadcast_id"]
    await api.post(f"/broadcasts/{bid}/test", {"emails": [f"proof@{uuid.uuid4().hex[:8]}.example"]})
    async with sessionmaker() as session:
        proof = await session.scalar(select(Message.id).where(Message.broadcast_id == bid, Message.kind == "test"))
    assert proof is not None
    opened = await client.get(Addressing.from_settings(settings).open_url(proof).removeprefix("http://roost.test"))
    assert opened.status_code == 200
    assert (await api.get(f"/broadcasts/{bid}")).json()["stats"]["opens"] == 0
