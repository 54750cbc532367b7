"""/v1/webhooks: the subscriptions, their validation, the event catalogue and the refusal of private destinations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from roost.api.app import create_app
from roost.config import Settings
from roost.net import guard
from roost.net.guard import IpAddress
from roost.webhook.catalogue import CATALOGUE
from tests.conftest import client_for
from tests.helpers import Api, Tenant
from tests.webhooks.conftest import Hooks

URL = "http://127.0.0.1:9/hook"


async def test_create_read_update_delete(hooks: Hooks) -> None:
    api = hooks.api
    created = await hooks.create(URL, ["contact.created", "tag.applied", "contact.created"])
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["contact.created", "tag.applied"]
    assert created["active"] is True
    assert created["disabled_reason"] is None
    assert created["url"] == URL
    webhook_id = created["webhook_id"]

    found = await hooks.webhook(webhook_id)
    assert "secret" not in found
    assert found == {key: value for key, value in created.items() if key != "secret"}

    listed = (await api.get("/webhooks")).json()
    assert [hook["webhook_id"] for hook in listed["data"]] == [webhook_id]
    assert listed["meta"]["total"] == 1
    assert "secret" not in listed["data"][0]

    patched = await api.patch(f"/webhooks/{webhook_id}", {"events": ["*"], "active": False})
    assert patched.status_code == 200, patched.text
    assert patched.json()["events"] == ["*"]
    assert patched.json()["active"] is False
    assert patched.json()["url"] == URL

    moved = await api.patch(f"/webhooks/{webhook_id}", {"url": "http://127.0.0.1:10/other"})
    assert moved.json()["url"] == "http://127.0.0.1:10/other"
    assert moved.json()["events"] == ["*"]

    assert (await api.delete(f"/webhooks/{webhook_id}")).status_code == 204
    assert (await api.get(f"/webhooks/{webhook_id}")).status_code == 404
    assert (await api.delete(f"/webhooks/{webhook_id}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"events": ["*"]}, {"url"}),
        ({"url": URL}, {"events"}),
        ({"url": URL, "events": []}, {"events"}),
        ({"url": URL, "events": ["contact.created", "contact.exploded"]}, {"events.1"}),
        ({"url": URL, "events": [7]}, {"events.0"}),
        ({"url": URL, "events": "*"}, {"events"}),
        ({"url": "ftp://example.com/x", "events": ["*"]}, {"url"}),
        ({"url": "not a url", "events": ["*"]}, {"url"}),
        ({"url": "http:///path", "events": ["*"]}, {"url"}),
        ({"url": "http://127.0.0.1:99999/", "events": ["*"]}, {"url"}),
        ({"url": "http://" + "a" * 2048 + ".com/", "events": ["*"]}, {"url"}),
        ({"url": URL, "events": ["*"], "active": "maybe"}, {"active"}),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(hooks: Hooks, body: dict[str, object], errors: set[str]) -> None:
    response = await hooks.api.post("/webhooks", body)
    assert response.status_code == 422, response.text
    assert set(response.json()["errors"]) == errors
    assert (await hooks.api.get("/webhooks")).json()["meta"]["total"] == 0


async def test_bodies_that_are_not_objects_are_400(hooks: Hooks) -> None:
    response = await hooks.api.client.post(
        "/v1/webhooks", content=b"[1]", headers={**hooks.api.account.headers, "content-type": "application/json"}
    )
    assert response.status_code == 400
    created = await hooks.create(URL)
    bad = await hooks.api.patch(f"/webhooks/{created['webhook_id']}", {"events": ["nope"]})
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"events.0"}


async def test_an_account_has_at_most_twenty_webhooks(hooks: Hooks) -> None:
    for n in range(20):
        await hooks.create(f"http://127.0.0.1:9/{n}")
    response = await hooks.api.post("/webhooks", {"url": URL, "events": ["*"]})
    assert response.status_code == 422
    assert "at most 20" in response.json()["errors"]["url"][0]


async def test_the_event_catalogue(api: Api) -> None:
    response = await api.get("/webhooks/events", per_page=100)
    assert response.status_code == 200
    body = response.json()
    types = [entry["type"] for entry in body["data"]]
    assert types == [spec.type for spec in CATALOGUE]
    for name in (
        "contact.created",
        "contact.updated",
        "contact.deleted",
        "contact.subscribed",
        "contact.unsubscribed",
        "contact.bounced",
        "contact.complained",
        "tag.applied",
        "tag.removed",
        "sequence.subscribed",
        "sequence.completed",
        "email.sent",
        "email.opened",
        "email.clicked",
        "email.bounced",
        "email.complained",
        "conversion.created",
        "note.created",
        "task.updated",
        "appointment.deleted",
        "message.status",
    ):
        assert name in types
    clicked = next(entry for entry in body["data"] if entry["type"] == "email.clicked")
    assert "url" in clicked["data"]
    assert clicked["about_contact"] is True
    filtered = (await api.get("/webhooks/events", keyword="TAG.", order_by="type", sort="desc")).json()
    assert [entry["type"] for entry in filtered["data"]] == ["tag.removed", "tag.applied"]
    page = (await api.get("/webhooks/events", per_page=5, page=2)).json()
    assert page["meta"]["total"] == len(CATALOGUE)
    assert len(page["data"]) == 5
    assert (await api.get("/webhooks/events", search_by="nope")).status_code == 422


async def test_openapi_documents_every_payload(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert set(document["webhooks"]) == {spec.type for spec in CATALOGUE}
    schemas = document["components"]["schemas"]
    data = schemas["TagAppliedData"]["properties"]
    assert {"tag_id", "tag", "contact_id", "contact"} <= set(data)
    assert set(schemas["TagAppliedPayload"]["properties"]) == {"type", "timestamp", "data"}
    assert "contact" not in schemas["MessageStatusData"]["properties"]


@pytest.fixture
async def strict_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app as deployed by default: private destinations refused."""
    application = create_app(settings.model_copy(update={"webhooks_allow_private": False}))
    yield application
    await application.state.roost.dispose()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://localhost:8080/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("http://172.16.5.5/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://169.254.10.10/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0:8000/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://100.64.0.1/", "reserved"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 written as one number
    ],
)
async def test_private_destinations_are_refused_when_saved(
    strict_app: FastAPI, account: Tenant, url: str, reason: str
) -> None:
    async with client_for(strict_app) as client:
        api = Api(client, account)
        response = await api.post("/webhooks", {"url": url, "events": ["*"]})
        assert response.status_code == 422, response.text
        [message] = response.json()["errors"]["url"]
        assert reason in message
        assert (await api.get("/webhooks")).json()["meta"]["total"] == 0


async def test_a_private_destination_cannot_be_patched_in(strict_app: FastAPI, hooks: Hooks) -> None:
    created = await hooks.create(URL)  # allowed by the permissive app the other fixtures use
    async with client_for(strict_app) as client:
        api = Api(client, hooks.api.account)
        response = await api.patch(f"/webhooks/{created['webhook_id']}", {"url": "http://10.0.0.1/"})
        assert response.status_code == 422
        assert set(response.json()["errors"]) == {"url"}
        # Other changes do not check the stored URL again (it is checked at every delivery anyway).
        assert (await api.patch(f"/webhooks/{created['webhook_id']}", {"active": False})).status_code == 200
    assert (await hooks.webhook(created["webhook_id"]))["url"] == URL


async def test_another_accounts_webhooks_are_not_found(hooks: Hooks, other_api: Api) -> None:
    created = await hooks.create(URL)
    webhook_id = created["webhook_id"]
    assert (await other_api.get(f"/webhooks/{webhook_id}")).status_code == 404
    assert (await other_api.get(f"/webhooks/{webhook_id}/deliveries")).status_code == 404
    assert (await other_api.post(f"/webhooks/{webhook_id}/rotate-secret")).status_code == 404
    assert (await other_api.get("/webhooks")).json()["data"] == []


async def test_another_accounts_webhook_is_not_found_before_its_new_url_is_checked(
    strict_app: FastAPI, hooks: Hooks, other_account: Tenant
) -> None:
    created = await hooks.create(URL)
    async with client_for(strict_app) as client:
        response = await Api(client, other_account).patch(
            f"/webhooks/{created['webhook_id']}", {"url": "http://10.0.0.1/"}
        )
    assert response.status_code == 404


async def test_resolving_a_webhooks_host_holds_up_no_other_write(hooks: Hooks, monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolver that takes its time (up to guard.RESOLVE_TIMEOUT) delays only its own request: on
    SQLite, the other writes of the process do not queue behind it for the write gate."""
    entered, release = asyncio.Event(), asyncio.Event()
    resolve = guard.resolve

    async def slow_resolve(host: str, port: int, *, within: float = guard.RESOLVE_TIMEOUT) -> list[IpAddress]:
        entered.set()
        await release.wait()
        return await resolve(host, port, within=within)

    monkeypatch.setattr(guard, "resolve", slow_resolve)
    creating = asyncio.create_task(hooks.create("http://localhost:9/hook", ["contact.created"]))
    await asyncio.wait_for(entered.wait(), timeout=5)
    tag = await asyncio.wait_for(hooks.api.created("/tags", {"name": "meanwhile"}), timeout=5)
    assert tag["name"] == "meanwhile"
    assert not creating.done()
    release.set()
    created = await asyncio.wait_for(creating, timeout=5)
    assert created["url"] == "http://localhost:9/hook"
    await hooks.api.patch(f"/webhooks/{created['webhook_id']}", {"active": False})  # no later test sends to it
