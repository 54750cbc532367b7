"""Another account's id answers 404 on every route, always (CONVENTIONS §2).

The walk is driven by the OpenAPI document, so a new route with an id in its path is
covered as soon as it exists, and fails here until it has a sample body.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.events.dispatcher import Dispatcher
from roost.rule.engine import RuleEngine
from roost.webhook.fanout import WebhookFanout
from roost.webhook.sender import WebhookSender
from tests.helpers import Api

# A valid body per (method, path template), so that 404 cannot hide behind a 422.
SAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/v1/tags/{tag_id}"): {"name": "renamed"},
    ("PATCH", "/v1/fields/{field_id}"): {"label": "renamed"},
    ("PATCH", "/v1/contacts/{contact_id}"): {"email": "renamed@example.com"},
    ("PUT", "/v1/contacts/{contact_id}"): {"email": "renamed@example.com"},
    ("POST", "/v1/contacts/{contact_id}/tags"): {"tags": ["x"]},
    ("POST", "/v1/contacts/{contact_id}/notes"): {"body": "x"},
    ("PATCH", "/v1/contacts/{contact_id}/notes/{note_id}"): {"body": "x"},
    ("PUT", "/v1/contacts/{contact_id}/notes/{note_id}"): {"body": "x"},
    ("POST", "/v1/contacts/{contact_id}/tasks"): {"title": "x"},
    ("PATCH", "/v1/contacts/{contact_id}/tasks/{task_id}"): {"title": "x"},
    ("PUT", "/v1/contacts/{contact_id}/tasks/{task_id}"): {"title": "x"},
    ("POST", "/v1/contacts/{contact_id}/appointments"): {"title": "x", "starts_at": "2030-01-01 10:00:00"},
    ("PATCH", "/v1/contacts/{contact_id}/appointments/{appointment_id}"): {"title": "x"},
    ("PUT", "/v1/contacts/{contact_id}/appointments/{appointment_id}"): {
        "title": "x",
        "starts_at": "2030-01-01 10:00:00",
    },
    ("PATCH", "/v1/rules/{rule_id}"): {"name": "renamed", "active": False},
    ("PATCH", "/v1/conversions/{conversion_id}"): {"value": 1},
    ("POST", "/v1/contacts/{contact_id}/sequences"): {"sequence_id": 1},
    ("POST", "/v1/contacts/{contact_id}/subscribe"): {"form_id": 1},
    ("PATCH", "/v1/sequences/{sequence_id}"): {"name": "renamed", "active": False},
    ("POST", "/v1/sequences/{sequence_id}/emails"): {"subject": "x", "body": "x"},
    ("PATCH", "/v1/sequences/{sequence_id}/emails/{email_id}"): {"subject": "x", "order": 1},
    ("PATCH", "/v1/forms/{form_id}"): {"name": "renamed", "double_optin": False},
    ("PATCH", "/v1/segments/{segment_id}"): {"name": "renamed"},
    ("PATCH", "/v1/broadcasts/{broadcast_id}"): {"name": "renamed"},
    ("POST", "/v1/broadcasts/{broadcast_id}/cancel"): {},
    ("POST", "/v1/broadcasts/{broadcast_id}/test"): {"emails": ["probe@example.com"]},
    ("PATCH", "/v1/webhooks/{webhook_id}"): {"active": False},
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): {},
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): {},
}
SEQUENCE = {
    "name": "Victim drip",
    "sender": {"email": "victim@example.com", "name": "Victim", "address": "1 Secret Road"},
}


LISTS = (
    "/contacts",
    "/tags",
    "/fields",
    "/rules",
    "/conversions",
    "/sequences",
    "/forms",
    "/segments",
    "/broadcasts",
    "/webhooks",
)


async def _delivery_id(
    app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession], victim: Api, webhook_id: int
) -> int:
    """An attempt of the victim's webhook: its events dispatched and sent (to a closed port) once."""
    gate = app.state.roost.write_gate
    dispatcher = Dispatcher(sessionmaker, [RuleEngine(), WebhookFanout()], gate=gate)
    while await dispatcher.run_once():
        pass
    sender = WebhookSender(sessionmaker, gate=gate, allow_private=True)
    try:
        await sender.run_once()
    finally:
        await sender.aclose()
    # Switched off, so that no later test's sender keeps trying it.
    await victim.patch(f"/webhooks/{webhook_id}", {"active": False})
    deliveries = (await victim.get(f"/webhooks/{webhook_id}/deliveries")).json()["data"]
    assert deliveries, "the victim's webhook was not attempted"
    return int(deliveries[0]["delivery_id"])


async def _victim_ids(victim: Api, app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    webhook = await victim.created("/webhooks", {"url": "http://127.0.0.1:9/secret", "events": ["contact.created"]})
    field = await victim.created("/fields", {"label": "Secret", "type": "text", "key": "secret"})
    contact = await victim.created("/contacts", {"email": "victim@example.com", "fields": {"secret": "s3"}})
    cid = contact["contact_id"]
    tagged = (await victim.post(f"/contacts/{cid}/tags", {"tags": ["Victim"]})).json()
    note = await victim.created(f"/contacts/{cid}/notes", {"body": "secret"})
    task = await victim.created(f"/contacts/{cid}/tasks", {"title": "secret"})
    appointment = await victim.created(
        f"/contacts/{cid}/appointments", {"title": "secret", "starts_at": "2030-01-01 10:00:00"}
    )
    sequence = await victim.created("/sequences", SEQUENCE)
    sid = sequence["sequence_id"]
    email = await victim.created(f"/sequences/{sid}/emails", {"subject": "Secret", "body": "secret"})
    await victim.created(f"/contacts/{cid}/sequences", {"sequence_id": sid})
    form = await victim.created("/forms", {"name": "Victim form", "sequence_id": sid})
    rule = await victim.created(
        "/rules",
        {
            "name": "secret",
            "active": True,
            "triggers": [{"trigger": "tag_applied", "params": {"tag": "Victim"}}],
            "actions": [{"action": "add_conversion"}],
        },
    )
    conversion = await victim.created("/conversions", {"contact_id": cid, "value": 10})
    segment = await victim.created(
        "/segments", {"name": "Secret", "conditions": [{"type": "tag", "operator": "has", "value": "Victim"}]}
    )
    broadcast = await victim.created(
        "/broadcasts",
        {
            "name": "Secret",
            "email": {"subject": "s", "body": "b"},
            "sender": {"email": "victim@example.com", "name": "Victim", "address": "1 Main St"},
            "schedule": "2999-01-01 00:00:00",
            "recipients": [{"match": "any", "conditions": [{"type": "segment", "value": segment["segment_id"]}]}],
        },
    )
    return {
        "webhook_id": webhook["webhook_id"],
        "delivery_id": await _delivery_id(app, sessionmaker, victim, webhook["webhook_id"]),
        "contact_id": cid,
        "sequence_id": sid,
        "email_id": email["email_id"],
        "form_id": form["form_id"],
        "segment_id": segment["segment_id"],
        "broadcast_id": broadcast["broadcast_id"],
        "tag_id": tagged["tags"][0]["tag_id"],
        "field_id": field["field_id"],
        "note_id": note["note_id"],
        "task_id": task["task_id"],
        "appointment_id": appointment["appointment_id"],
        "rule_id": rule["rule_id"],
        "conversion_id": conversion["conversion_id"],
    }


async def test_every_id_route_answers_404_to_another_account(
    app: FastAPI,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    api: Api,
    other_api: Api,
) -> None:
    ids = await _victim_ids(api, app, sessionmaker)
    lists = (
        *LISTS,
        f"/sequences/{ids['sequence_id']}/emails",
        f"/rules/{ids['rule_id']}/runs",
        f"/webhooks/{ids['webhook_id']}/deliveries",
    )
    before = {path: (await api.get(path)).json() for path in lists}
    walked = 0
    for path, operations in app.openapi()["paths"].items():
        params = re.findall(r"{(\w+)}", path)
        if not path.startswith("/v1/") or not params:
            continue
        assert set(params) <= set(ids), f"no victim id for {path}: extend _victim_ids"
        url = path.format(**ids)
        for method in operations:
            upper = method.upper()
            kwargs: dict[str, Any] = {"headers": other_api.account.headers}
            if upper in {"POST", "PUT", "PATCH"}:
                assert (upper, path) in SAMPLE_BODIES, f"add a sample body for {upper} {path}"
                kwargs["json"] = SAMPLE_BODIES[(upper, path)]
            response = await client.request(upper, url, **kwargs)
            assert response.status_code == 404, f"{upper} {path} answered {response.status_code}"
            assert response.json() == {"message": "Not Found."}
            walked += 1
    assert walked >= 10
    after = {path: (await api.get(path)).json() for path in lists}
    assert after == before


async def test_own_contact_with_another_accounts_tag_is_404(
    api: Api, other_api: Api, app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ids = await _victim_ids(api, app, sessionmaker)
    mine = await other_api.created("/contacts", {"email": "me@example.com"})
    response = await other_api.delete(f"/contacts/{mine['contact_id']}/tags/{ids['tag_id']}")
    assert response.status_code == 404


async def test_another_accounts_sequence_form_or_tag_is_unknown_in_bodies(
    api: Api, other_api: Api, app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Ids inside a request body are references: another account's answers 422 naming the field, never 404."""
    ids = await _victim_ids(api, app, sessionmaker)
    victim_tag = ids["tag_id"]
    mine = await other_api.created("/contacts", {"email": "me@example.com"})
    path = f"/contacts/{mine['contact_id']}"
    join = await other_api.post(f"{path}/sequences", {"sequence_id": ids["sequence_id"]})
    assert join.status_code == 422
    assert join.json()["errors"] == {"sequence_id": ["The selected sequence id is invalid."]}
    subscribe = await other_api.post(f"{path}/subscribe", {"form_id": ids["form_id"]})
    assert subscribe.json()["errors"] == {"form_id": ["The selected form id is invalid."]}
    create = await other_api.post("/contacts", {"email": "new@example.com", "form_id": ids["form_id"]})
    assert create.json()["errors"] == {"form_id": ["The selected form id is invalid."]}
    form = await other_api.post("/forms", {"name": "F", "tags": [victim_tag], "sequence_id": ids["sequence_id"]})
    assert form.status_code == 422
    assert set(form.json()["errors"]) == {"tags.0"}
    assert (await other_api.delete(f"{path}/sequences/{ids['sequence_id']}")).status_code == 404
    assert (await other_api.get("/forms")).json()["meta"]["total"] == 0


async def test_lists_and_searches_never_show_another_account(
    api: Api, other_api: Api, app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _victim_ids(api, app, sessionmaker)
    for path, params in (
        ("/contacts", {}),
        ("/contacts", {"search_by": "tag", "keyword": "Victim"}),
        ("/contacts", {"search_by": "email", "keyword": "victim"}),
        ("/contacts", {"search_by": "sequence", "keyword": "Victim"}),
        ("/tags", {"keyword": "Victim"}),
        ("/rules", {}),
        ("/conversions", {}),
        ("/sequences", {}),
        ("/sequences", {"search_by": "active", "keyword": "1"}),
        ("/forms", {}),
        ("/segments", {}),
        ("/broadcasts", {"search_by": "status", "keyword": "scheduled"}),
        ("/webhooks", {"keyword": "secret"}),
    ):
        body = (await other_api.get(path, **params)).json()
        assert body["data"] == [], path
        assert body["meta"]["total"] == 0, path
    fields = (await other_api.get("/fields")).json()
    assert [f["key"] for f in fields["data"]] == ["first_name", "last_name"]
    # The same email and tag name are free in the other account.
    await other_api.created("/contacts", {"email": "victim@example.com"})
    await other_api.created("/tags", {"name": "Victim"})
