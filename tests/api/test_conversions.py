"""Conversions CRUD (seed 001: Conversions; CONVENTIONS §7)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.models import Event
from tests.helpers import Api, Tenant

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


async def _contact(api: Api, email: str = "buyer@example.com") -> int:
    contact_id: int = (await api.created("/contacts", {"email": email}))["contact_id"]
    return contact_id


async def _events(sessionmaker: async_sessionmaker[AsyncSession], account: Tenant) -> list[tuple[str, Any, Any]]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(Event.type, Event.contact_id, Event.data)
            .where(Event.account_id == account.id, Event.type.like("conversion.%"))
            .order_by(Event.id)
        )
        return [(type_, contact_id, data) for type_, contact_id, data in rows]


async def _count(api: Api) -> int:
    total: int = (await api.get("/conversions")).json()["meta"]["total"]
    return total


async def test_conversion_lifecycle_records_events(
    api: Api, sessionmaker: async_sessionmaker[AsyncSession], account: Tenant
) -> None:
    cid = await _contact(api)
    created = await api.created(
        "/conversions", {"contact_id": cid, "value": 19.99, "currency": "eur", "source": "checkout"}
    )
    assert set(created) == {
        "conversion_id",
        "contact_id",
        "value",
        "currency",
        "source",
        "attribution",
        "created_at",
    }
    assert created["contact_id"] == cid
    assert created["value"] == 19.99
    assert created["currency"] == "EUR"
    assert created["source"] == "checkout"
    assert created["attribution"] == {}
    assert TIMESTAMP.match(created["created_at"])
    conversion_id = created["conversion_id"]
    path = f"/conversions/{conversion_id}"
    assert (await api.get(path)).json() == created

    patched = await api.patch(path, {"value": "25", "source": "upsell"})
    assert patched.status_code == 200
    assert patched.json() == {**created, "value": 25, "source": "upsell"}
    unchanged = await api.patch(path, {"value": 25, "currency": "EUR"})
    assert unchanged.json() == patched.json()

    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404
    assert (await api.patch(path, {"value": 1})).status_code == 404
    assert (await api.get(f"/conversions/{2**64}")).status_code == 404

    assert await _events(sessionmaker, account) == [
        ("conversion.created", cid, {"conversion_id": conversion_id, "value": 19.99, "currency": "EUR"}),
        (
            "conversion.updated",
            cid,
            {"conversion_id": conversion_id, "value": 25.0, "currency": "EUR", "changed": ["value", "source"]},
        ),
        ("conversion.deleted", cid, {"conversion_id": conversion_id, "value": 25.0, "currency": "EUR"}),
    ]


async def test_contact_found_by_email_and_defaults(api: Api) -> None:
    cid = await _contact(api, "Mixed.Case@example.com")
    created = await api.created("/conversions", {"email": "mixed.case@EXAMPLE.com"})
    assert created["contact_id"] == cid
    assert created["value"] == 0
    assert created["currency"] == "USD"
    assert created["source"] == ""


async def test_value_is_kept_to_the_cent(api: Api) -> None:
    cid = await _contact(api)
    for sent, kept in ((10.005, 10.01), (0.1 + 0.2, 0.3), ("7.5", 7.5), (999999999999.99, 999999999999.99)):
        created = await api.created("/conversions", {"contact_id": cid, "value": sent})
        assert created["value"] == kept, sent


async def test_the_contact_is_named_exactly_once_and_in_this_account(api: Api, other_api: Api) -> None:
    mine = await _contact(api)
    theirs = await _contact(other_api, "theirs@example.com")
    cases: list[tuple[dict[str, Any], dict[str, list[str]]]] = [
        ({}, {"contact_id": ["The contact id field is required when email is not present."]}),
        (
            {"contact_id": mine, "email": "buyer@example.com"},
            {"email": ["The email field is prohibited when contact id is present."]},
        ),
        ({"contact_id": theirs}, {"contact_id": ["The selected contact id is invalid."]}),
        ({"contact_id": 987654321}, {"contact_id": ["The selected contact id is invalid."]}),
        ({"email": "theirs@example.com"}, {"email": ["The selected email is invalid."]}),
        ({"email": "not an email"}, {"email": ["The email must be a valid email address."]}),
        ({"contact_id": "1"}, {"contact_id": ["The contact id must be an integer."]}),
    ]
    for body, errors in cases:
        response = await api.post("/conversions", body)
        assert response.status_code == 422, body
        assert response.json() == {"message": "The given data was invalid.", "errors": errors}, body
    assert await _count(api) == 0
    assert await _count(other_api) == 0


async def test_value_and_currency_are_validated(client: httpx.AsyncClient, account: Tenant, api: Api) -> None:
    cid = await _contact(api)
    cases: list[tuple[dict[str, Any], dict[str, list[str]]]] = [
        ({"value": -1}, {"value": ["The value must be at least 0."]}),
        ({"value": 10**13}, {"value": ["The value may not be greater than 999999999999.99."]}),
        ({"value": "ten"}, {"value": ["The value must be a number."]}),
        ({"currency": "ZZZ"}, {"currency": ["The currency must be an ISO 4217 currency code."]}),
        ({"currency": "US"}, {"currency": ["The currency must be at least 3 characters."]}),
        ({"currency": 840}, {"currency": ["The currency must be a string."]}),
        ({"source": "s" * 256}, {"source": ["The source may not be greater than 255 characters."]}),
    ]
    for extra, errors in cases:
        response = await api.post("/conversions", {"contact_id": cid, **extra})
        assert response.status_code == 422, extra
        assert response.json()["errors"] == errors, extra
    # Python's JSON reader turns these into inf and NaN; they are no amount.
    for raw in (b"1e400", b"NaN", b"-Infinity"):
        body = b'{"contact_id": %d, "value": %s}' % (cid, raw)
        response = await client.post("/v1/conversions", content=body, headers=account.headers)
        assert response.status_code == 422, raw
        assert response.json()["errors"] == {"value": ["The value must be a number."]}, raw
    assert await _count(api) == 0
    created = await api.created("/conversions", {"contact_id": cid})
    refused = await api.patch(f"/conversions/{created['conversion_id']}", {"currency": "EURO"})
    assert refused.status_code == 422
    assert (await api.get(f"/conversions/{created['conversion_id']}")).json() == created


async def test_conversion_list_searches_and_orders(api: Api) -> None:
    cid = await _contact(api)
    for value, source in ((5, "Checkout"), (50, "upsell"), (0.5, "checkout page")):
        await api.created("/conversions", {"contact_id": cid, "value": value, "source": source})
    newest_first = (await api.get("/conversions")).json()
    assert [c["value"] for c in newest_first["data"]] == [0.5, 50, 5]
    by_value = (await api.get("/conversions", order_by="value", sort="desc")).json()
    assert [c["value"] for c in by_value["data"]] == [50, 5, 0.5]
    found = (await api.get("/conversions", search_by="source", keyword="CHECKOUT", order_by="value")).json()
    assert [c["source"] for c in found["data"]] == ["checkout page", "Checkout"]
    assert (await api.get("/conversions", search_by="currency")).status_code == 422


async def test_conversions_outlive_their_contact(api: Api) -> None:
    cid = await _contact(api)
    created = await api.created("/conversions", {"contact_id": cid, "value": 12})
    await api.delete(f"/contacts/{cid}")
    kept = (await api.get(f"/conversions/{created['conversion_id']}")).json()
    assert kept == {**created, "contact_id": None}
