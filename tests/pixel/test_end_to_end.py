"""Issue 5, end to end: a broadcast really sent, its tracked link followed through the app, the landing
page's pixel reporting to the collect endpoint, and what follows: the conversion, its attribution, the
broadcast's `altv`, and the rules that react (CONVENTIONS §7)."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.helpers import Api, Tenant
from tests.pixel.conftest import Mail, broadcast, broadcast_stats, contact, domain, links
from tests.pixel.test_collect import collect, page_views
from tests.rules.conftest import Rules, tag_action

SHOP = "https://shop.example/spring?utm_source=mail#top"


def identifier_of(landing: str) -> str:
    (identifier,) = parse_qs(urlsplit(landing).query)["_bsc"]
    return identifier


async def test_a_click_then_a_purchase_on_the_site_is_a_conversion_of_that_broadcast(
    api: Api, account: Tenant, client: httpx.AsyncClient, mail: Mail, rules: Rules
) -> None:
    big_spender = await rules.create(
        [{"trigger": "has_conversion_value", "params": {"operator": "exceeds", "value": 40}}],
        [tag_action("Big spender")],
    )
    at = domain()
    buyer, reader = f"buyer@{at}", f"reader@{at}"
    buyer_id = await contact(api, buyer)
    await contact(api, reader)
    spring = await broadcast(api, "Spring sale", links(SHOP))
    await mail.deliver()

    # The tracked link lands on the shop with the visitor identifier added to its query.
    landing = (await mail.follow(buyer, "Spring sale", SHOP)).headers["location"]
    assert landing.startswith("https://shop.example/spring?utm_source=mail&_bsc=")
    assert landing.endswith("#top")
    identifier = identifier_of(landing)
    assert re.fullmatch(r"\d+\.[0-9a-f]{24}", identifier)  # the message it came from, signed

    # The landing page's pixel: a page view, then the purchase, tied to the buyer by the identifier.
    workspace = str(account.workspace_id)
    seen = await collect(client, {"workspace": workspace, "type": "page_view", "identifier": identifier})
    assert seen.status_code == 204
    purchase = {
        "workspace": workspace,
        "type": "conversion",
        "identifier": identifier,
        "url": "https://shop.example/thanks?order=1042&email=buyer@example.com",
        "value": 49.9,
        "currency": "eur",
        "event_id": "order-1042",
    }
    assert (await collect(client, purchase)).status_code == 204
    assert (await collect(client, purchase)).status_code == 204  # reported twice (a reload): recorded once

    (conversion,) = (await api.get("/conversions")).json()["data"]
    assert {key: conversion[key] for key in ("contact_id", "value", "currency", "source", "attribution")} == {
        "contact_id": buyer_id,
        "value": 49.9,
        "currency": "EUR",
        "source": "pixel: https://shop.example/thanks",  # no query: it may hold personal data
        "attribution": {"type": "broadcast", "id": spring},
    }
    stats = await broadcast_stats(api, spring)
    assert (stats["sent"], stats["clicks"], stats["altv"]) == (2, 1, 24.95)  # 49.90 over 2 sent
    found = await page_views(api, days=1)
    assert (found["page_views"], found["identified"]) == (1, 1)

    # conversion.created set off has_conversion_value: the rule tagged the buyer, once.
    await rules.settle()
    assert await rules.tags(buyer_id) == {"Big spender"}
    (run,) = await rules.runs(big_spender)
    assert (run["contact_id"], run["event"]["type"], run["status"]) == (buyer_id, "conversion.created", "done")


async def test_a_tampered_identifier_records_nothing(
    api: Api, account: Tenant, client: httpx.AsyncClient, mail: Mail
) -> None:
    buyer = f"buyer@{domain()}"
    await contact(api, buyer)
    await broadcast(api, "Offer", links(SHOP))
    await mail.deliver()
    identifier = identifier_of((await mail.follow(buyer, "Offer", SHOP)).headers["location"])
    message_id, signature = identifier.split(".")
    tampered = [
        f"{int(message_id) + 1}.{signature}",  # another message, the same signature
        f"{message_id}.{signature[:-1]}{'0' if signature[-1] != '0' else '1'}",
        message_id,
    ]
    for forged in tampered:
        report = {"workspace": str(account.workspace_id), "type": "conversion", "identifier": forged, "value": 10}
        response = await collect(client, report)
        assert response.status_code == 422, forged
        assert response.json()["errors"] == {"identifier": ["The identifier is invalid."]}
    assert (await api.get("/conversions")).json()["meta"]["total"] == 0


async def test_an_identifier_only_works_in_its_own_workspace(
    api: Api, other_api: Api, client: httpx.AsyncClient, mail: Mail, other_account: Tenant
) -> None:
    buyer = f"buyer@{domain()}"
    await contact(api, buyer)
    await broadcast(api, "Offer", links(SHOP))
    await mail.deliver()
    identifier = identifier_of((await mail.follow(buyer, "Offer", SHOP)).headers["location"])
    # Another workspace's pixel holding it: genuine, but it names no contact of that workspace.
    report = {"workspace": str(other_account.workspace_id), "type": "conversion", "identifier": identifier}
    assert (await collect(client, {**report, "value": 5})).status_code == 204
    assert (await other_api.get("/conversions")).json()["meta"]["total"] == 0
    assert (await api.get("/conversions")).json()["meta"]["total"] == 0


async def test_a_purchase_a_week_after_the_click_is_the_contacts_but_no_emails(
    api: Api, account: Tenant, client: httpx.AsyncClient, mail: Mail
) -> None:
    buyer = f"buyer@{domain()}"
    buyer_id = await contact(api, buyer)
    offer = await broadcast(api, "Offer", links(SHOP))
    await mail.deliver()
    identifier = identifier_of((await mail.follow(buyer, "Offer", SHOP)).headers["location"])
    await mail.age_clicks(buyer_id, timedelta(days=7, minutes=1))  # the cookie lasts 90 days; attribution 7

    report = {"workspace": str(account.workspace_id), "type": "conversion", "identifier": identifier, "value": 80}
    assert (await collect(client, report)).status_code == 204
    (conversion,) = (await api.get("/conversions")).json()["data"]
    assert (conversion["contact_id"], conversion["source"], conversion["attribution"]) == (buyer_id, "pixel", {})
    assert (await broadcast_stats(api, offer))["altv"] == 0


async def test_a_deleted_contacts_identifier_converts_nobody(
    api: Api, account: Tenant, client: httpx.AsyncClient, mail: Mail
) -> None:
    buyer = f"buyer@{domain()}"
    buyer_id = await contact(api, buyer)
    await broadcast(api, "Offer", links(SHOP))
    await mail.deliver()
    identifier = identifier_of((await mail.follow(buyer, "Offer", SHOP)).headers["location"])
    assert (await api.delete(f"/contacts/{buyer_id}")).status_code == 204

    workspace = str(account.workspace_id)
    report = {"workspace": workspace, "type": "conversion", "identifier": identifier, "value": 80}
    assert (await collect(client, report)).status_code == 204
    assert (await api.get("/conversions")).json()["meta"]["total"] == 0
    assert (
        await collect(client, {"workspace": workspace, "type": "page_view", "identifier": identifier})
    ).status_code == 204
    found = await page_views(api, days=1)
    assert (found["page_views"], found["identified"]) == (1, 0)
