"""Open pixel, click redirect and unsubscribe pages (CONVENTIONS §7 stats, §8), through real HTTP.

Sending is not driven here: a sent message is a row written with the app's sessionmaker, and the
tracking URLs are built with the app's own Addressing, as the sender puts them in the mail.
Broadcasts are written through the models too; their stats are read back from the row.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.api.app import create_app
from roost.delivery.addressing import Addressing
from roost.kit.clock import utcnow_seconds
from roost.kit.signing import Signer
from roost.models import Broadcast, Event, Interaction, Message
from tests.conftest import client_for
from tests.helpers import Api, Tenant

Sessions = async_sessionmaker[AsyncSession]
SENDER = {"email": "john@beats.com", "name": "John's Beats", "address": "1 Main St"}
LINK = "https://beats.example/albums?id=7&ref=mail"


@dataclass(frozen=True)
class Mailing:
    """A contact in a sequence of two emails, the first of which was sent to it as `message_id`."""

    contact_id: int
    sequence_id: int
    email_id: int
    next_email_id: int
    message_id: int


@pytest.fixture
def addressing(app: FastAPI) -> Addressing:
    found: Addressing = app.state.roost.addressing
    return found


async def add_message(sessions: Sessions, account_id: int, contact_id: int | None, **values: Any) -> int:
    """A message row as the sender leaves it; sent unless `status` says otherwise."""
    now = utcnow_seconds()
    async with sessions() as session, session.begin():
        message = Message(
            account_id=account_id,
            contact_id=contact_id,
            to_address=values.pop("to_address", "fan@example.com"),
            status=values.pop("status", "sent"),
            kind=values.pop("kind", "sequence"),
            due_at=now,
            sent_at=now,
            **values,
        )
        session.add(message)
        await session.flush()
        return message.id


async def mailing(api: Api, sessions: Sessions, email: str = "fan@example.com") -> Mailing:
    contact = await api.created("/contacts", {"email": email, "fields": {"first_name": "Fan"}})
    sequence = await api.created("/sequences", {"name": "Drip", "sender": SENDER})
    sid = sequence["sequence_id"]
    first = await api.created(f"/sequences/{sid}/emails", {"subject": "One", "body": f'<a href="{LINK}">x</a>'})
    second = await api.created(f"/sequences/{sid}/emails", {"subject": "Two", "body": "<p>Two</p>"})
    await api.created(f"/contacts/{contact['contact_id']}/sequences", {"sequence_id": sid})
    message_id = await add_message(
        sessions, api.account.id, contact["contact_id"], sequence_email_id=first["email_id"], to_address=email
    )
    return Mailing(contact["contact_id"], sid, first["email_id"], second["email_id"], message_id)


async def stats(api: Api, sequence_id: int, email_id: int) -> dict[str, Any]:
    response = await api.get(f"/sequences/{sequence_id}/emails/{email_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["stats"]
    return found


async def message_row(sessions: Sessions, message_id: int) -> Message:
    async with sessions() as session:
        message = await session.get(Message, message_id)
        assert message is not None
        return message


async def interactions(sessions: Sessions, message_id: int) -> list[tuple[str, str]]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Interaction).where(Interaction.message_id == message_id).order_by(Interaction.id)
        )
        return [(row.type, row.url) for row in rows]


async def events(sessions: Sessions, account: Tenant, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    async with sessions() as session:
        rows = await session.scalars(select(Event).where(Event.account_id == account.id).order_by(Event.id))
        return [(event.type, event.data) for event in rows if event.type.startswith(prefix)]


def path(url: str) -> str:
    """The path and query of an absolute URL the app made, to request it from the test client."""
    return url.removeprefix("http://roost.test")


async def test_the_first_open_counts_and_later_ones_do_not(
    api: Api, client: httpx.AsyncClient, sessionmaker: Sessions, addressing: Addressing, account: Tenant
) -> None:
    sent = await mailing(api, sessionmaker)
    for _ in range(3):
        response = await client.get(path(addressing.open_url(sent.message_id)))
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/gif"
        assert response.content.startswith(b"GIF89a")
        assert "no-store" in response.headers["cache-control"]
    assert (await stats(api, sent.sequence_id, sent.email_id))["opens"] == 1
    assert (await message_row(sessionmaker, sent.message_id)).opened_at is not None
    assert await interactions(sessionmaker, sent.message_id) == [("open", "")]
    assert await events(sessionmaker, account, "email.") == [
        ("email.opened", {"message_id": sent.message_id, "broadcast_id": None, "sequence_email_id": sent.email_id})
    ]
    # Opens are unique per message, so per contact: another recipient's open counts.
    other = await api.created("/contacts", {"email": "other@example.com"})
    other_message = await add_message(sessionmaker, account.id, other["contact_id"], sequence_email_id=sent.email_id)
    assert (await client.get(path(addressing.open_url(other_message)))).status_code == 200
    assert (await stats(api, sent.sequence_id, sent.email_id))["opens"] == 2


async def test_a_click_redirects_to_its_link_and_counts_once(
    api: Api, client: httpx.AsyncClient, sessionmaker: Sessions, addressing: Addressing, account: Tenant
) -> None:
    sent = await mailing(api, sessionmaker)
    for _ in range(2):
        response = await client.get(path(addressing.click_url(sent.message_id, LINK)))
        assert response.status_code == 302
        # The link itself, with the pixel's visitor identifier added to its query.
        assert response.headers["location"] == f"{LINK}&_bsc={addressing.visitor_id(sent.message_id)}"
    other_link = "https://beats.example/tour"
    assert (await client.get(path(addressing.click_url(sent.message_id, other_link)))).status_code == 302
    # Images were blocked: the click is the proof of an open.
    found = await stats(api, sent.sequence_id, sent.email_id)
    assert (found["opens"], found["clicks"]) == (1, 1)
    row = await message_row(sessionmaker, sent.message_id)
    assert row.opened_at is not None
    assert row.clicked_at is not None
    assert await interactions(sessionmaker, sent.message_id) == [
        ("open", ""),
        ("click", LINK),
        ("click", LINK),
        ("click", other_link),
    ]
    email = {"message_id": sent.message_id, "broadcast_id": None, "sequence_email_id": sent.email_id}
    assert await events(sessionmaker, account, "email.") == [
        ("email.opened", email),
        ("email.clicked", {**email, "url": LINK}),  # once per link, however often it is followed
        ("email.clicked", {**email, "url": other_link}),
    ]


async def test_only_marketing_mail_to_a_contact_hands_the_visitor_identifier_on(
    api: Api, client: httpx.AsyncClient, sessionmaker: Sessions, addressing: Addressing, settings: Any
) -> None:
    sent = await mailing(api, sessionmaker)
    identifier = addressing.visitor_id(sent.message_id)
    landings = {
        "https://beats.example/": f"https://beats.example/?_bsc={identifier}",
        "https://beats.example/a?b=1#tracks": f"https://beats.example/a?b=1&_bsc={identifier}#tracks",
        "https://beats.example/a?_bsc=forged&b=%20": f"https://beats.example/a?b=%20&_bsc={identifier}",
        "https://beats.example/a?#top": f"https://beats.example/a?_bsc={identifier}#top",
    }
    for link, landing in landings.items():
        response = await client.get(path(addressing.click_url(sent.message_id, link)))
        assert response.status_code == 302, link
        assert response.headers["location"] == landing, link
    assert addressing.visitor_message_id(identifier) == sent.message_id
    # The identifier reaches other sites: it is worthless as the message's other tokens.
    assert (await client.get(f"/u/{identifier}")).status_code == 404
    assert (await client.post(f"/u/{identifier}")).status_code == 404
    assert (await client.get(f"/t/o/{identifier}")).status_code == 404
    assert addressing.message_id(identifier) is None

    # A test send names no contact: its links land as written.
    test_send = await add_message(sessionmaker, api.account.id, None, kind="test", to_address="me@example.com")
    response = await client.get(path(addressing.click_url(test_send, LINK)))
    assert response.headers["location"] == LINK

    # With the setting off, no link carries it.
    quiet = create_app(settings.model_copy(update={"pixel_identifier": False}))
    try:
        async with client_for(quiet) as other_client:
            response = await other_client.get(path(addressing.click_url(sent.message_id, LINK)))
        assert response.status_code == 302
        assert response.headers["location"] == LINK
    finally:
        await quiet.state.roost.dispose()


async def test_a_click_goes_nowhere_but_the_signed_url(
    api: Api, client: httpx.AsyncClient, sessionmaker: Sessions, addressing: Addressing
) -> None:
    sent = await mailing(api, sessionmaker)
    other = await add_message(sessionmaker, api.account.id, None, kind="test", to_address="me@example.com")
    good = httpx.URL(addressing.click_url(sent.message_id, LINK))
    signature = good.params["sig"]
    token = addressing.token(sent.message_id)
    attempts = [
        good.copy_set_param("url", "https://evil.example/"),
        good.copy_set_param("url", LINK + "&x=1"),
        good.copy_set_param("sig", "0" * len(signature)),
        good.copy_set_param("sig", signature[:-1] + "é"),
        good.copy_remove_param("sig"),
        good.copy_remove_param("url"),
        httpx.URL(addressing.click_url(other, LINK)).copy_with(path=f"/t/c/{token}"),  # another message's pair
        good.copy_with(path=f"/t/c/{sent.message_id}.{signature}"),
    ]
    # Even signed, a link that is not http(s) is never a redirect.
    attempts.append(httpx.URL(addressing.click_url(sent.message_id, "javascript:alert(1)")))
    for url in attempts:
        response = await client.get(str(url).removeprefix("http://roost.test"))
        assert response.status_code == 404, url
        assert "location" not in response.headers
        assert response.headers["content-type"].startswith("text/html")
    assert await interactions(sessionmaker, sent.message_id) == []
    assert (await stats(api, sent.sequence_id, sent.email_id))["clicks"] == 0


async def test_forged_tokens_answer_404_everywhere(
    api: Api, client: httpx.AsyncClient, sessionmaker: Sessions, addressing: Addressing, settings: Any
) -> None:
    sent = await mailing(api, sessionmaker)
    real = addressing.token(sent.message_id)
    value, _, signature = real.partition(".")
    other_purpose = Signer(settings.secret_key, "click").sign(value)
    forged = [
        f"{int(value) + 1}.{signature}",
        value,
        other_purpose,
        "",
        "x" * 5000,
        f"{value}.{signature[:-1]}é",
        addressing.token(10**15),  # signed, but no such message
    ]
    for token in forged:
        for method, url in (
            ("GET", f"/t/o/{token}"),
            ("GET", f"/t/c/{token}?url={LINK}&sig={signature}"),
            ("GET", f"/u/{token}"),
            ("POST", f"/u/{token}"),
        ):
            response = await client.request(method, url)
            assert response.status_code == 404, (method, url)
    assert await interactions(sessionmaker, sent.message_id) == []
    assert (await api.get(f"/contacts/{sent.contact_id}")).json()["status"] == "active"


async def test_the_unsubscribe_page_asks_and_changes_nothing(
    api: Api, client: httpx.AsyncClient, sessionmaker: Sessions, addressing: Addressing, account: Tenant
) -> None:
    sent = await mailing(api, sessionmaker)
    before = await events(sessionmaker, account)
    response = await client.get(path(addressing.unsubscribe_url(sent.message_id)))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"
    page = response.text
    assert "Unsubscribe from John&#39;s Beats?" in page  # the sender's name, escaped
    assert "fan@example.com" in page
    assert '<form method="post">' in page
    contact = (await api.get(f"/contacts/{sent.contact_id}")).json()
    assert contact["status"] == "active"
    assert [sequence["sequence_id"] for sequence in contact["sequences"]] == [sent.sequence_id]
    assert await events(sessionmaker, account) == before
    assert await interactions(sessionmaker, sent.message_id) == []


async def test_posting_the_page_unsubscribes_once(
    api: Api, client: httpx.AsyncClient, sessionmaker: Sessions, addressing: Addressing, account: Tenant
) -> None:
    sent = await mailing(api, sessionmaker)
    queued = await add_message(
        sessionmaker, account.id, sent.contact_id, sequence_email_id=sent.next_email_id, status="queued"
    )
    url = path(addressing.unsubscribe_url(sent.message_id))
    before = len(await events(sessionmaker, account))
    response = await client.post(url)
    assert response.status_code == 200
    assert "You are unsubscribed" in response.text
    assert "fan@example.com" in response.text
    contact = (await api.get(f"/contacts/{sent.contact_id}")).json()
    assert contact["status"] == "unsubscribed"
    assert contact["sequences"] == []
    assert (await stats(api, sent.sequence_id, sent.email_id))["unsubscribes"] == 1
    assert (await message_row(sessionmaker, queued)).status == "cancelled"
    assert (await message_row(sessionmaker, sent.message_id)).status == "sent"
    assert await interactions(sessionmaker, sent.message_id) == [("unsubscribe", "")]
    recorded = [type for type, _ in (await events(sessionmaker, account))[before:]]
    assert recorded == ["contact.unsubscribed", "sequence.unsubscribed"]

    # Idempotent: again, and through the one-click form, nothing more happens.
    assert (await client.post(url)).status_code == 200
    assert (await client.post(url, data={"List-Unsubscribe": "One-Click"})).status_code == 200
    assert (await stats(api, sent.sequence_id, sent.email_id))["unsubscribes"] == 1
    assert await interactions(sessionmaker, sent.message_id) == [("unsubscribe", "")]
    assert len(await events(sessionmaker, account)) == before + len(recorded)
    again = await client.get(url)
    assert "You are unsubscribed" in again.text
    assert "<form" not in again.text


async def test_one_click_unsubscribe_answers_briefly(
    api: Api, client: httpx.AsyncClient, sessionmaker: Sessions, addressing: Addressing
) -> None:
    sent = await mailing(api, sessionmaker)
    response = await client.post(
        path(addressing.unsubscribe_url(sent.message_id)), data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert len(response.content) < 100
    assert (await api.get(f"/contacts/{sent.contact_id}")).json()["status"] == "unsubscribed"
    assert (await stats(api, sent.sequence_id, sent.email_id))["unsubscribes"] == 1


async def test_another_account_is_never_affected(
    api: Api,
    other_api: Api,
    client: httpx.AsyncClient,
    sessionmaker: Sessions,
    addressing: Addressing,
    other_account: Tenant,
) -> None:
    mine = await mailing(api, sessionmaker)
    theirs = await mailing(other_api, sessionmaker)  # the same address, in another account
    their_queued = await add_message(
        sessionmaker, other_account.id, theirs.contact_id, sequence_email_id=theirs.next_email_id, status="queued"
    )
    assert (await client.get(path(addressing.open_url(mine.message_id)))).status_code == 200
    assert (await client.get(path(addressing.click_url(mine.message_id, LINK)))).status_code == 302
    assert (await client.post(path(addressing.unsubscribe_url(mine.message_id)))).status_code == 200
    assert (await api.get(f"/contacts/{mine.contact_id}")).json()["status"] == "unsubscribed"
    assert (await other_api.get(f"/contacts/{theirs.contact_id}")).json()["status"] == "active"
    their_stats = await stats(other_api, theirs.sequence_id, theirs.email_id)
    assert (their_stats["opens"], their_stats["clicks"], their_stats["unsubscribes"]) == (0, 0, 0)
    assert (await message_row(sessionmaker, their_queued)).status == "queued"
    assert await interactions(sessionmaker, theirs.message_id) == []
    assert await events(sessionmaker, other_account, "email.") == []


async def test_broadcast_messages_count_in_the_broadcast(
    api: Api, client: httpx.AsyncClient, sessionmaker: Sessions, addressing: Addressing, account: Tenant
) -> None:
    contact = await api.created("/contacts", {"email": "fan@example.com"})
    async with sessionmaker() as session, session.begin():
        broadcast = Broadcast(
            account_id=account.id,
            name="Launch",
            subject="New album",
            body="<p>Out now</p>",
            status="sent",
            sender_email="news@label.example",
            sender_name="The Label",
            sender_address="2 High St",
        )
        session.add(broadcast)
        await session.flush()
        broadcast_id = broadcast.id
    message_id = await add_message(
        sessionmaker, account.id, contact["contact_id"], kind="broadcast", broadcast_id=broadcast_id
    )
    assert (await client.get(path(addressing.open_url(message_id)))).status_code == 200
    assert (await client.get(path(addressing.open_url(message_id)))).status_code == 200
    assert (await client.get(path(addressing.click_url(message_id, LINK)))).status_code == 302
    page = await client.get(path(addressing.unsubscribe_url(message_id)))
    assert "Unsubscribe from The Label?" in page.text
    assert (await client.post(path(addressing.unsubscribe_url(message_id)))).status_code == 200
    async with sessionmaker() as session:
        row = await session.get(Broadcast, broadcast_id)
        assert row is not None
        assert (row.opens, row.clicks, row.unsubscribes) == (1, 1, 1)
    assert [type for type, _ in await events(sessionmaker, account, "email.")] == ["email.opened", "email.clicked"]
    opened = (await events(sessionmaker, account, "email.opened"))[0][1]
    assert opened == {"message_id": message_id, "broadcast_id": broadcast_id, "sequence_email_id": None}


async def test_a_test_send_has_nobody_to_unsubscribe(
    api: Api, client: httpx.AsyncClient, sessionmaker: Sessions, addressing: Addressing, account: Tenant
) -> None:
    message_id = await add_message(sessionmaker, account.id, None, kind="test", to_address="owner@example.com")
    url = path(addressing.unsubscribe_url(message_id))
    page = await client.get(url)
    assert page.status_code == 200
    assert "Nothing to unsubscribe" in page.text
    assert "Ada Owner" in page.text  # no broadcast or sequence: the account's name
    assert (await client.post(url)).status_code == 200
    assert await interactions(sessionmaker, message_id) == []


async def test_simultaneous_opens_clicks_and_unsubscribes_count_once(
    api: Api, client: httpx.AsyncClient, sessionmaker: Sessions, addressing: Addressing
) -> None:
    sent = await mailing(api, sessionmaker)
    requests = [client.get(path(addressing.open_url(sent.message_id))) for _ in range(4)]
    requests += [client.get(path(addressing.click_url(sent.message_id, LINK))) for _ in range(4)]
    requests += [client.post(path(addressing.unsubscribe_url(sent.message_id))) for _ in range(4)]
    responses = await asyncio.gather(*requests)
    assert sorted(response.status_code for response in responses) == [200] * 8 + [302] * 4
    found = await stats(api, sent.sequence_id, sent.email_id)
    assert (found["opens"], found["clicks"], found["unsubscribes"]) == (1, 1, 1)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"List-Unsubscribe=One-Click"),
        ("multipart/form-data; boundary=x", b"--x\r\ngarbage"),
        ("application/json", b'{"List-Unsubscribe": "One-Click"}'),
        ("application/x-www-form-urlencoded", b"List-Unsubscribe=%FF%00&&=="),
    ],
)
async def test_odd_unsubscribe_bodies_are_never_a_server_error(
    api: Api, client: httpx.AsyncClient, sessionmaker: Sessions, addressing: Addressing, content_type: str, body: bytes
) -> None:
    sent = await mailing(api, sessionmaker)
    response = await client.post(
        path(addressing.unsubscribe_url(sent.message_id)), content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code < 500
