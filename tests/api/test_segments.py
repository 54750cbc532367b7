"""Segments (ext): saved condition sets with a live count (CONVENTIONS §7)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.rows import Sessions, add_sequence, set_contact
from tests.helpers import Api

SENDER = {"email": "me@example.com", "name": "Me", "address": "1 Main St"}


async def test_segment_crud(api: Api) -> None:
    tag = await api.created("/tags", {"name": "Buyers"})
    created = await api.created(
        "/segments",
        {
            "name": "Buyers at example.com",
            "match": "all",
            "conditions": [
                {"type": "tag", "operator": "has", "value": "buyers"},
                {"type": "email_domain", "operator": "equals", "value": "@Example.COM"},
            ],
        },
    )
    assert set(created) == {"segment_id", "name", "match", "conditions", "created_at", "updated_at"}
    assert created["conditions"] == [
        {"type": "tag", "operator": "has", "key": None, "value": tag["tag_id"]},
        {"type": "email_domain", "operator": "equals", "key": None, "value": "example.com"},
    ]
    sid = created["segment_id"]
    assert (await api.get(f"/segments/{sid}")).json() == created
    renamed = await api.patch(f"/segments/{sid}", {"name": "Renamed", "match": "any"})
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["match"]) == ("Renamed", "any")
    assert renamed.json()["conditions"] == created["conditions"]
    listed = (await api.get("/segments", keyword="renam")).json()
    assert [s["segment_id"] for s in listed["data"]] == [sid]
    assert (await api.delete(f"/segments/{sid}")).status_code == 204
    assert (await api.get(f"/segments/{sid}")).status_code == 404


async def _count(api: Api, conditions: list[dict[str, Any]], match: str = "all") -> int:
    segment = await api.created("/segments", {"name": "s", "match": match, "conditions": conditions})
    response = await api.get(f"/segments/{segment['segment_id']}/count")
    assert response.status_code == 200
    count: int = response.json()["count"]
    return count


async def test_every_condition_type_counts_contacts_of_any_status(api: Api, sessionmaker: Sessions) -> None:
    await api.created("/fields", {"label": "City", "type": "text", "key": "city"})
    ada = await api.created(
        "/contacts", {"email": "ada@example.com", "fields": {"first_name": "Ada", "city": "London"}}
    )
    grace = await api.created(
        "/contacts", {"email": "grace@navy.mil", "fields": {"first_name": "Grace", "city": "NYC"}}
    )
    alan = await api.created("/contacts", {"email": "alan@Example.com"})
    await api.post(f"/contacts/{ada['contact_id']}/tags", {"tags": ["VIP"]})
    await api.delete(f"/contacts/{grace['contact_id']}/unsubscribe")
    await set_contact(
        sessionmaker, alan["contact_id"], subscribed_at=datetime(2020, 1, 1, tzinfo=UTC), confirmed_at=None
    )
    sequence = await add_sequence(api, [alan["contact_id"]])

    assert await _count(api, [{"type": "tag", "operator": "has", "value": "VIP"}]) == 1
    assert await _count(api, [{"type": "tag", "operator": "has_not", "value": "VIP"}]) == 2
    assert await _count(api, [{"type": "sequence", "operator": "in", "value": sequence}]) == 1
    assert await _count(api, [{"type": "sequence", "operator": "not_in", "value": str(sequence)}]) == 2
    assert await _count(api, [{"type": "field", "key": "first_name", "operator": "equals", "value": "ADA"}]) == 1
    assert await _count(api, [{"type": "field", "key": "city", "operator": "contains", "value": "ond"}]) == 1
    assert await _count(api, [{"type": "field", "key": "city", "operator": "contains", "value": "%"}]) == 0
    assert await _count(api, [{"type": "field", "key": "city", "operator": "empty"}]) == 1
    assert await _count(api, [{"type": "field", "key": "last_name", "operator": "not_empty"}]) == 0
    assert await _count(api, [{"type": "email_domain", "operator": "equals", "value": "example.com"}]) == 2
    assert await _count(api, [{"type": "email_domain", "operator": "not_equals", "value": "example.com"}]) == 1
    assert await _count(api, [{"type": "status", "operator": "equals", "value": "unsubscribed"}]) == 1
    assert await _count(api, [{"type": "status", "operator": "not_equals", "value": "active"}]) == 1
    assert await _count(api, [{"type": "subscribed_at", "operator": "before", "value": "2021-01-01 00:00:00"}]) == 1
    assert await _count(api, [{"type": "subscribed_at", "operator": "after", "value": "2021-01-01T00:00:00Z"}]) == 2
    # An unset confirmed_at matches neither side, nor its negation inside a broadcast.
    assert await _count(api, [{"type": "confirmed_at", "operator": "before", "value": "2999-01-01 00:00:00"}]) == 2
    assert await _count(api, [{"type": "confirmed_at", "operator": "after", "value": "2000-01-01 00:00:00"}]) == 2
    # all / any
    vip_or_navy = [
        {"type": "tag", "operator": "has", "value": "VIP"},
        {"type": "email_domain", "operator": "equals", "value": "navy.mil"},
    ]
    assert await _count(api, vip_or_navy, match="any") == 2
    assert await _count(api, vip_or_navy, match="all") == 0


async def test_not_in_segment_includes_contacts_with_unset_values(api: Api, sessionmaker: Sessions) -> None:
    await api.created("/fields", {"label": "City", "type": "text", "key": "city"})
    await api.created("/contacts", {"email": "a@example.com", "fields": {"city": "Paris"}})
    unset = await api.created("/contacts", {"email": "b@example.com"})
    await set_contact(sessionmaker, unset["contact_id"], confirmed_at=None)
    segment = await api.created(
        "/segments",
        {
            "name": "Parisians confirmed lately",
            "match": "any",
            "conditions": [
                {"type": "field", "key": "city", "operator": "equals", "value": "paris"},
                {"type": "confirmed_at", "operator": "after", "value": "2000-01-01 00:00:00"},
            ],
        },
    )
    broadcast = await api.created(
        "/broadcasts",
        {
            "name": "Everyone else",
            "email": {"subject": "s", "body": "b"},
            "sender": SENDER,
            "recipients": [{"match": "exclude", "conditions": [{"type": "segment", "value": segment["segment_id"]}]}],
        },
    )
    count = await api.get(f"/broadcasts/{broadcast['broadcast_id']}/recipients/count")
    assert count.json() == {"count": 1}


@pytest.mark.parametrize(
    ("condition", "path"),
    [
        ({"type": "tag", "operator": "in", "value": 1}, "conditions.0.operator"),
        ({"type": "tag", "operator": "has", "value": 999_999_999}, "conditions.0.value"),
        ({"type": "tag", "operator": "has", "value": "missing"}, "conditions.0.value"),
        ({"type": "tag", "operator": "has"}, "conditions.0.value"),
        ({"type": "sequence", "operator": "in", "value": 999_999_999}, "conditions.0.value"),
        ({"type": "field", "operator": "equals", "value": "x"}, "conditions.0.key"),
        ({"type": "field", "key": "nope", "operator": "equals", "value": "x"}, "conditions.0.key"),
        ({"type": "field", "key": "first_name", "operator": "equals"}, "conditions.0.value"),
        ({"type": "email_domain", "operator": "equals", "value": "a b"}, "conditions.0.value"),
        ({"type": "status", "operator": "equals", "value": "happy"}, "conditions.0.value"),
        ({"type": "subscribed_at", "operator": "before", "value": "yesterday"}, "conditions.0.value"),
        ({"type": "subscribed_at", "operator": "before", "value": "0001-01-01T00:00:00+05:00"}, "conditions.0.value"),
        ({"type": "subscribed_at", "operator": "equals", "value": "2020-01-01"}, "conditions.0.operator"),
        ({"type": "colour", "operator": "equals", "value": "red"}, "conditions.0.type"),
        ({"type": "tag", "operator": "has", "value": [1]}, "conditions.0.value"),
        ({"type": "tag", "operator": "has", "value": 2**63}, "conditions.0.value"),
    ],
)
async def test_bad_conditions_are_422_naming_the_path(api: Api, condition: dict[str, Any], path: str) -> None:
    response = await api.post("/segments", {"name": "bad", "conditions": [condition]})
    assert response.status_code == 422, response.text
    assert list(response.json()["errors"]) == [path]
    assert (await api.get("/segments")).json()["meta"]["total"] == 0


async def test_a_segment_needs_a_name_and_a_condition(api: Api) -> None:
    response = await api.post("/segments", {"match": "most", "conditions": []})
    assert set(response.json()["errors"]) == {"name", "match", "conditions"}


async def test_another_accounts_tag_is_unknown(api: Api, other_api: Api) -> None:
    theirs = await other_api.created("/tags", {"name": "Theirs"})
    response = await api.post(
        "/segments", {"name": "x", "conditions": [{"type": "tag", "operator": "has", "value": theirs["tag_id"]}]}
    )
    assert response.status_code == 422


async def test_a_segment_used_by_an_unsent_broadcast_cannot_be_deleted(api: Api) -> None:
    segment = await api.created(
        "/segments", {"name": "s", "conditions": [{"type": "status", "operator": "equals", "value": "active"}]}
    )
    sid = segment["segment_id"]
    broadcast = await api.created(
        "/broadcasts",
        {
            "name": "b",
            "email": {"subject": "s", "body": "b"},
            "sender": SENDER,
            "recipients": [{"match": "any", "conditions": [{"type": "segment", "value": sid}]}],
        },
    )
    bid = broadcast["broadcast_id"]
    refused = await api.delete(f"/segments/{sid}")
    assert refused.status_code == 422
    assert refused.json()["errors"] == {
        "segment_id": [f"The segment is used by the recipients of broadcasts not sent yet ({bid}); change them first."]
    }
    assert (await api.get(f"/segments/{sid}")).status_code == 200
    await api.patch(f"/broadcasts/{bid}", {"recipients": []})
    assert (await api.delete(f"/segments/{sid}")).status_code == 204
