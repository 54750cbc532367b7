"""Another workspace's ids answer 404 on every Bird route, whichever workspace the path names (CONVENTIONS §2).

Driven by the OpenAPI document: a new route under /workspaces/ is walked as soon as it exists,
and fails here until it has a victim id and, for a body, a sample body.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI

from tests.bird.conftest import CHANNEL
from tests.helpers import Bird

SAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/channels/{channel_id}"): {"status": "inactive"},
    ("POST", "/channels/{channel_id}/messages"): {
        "receiver": {"contacts": [{"identifierValue": "intruder@example.com"}]},
        "body": {"type": "text", "text": {"text": "x"}},
    },
    ("POST", "/channels/{channel_id}/presigned-upload"): {"contentType": "image/png"},
    ("POST", "/channel-media/presigned-upload"): {"contentType": "image/png"},
    ("POST", "/projects"): {"name": "intruder"},
    ("PATCH", "/projects/{project_id}"): {"name": "renamed"},
    ("POST", "/projects/{project_id}/versions"): {
        "defaultLocale": "en",
        "contents": [{"locale": "en", "subject": "s", "html": "<p>x</p>"}],
    },
    ("POST", "/projects/{project_id}/versions/{version_id}/render"): {},
    ("POST", "/channels"): CHANNEL,
}


async def _victim_ids(victim: Bird) -> dict[str, str]:
    channel = await victim.ok("POST", "/channels", CHANNEL, status=201)
    sent = await victim.ok(
        "POST",
        f"/channels/{channel['id']}/messages",
        {
            "receiver": {"contacts": [{"identifierValue": "secret@example.com"}]},
            "body": {"type": "text", "text": {"text": "secret", "metadata": {"subject": "Secret"}}},
        },
        status=202,
    )
    ids = {"channel_id": channel["id"], "message_id": sent["id"]}
    project = await victim.post("/projects", {"name": "Secret"})
    if project.status_code == 201:
        ids["project_id"] = project.json()["id"]
        version = await victim.ok(
            "POST",
            f"/projects/{ids['project_id']}/versions",
            SAMPLE_BODIES[("POST", "/projects/{project_id}/versions")],
            status=201,
        )
        ids["version_id"] = version["id"]
    return ids


async def test_every_bird_route_answers_404_to_another_workspace(
    app: FastAPI, client: httpx.AsyncClient, bird: Bird, other_bird: Bird
) -> None:
    ids = await _victim_ids(bird)
    before = await bird.ok("GET", f"/channels/{ids['channel_id']}/messages")
    # The intruder's token with the victim's ids, in its own workspace and in the victim's.
    intruders = (other_bird, Bird(client, other_bird.account, workspace_id=bird.account.workspace_id))
    walked = 0
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith("/workspaces/{workspace_id}"):
            continue
        relative = path.removeprefix("/workspaces/{workspace_id}")
        params = set(re.findall(r"{(\w+)}", relative))
        assert params <= set(ids), f"no victim id for {path}: extend _victim_ids"
        for method in operations:
            upper = method.upper()
            body = None
            if upper in {"POST", "PUT", "PATCH"}:
                assert (upper, relative) in SAMPLE_BODIES, f"add a sample body for {upper} {relative}"
                body = SAMPLE_BODIES[(upper, relative)]
            for intruder, in_victims_workspace in zip(intruders, (False, True), strict=True):
                if not params and not in_victims_workspace:
                    continue  # the intruder's own workspace: its own resources, rightly found
                response = await client.request(
                    upper, intruder.base + relative.format(**ids), json=body, headers=intruder.headers
                )
                assert response.status_code == 404, f"{upper} {path} answered {response.status_code}"
                assert response.json()["code"] == "NotFound"
                walked += 1
    assert walked >= 12
    assert await bird.ok("GET", f"/channels/{ids['channel_id']}/messages") == before
    assert (await bird.ok("GET", f"/channels/{ids['channel_id']}"))["status"] == "active"
