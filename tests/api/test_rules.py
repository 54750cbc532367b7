"""Rules CRUD and the trigger/action table (seed 001: Rules; CONVENTIONS §7)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import Api

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
SENDER = {"email": "news@example.com", "name": "News", "address": "1 Main St"}


@dataclass(frozen=True)
class Rows:
    """Ids of rows a test's account has: two sequences with emails, and a broadcast."""

    sequence: int
    other_sequence: int
    email: int
    other_sequence_email: int
    broadcast: int


async def _sequence_with_an_email(api: Api, name: str) -> tuple[int, int]:
    sequence = await api.created("/sequences", {"name": name, "sender": SENDER})
    email = await api.created(f"/sequences/{sequence['sequence_id']}/emails", {"subject": "Hi", "body": "<p>Hi</p>"})
    return sequence["sequence_id"], email["email_id"]


@pytest.fixture
async def rows(api: Api) -> Rows:
    sequence, email = await _sequence_with_an_email(api, "Welcome")
    other_sequence, other_email = await _sequence_with_an_email(api, "Onboarding")
    broadcast = await api.created(
        "/broadcasts", {"name": "Launch", "email": {"subject": "Hi", "body": "<p>Hi</p>"}, "sender": SENDER}
    )
    return Rows(sequence, other_sequence, email, other_email, broadcast["broadcast_id"])


def rule(triggers: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "name": "r",
        "active": True,
        "triggers": triggers,
        "actions": actions or [{"action": "apply_tag", "params": {"tag": "x"}}],
    }


async def _count(api: Api, path: str) -> int:
    total: int = (await api.get(path)).json()["meta"]["total"]
    return total


async def test_rule_crud_follows_the_seed_examples(api: Api, rows: Rows) -> None:
    body = {
        "name": "minim",
        "active": True,
        "triggers": [{"trigger": "subscribed", "params": {"sequence_id": rows.sequence}}],
        "actions": [{"action": "remove_tag", "params": {"tag": "Paid"}}],
    }
    created = await api.created("/rules", body)
    assert set(created) == {"rule_id", "name", "active", "triggers", "actions", "created_at", "last_run_at"}
    assert created["name"] == "minim"
    assert created["active"] is True
    assert created["triggers"] == [{"trigger": "subscribed", "params": {"sequence_id": rows.sequence}}]
    assert created["actions"] == [{"action": "remove_tag", "params": {"tag": ["Paid"]}}]
    assert TIMESTAMP.match(created["created_at"])
    assert created["last_run_at"] is None
    path = f"/rules/{created['rule_id']}"
    assert (await api.get(path)).json() == created
    # A tag a rule names is created when missing.
    assert [t["name"] for t in (await api.get("/tags")).json()["data"]] == ["Paid"]

    listing = (await api.get("/rules")).json()
    assert listing["data"] == [created]
    assert listing["meta"]["total"] == 1

    patched = await api.patch(
        path,
        {
            "name": "update rule",
            "active": False,
            "triggers": [{"trigger": "subscribed", "params": {"sequence_id": rows.other_sequence}}],
        },
    )
    assert patched.status_code == 200
    assert patched.json() == {
        **created,
        "name": "update rule",
        "active": False,
        "triggers": [{"trigger": "subscribed", "params": {"sequence_id": rows.other_sequence}}],
    }
    # PATCH changes only what is given.
    reactivated = (await api.patch(path, {"active": True})).json()
    assert reactivated == {**patched.json(), "active": True}

    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404
    assert (await api.delete(path)).status_code == 404
    for malformed in ("abc", "0", str(2**64)):
        assert (await api.get(f"/rules/{malformed}")).status_code == 404


async def test_every_trigger_and_action_is_stored_in_its_normal_form(api: Api, rows: Rows) -> None:
    triggers = [
        {"trigger": "tag_applied", "params": {"tag": ["VIP", " Buyer ", "vip"]}},
        {"trigger": "tag_removed", "params": {"tag": "Lead", "unknown": "dropped"}},
        {"trigger": "has_conversion", "params": {"operator": "exceeds", "value": 2}},
        {"trigger": "has_conversion_value", "params": {"operator": "equals", "value": 99.5}},
        {"trigger": "unsubscribed", "params": {"sequence_id": rows.sequence}},
        {"trigger": "sequence_completed", "params": {"sequence_id": rows.sequence}},
        {"trigger": "email_opened", "params": {"type": "any", "sequence_id": 12345}},
        {"trigger": "email_opened", "params": {"type": "sequence", "sequence_id": rows.sequence, "email_id": "any"}},
        {"trigger": "email_opened", "params": {"type": "broadcast", "broadcast_id": rows.broadcast}},
        {
            "trigger": "link_clicked",
            "params": {
                "type": "sequence",
                "sequence_id": rows.sequence,
                "email_id": rows.email,
                "url": "https://example.com/pricing",
            },
        },
        {"trigger": "link_clicked", "params": {"type": "any", "url": ""}},
    ]
    actions = [
        {"action": "apply_tag", "params": {"tag": "Customer"}},
        {"action": "subscribe", "params": {"sequence_id": rows.other_sequence}},
        {"action": "unsubscribe", "params": {"sequence_id": rows.sequence}},
        {
            "action": "move_sequence",
            "params": {"from_sequence_id": rows.sequence, "to_sequence_id": rows.other_sequence},
        },
        {"action": "add_conversion"},
        {"action": "create_task", "params": {"title": " Call them ", "due_in_days": 2}},
        {"action": "delete", "params": {"ignored": True}},
    ]
    created = await api.created(
        "/rules", {"name": "Everything", "active": False, "triggers": triggers, "actions": actions}
    )
    assert created["active"] is False
    assert created["triggers"] == [
        {"trigger": "tag_applied", "params": {"tag": ["VIP", "Buyer"]}},
        {"trigger": "tag_removed", "params": {"tag": ["Lead"]}},
        {"trigger": "has_conversion", "params": {"operator": "exceeds", "value": 2}},
        {"trigger": "has_conversion_value", "params": {"operator": "equals", "value": 99.5}},
        {"trigger": "unsubscribed", "params": {"sequence_id": rows.sequence}},
        {"trigger": "sequence_completed", "params": {"sequence_id": rows.sequence}},
        {"trigger": "email_opened", "params": {"type": "any"}},
        {"trigger": "email_opened", "params": {"type": "sequence", "sequence_id": rows.sequence, "email_id": "any"}},
        {"trigger": "email_opened", "params": {"type": "broadcast", "broadcast_id": rows.broadcast}},
        triggers[-2],
        {"trigger": "link_clicked", "params": {"type": "any"}},
    ]
    assert created["actions"] == [
        {"action": "apply_tag", "params": {"tag": ["Customer"]}},
        actions[1],
        actions[2],
        actions[3],
        {"action": "add_conversion", "params": {}},
        {"action": "create_task", "params": {"title": "Call them", "due_in_days": 2}},
        {"action": "delete", "params": {}},
    ]
    assert (await api.get(f"/rules/{created['rule_id']}")).json() == created


async def test_rules_refer_to_tags_themselves(api: Api, rows: Rows) -> None:
    existing = await api.created("/tags", {"name": "VIP"})
    created = await api.created(
        "/rules",
        rule(
            [{"trigger": "tag_applied", "params": {"tag": "vip"}}],
            [{"action": "apply_tag", "params": {"tag": ["Gold", "vip"]}}],
        ),
    )
    # The existing tag is reused whatever the case; only the missing one is created.
    assert created["triggers"][0]["params"]["tag"] == ["VIP"]
    assert created["actions"][0]["params"]["tag"] == ["Gold", "VIP"]
    assert await _count(api, "/tags") == 2
    path = f"/rules/{created['rule_id']}"

    await api.patch(f"/tags/{existing['tag_id']}", {"name": "Platinum"})
    assert (await api.get(path)).json()["actions"][0]["params"]["tag"] == ["Gold", "Platinum"]
    await api.delete(f"/tags/{existing['tag_id']}")
    renamed = (await api.get(path)).json()
    assert renamed["triggers"][0]["params"]["tag"] == []
    assert renamed["actions"][0]["params"]["tag"] == ["Gold"]


def _cases(rows: Rows) -> list[tuple[dict[str, Any], dict[str, list[str]]]]:
    t = "triggers.0.params"
    a = "actions.0.params"
    sequence_type = {"type": "sequence", "sequence_id": rows.sequence}
    return [
        (rule([{"trigger": "tag_applied"}]), {f"{t}.tag": [f"The {t}.tag field is required."]}),
        (
            rule([{"trigger": "tag_applied", "params": {"tag": 5}}]),
            {f"{t}.tag": [f"The {t}.tag must be a string or an array of strings."]},
        ),
        (
            rule([{"trigger": "tag_removed", "params": {"tag": ["ok", 7, " "]}}]),
            {f"{t}.tag.1": [f"The {t}.tag.1 must be a string."], f"{t}.tag.2": [f"The {t}.tag.2 field is required."]},
        ),
        (
            rule([{"trigger": "tag_applied", "params": {"tag": [str(i) for i in range(21)]}}]),
            {f"{t}.tag": [f"The {t}.tag may not have more than 20 items."]},
        ),
        (
            rule([{"trigger": "tag_applied", "params": {"tag": "x" * 256}}]),
            {f"{t}.tag": [f"The {t}.tag may not be greater than 255 characters."]},
        ),
        (
            rule([{"trigger": "has_conversion", "params": {"operator": "below", "value": 2.5}}]),
            {
                f"{t}.operator": [f"The selected {t}.operator is invalid."],
                f"{t}.value": [f"The {t}.value must be an integer."],
            },
        ),
        (
            rule([{"trigger": "has_conversion_value", "params": {"operator": "exceeds", "value": -1}}]),
            {f"{t}.value": [f"The {t}.value must be between 0 and 999999999999.99."]},
        ),
        (
            rule([{"trigger": "has_conversion_value", "params": {"operator": "exceeds", "value": 10**400}}]),
            {f"{t}.value": [f"The {t}.value must be between 0 and 999999999999.99."]},
        ),
        (
            rule([{"trigger": "has_conversion_value", "params": {"operator": "exceeds", "value": "10"}}]),
            {f"{t}.value": [f"The {t}.value must be a number."]},
        ),
        (
            rule([{"trigger": "subscribed", "params": {"sequence_id": 2**62}}]),
            {f"{t}.sequence_id": [f"The selected {t}.sequence_id is invalid."]},
        ),
        (
            rule([{"trigger": "subscribed", "params": {"sequence_id": 2**70}}]),
            {f"{t}.sequence_id": [f"The selected {t}.sequence_id is invalid."]},
        ),
        (
            rule([{"trigger": "unsubscribed", "params": {"sequence_id": "1"}}]),
            {f"{t}.sequence_id": [f"The {t}.sequence_id must be an integer."]},
        ),
        (rule([{"trigger": "email_opened", "params": {}}]), {f"{t}.type": [f"The {t}.type field is required."]}),
        (
            rule([{"trigger": "email_opened", "params": {"type": "sequence"}}]),
            {
                f"{t}.sequence_id": [f"The {t}.sequence_id field is required when {t}.type is sequence."],
                f"{t}.email_id": [f"The {t}.email_id field is required when {t}.type is sequence."],
            },
        ),
        (
            rule([{"trigger": "email_opened", "params": {**sequence_type, "email_id": rows.other_sequence_email}}]),
            {f"{t}.email_id": [f"The selected {t}.email_id is not an email of the selected sequence."]},
        ),
        (
            rule([{"trigger": "link_clicked", "params": {**sequence_type, "email_id": "some"}}]),
            {f"{t}.email_id": [f"The {t}.email_id must be an integer."]},
        ),
        (
            rule([{"trigger": "link_clicked", "params": {"type": "broadcast", "broadcast_id": rows.broadcast + 1}}]),
            {f"{t}.broadcast_id": [f"The selected {t}.broadcast_id is invalid."]},
        ),
        (
            rule([{"trigger": "email_opened", "params": {"type": "broadcast"}}]),
            {f"{t}.broadcast_id": [f"The {t}.broadcast_id field is required when {t}.type is broadcast."]},
        ),
        (
            rule([{"trigger": "link_clicked", "params": {"type": "any", "url": "javascript:alert(1)"}}]),
            {f"{t}.url": [f"The {t}.url must be a valid URL."]},
        ),
        (
            rule([{"trigger": "subscribed", "params": {"sequence_id": rows.sequence}}] * 2)
            | {"actions": [{"action": "subscribe", "params": {"sequence_id": 0}}]},
            {f"{a}.sequence_id": [f"The selected {a}.sequence_id is invalid."]},
        ),
        (
            rule(
                [{"trigger": "subscribed", "params": {"sequence_id": rows.sequence}}],
                [
                    {
                        "action": "move_sequence",
                        "params": {"from_sequence_id": rows.sequence, "to_sequence_id": rows.sequence},
                    }
                ],
            ),
            {f"{a}.to_sequence_id": [f"The {a}.to_sequence_id and {a}.from_sequence_id must be different."]},
        ),
        (
            rule(
                [{"trigger": "subscribed", "params": {"sequence_id": rows.sequence}}],
                [{"action": "create_task", "params": {"due_in_days": 100_000}}],
            ),
            {
                f"{a}.title": [f"The {a}.title field is required."],
                f"{a}.due_in_days": [f"The {a}.due_in_days must be between 0 and 3650."],
            },
        ),
        (
            rule(
                [{"trigger": "tag_applied", "params": {"tag": "x"}}],
                [{"action": "create_task", "params": {"title": 3}}],
            ),
            {f"{a}.title": [f"The {a}.title must be a string."]},
        ),
        (
            rule([{"trigger": "became_vip", "params": {}}]),
            {"triggers.0.trigger": ["The selected triggers.0.trigger is invalid."]},
        ),
        (rule([{"trigger": "tag_applied", "params": "VIP"}]), {f"{t}": [f"The {t} must be an object."]}),
        ({**rule([]), "triggers": []}, {"triggers": ["The triggers must have at least 1 items."]}),
        (
            {"name": "", "triggers": [{"trigger": "tag_applied", "params": {"tag": "x"}}] * 21},
            {
                "name": ["The name field is required."],
                "active": ["The active field is required."],
                "triggers": ["The triggers may not have more than 20 items."],
                "actions": ["The actions field is required."],
            },
        ),
    ]


async def test_invalid_steps_name_the_dotted_path_and_change_nothing(api: Api, rows: Rows) -> None:
    for body, errors in _cases(rows):
        response = await api.post("/rules", body)
        assert response.status_code == 422, body
        assert response.json() == {"message": "The given data was invalid.", "errors": errors}, body
    assert await _count(api, "/rules") == 0
    assert await _count(api, "/tags") == 0


async def test_another_accounts_rows_cannot_be_named(api: Api, other_api: Api, rows: Rows) -> None:
    t = "triggers.0.params"
    refused = await other_api.post(
        "/rules",
        rule(
            [
                {
                    "trigger": "email_opened",
                    "params": {"type": "sequence", "sequence_id": rows.sequence, "email_id": rows.email},
                },
                {"trigger": "email_opened", "params": {"type": "broadcast", "broadcast_id": rows.broadcast}},
            ]
        ),
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == {
        f"{t}.sequence_id": [f"The selected {t}.sequence_id is invalid."],
        "triggers.1.params.broadcast_id": ["The selected triggers.1.params.broadcast_id is invalid."],
    }


async def test_patch_validates_the_steps_it_replaces(api: Api, rows: Rows) -> None:
    created = await api.created("/rules", rule([{"trigger": "subscribed", "params": {"sequence_id": rows.sequence}}]))
    path = f"/rules/{created['rule_id']}"
    bad = await api.patch(path, {"name": "new", "actions": [{"action": "unsubscribe", "params": {}}]})
    assert bad.status_code == 422
    assert bad.json()["errors"] == {
        "actions.0.params.sequence_id": ["The actions.0.params.sequence_id field is required."]
    }
    empty = await api.patch(path, {"triggers": []})
    assert empty.status_code == 422
    assert (await api.get(path)).json() == created

    nulls = await api.patch(path, {"name": None, "triggers": None})
    assert nulls.json() == created
    replaced = await api.patch(path, {"actions": [{"action": "delete"}]})
    assert replaced.json()["actions"] == [{"action": "delete", "params": {}}]
    assert replaced.json()["triggers"] == created["triggers"]


async def test_rule_list_searches_and_orders(api: Api) -> None:
    for name in ("Welcome VIPs", "cleanup", "Abandoned cart"):
        await api.created("/rules", {**rule([{"trigger": "tag_applied", "params": {"tag": "x"}}]), "name": name})
    newest_first = (await api.get("/rules")).json()
    assert [r["name"] for r in newest_first["data"]] == ["Abandoned cart", "cleanup", "Welcome VIPs"]
    by_name = (await api.get("/rules", order_by="name")).json()
    assert [r["name"] for r in by_name["data"]] == ["Abandoned cart", "cleanup", "Welcome VIPs"]
    by_name_desc = (await api.get("/rules", order_by="name", sort="desc")).json()
    assert [r["name"] for r in by_name_desc["data"]] == ["Welcome VIPs", "cleanup", "Abandoned cart"]
    oldest_first = (await api.get("/rules", order_by="created_at", sort="asc")).json()
    assert [r["name"] for r in oldest_first["data"]] == ["Welcome VIPs", "cleanup", "Abandoned cart"]
    found = (await api.get("/rules", search_by="name", keyword="VIP")).json()
    assert [r["name"] for r in found["data"]] == ["Welcome VIPs"]
    assert (await api.get("/rules", order_by="last_run_at")).status_code == 422
