"""Email channels of a workspace (CONVENTIONS §10) and the Bird face's auth and error format."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.bird.conftest import CHANNEL
from tests.conftest import MakeAccount
from tests.helpers import Bird, Tenant

RFC3339_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")


async def test_create_get_list_and_deactivate_a_channel(bird: Bird) -> None:
    created = await bird.ok("POST", "/channels", {**CHANNEL, "replyTo": "help@example.com"}, status=201)
    assert created["status"] == "active"
    assert created["platform"] == "email"
    assert created["sender"] == {"email": "shop@example.com", "displayName": "Shop"}
    assert created["replyTo"] == "help@example.com"
    assert RFC3339_MS.match(created["createdAt"])
    assert RFC3339_MS.match(created["updatedAt"])
    uuid.UUID(created["id"])

    assert await bird.ok("GET", f"/channels/{created['id']}") == created
    listed = await bird.ok("GET", "/channels")
    assert [c["id"] for c in listed["results"]] == [created["id"]]

    patched = await bird.ok("PATCH", f"/channels/{created['id']}", {"status": "inactive", "replyTo": None})
    assert patched["status"] == "inactive"
    assert patched["replyTo"] is None
    assert patched["name"] == "Receipts"
    assert (await bird.ok("GET", f"/channels/{created['id']}"))["status"] == "inactive"


async def test_bearer_works_like_accesskey(client: httpx.AsyncClient, account: Tenant, channel: dict[str, str]) -> None:
    response = await client.get(
        f"/workspaces/{account.workspace_id}/channels/{channel['id']}",
        headers={"Authorization": f"Bearer {account.token}"},
    )
    assert response.status_code == 200


async def test_errors_are_in_the_bird_format(client: httpx.AsyncClient, bird: Bird, channel: dict[str, str]) -> None:
    unauthenticated = await client.get(bird.base + "/channels")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["code"] == "Unauthorized"
    assert unauthenticated.headers["www-authenticate"].startswith("Bearer")

    invalid = await bird.post("/channels", {"name": "", "sender": {"email": "not an address"}})
    assert invalid.status_code == 422
    body = invalid.json()
    assert body["code"] == "InvalidPayload"
    assert set(body["details"]) == {"name", "sender.email"}

    malformed = await bird.client.post(
        bird.base + "/channels", content=b"{nope", headers={**bird.headers, "Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "BadRequest"

    missing = await bird.get(f"/channels/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json() == {"code": "NotFound", "message": "Not Found."}
    assert (await bird.get("/channels/not-a-uuid")).status_code == 404
    assert (await bird.ok("GET", f"/channels/{channel['id']}"))["name"] == "Receipts"


async def test_another_workspace_is_404_even_with_a_valid_token(
    client: httpx.AsyncClient, account: Tenant, other_account: Tenant, channel: dict[str, str]
) -> None:
    as_other = Bird(client, other_account)
    assert (await as_other.get(f"/channels/{channel['id']}")).status_code == 404
    # The victim's workspace in the path with the intruder's token: 404, not 403.
    intruder_in_victims_workspace = Bird(client, other_account, workspace_id=account.workspace_id)
    response = await intruder_in_victims_workspace.get("/channels")
    assert response.status_code == 404
    assert (await intruder_in_victims_workspace.post("/channels", CHANNEL)).status_code == 404
    assert (await Bird(client, account, workspace_id=uuid.uuid4()).get("/channels")).status_code == 404
    assert (await as_other.ok("GET", "/channels"))["results"] == []


async def test_read_token_cannot_create(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    reader = await make_account(scopes="read")
    bird = Bird(client, reader)
    assert (await bird.get("/channels")).status_code == 200
    forbidden = await bird.post("/channels", CHANNEL)
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "Forbidden"
