"""The pixel's collect endpoint: what any site's pages may send, and everything it refuses (CONVENTIONS §7)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from roost.api.app import create_app
from roost.config import Settings
from tests.conftest import client_for
from tests.helpers import Api, Tenant

ORIGIN = "https://shop.example"
# What the script sends: a text/plain body (a CORS simple request, as sendBeacon makes it), from the site's origin.
SCRIPT_HEADERS = {"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN}


async def collect(client: httpx.AsyncClient, report: Any, **headers: str) -> httpx.Response:
    body = report if isinstance(report, bytes) else json.dumps(report).encode()
    response = await client.post("/pixel/collect", content=body, headers={**SCRIPT_HEADERS, **headers})
    # Every answer, refusals included, can be read by the page that sent it, never with credentials.
    assert response.headers["access-control-allow-origin"] == "*", response.text
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["cache-control"] == "no-store"
    return response


async def page_views(api: Api, days: int = 30) -> dict[str, Any]:
    response = await api.get("/pixels/page-views", days=days)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_the_cors_preflight_is_answered_for_any_origin(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/pixel/collect",
        headers={
            "Origin": "https://anywhere.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert response.headers["access-control-allow-headers"] == "Content-Type"
    assert response.headers["access-control-max-age"] == "86400"
    assert "access-control-allow-credentials" not in response.headers
    # CORS is for the pixel alone: the API answers no preflight.
    api_preflight = await client.options("/v1/contacts", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in api_preflight.headers


async def test_page_views_are_counted_per_day(client: httpx.AsyncClient, api: Api, account: Tenant) -> None:
    assert await page_views(api) == {"days": 30, "page_views": 0, "identified": 0, "daily": []}
    for _ in range(3):
        response = await collect(client, {"workspace": str(account.workspace_id), "type": "page_view"})
        assert response.status_code == 204
        assert response.content == b""
    # application/json is read the same (after its preflight), and unknown properties are ignored.
    response = await collect(
        client,
        {"workspace": str(account.workspace_id), "type": "page_view", "referrer": "x"},
        **{"Content-Type": "application/json"},
    )
    assert response.status_code == 204
    found = await page_views(api, days=1)
    assert (found["page_views"], found["identified"], len(found["daily"])) == (4, 0, 1)
    assert found["daily"][0]["page_views"] == 4
    assert (await api.get("/pixels/page-views", days=0)).status_code == 422
    assert (await api.get("/pixels/page-views", days=367)).status_code == 422


async def test_conversions_of_no_contact_are_dropped(client: httpx.AsyncClient, api: Api, account: Tenant) -> None:
    report = {"workspace": str(account.workspace_id), "type": "conversion", "value": 49, "event_id": "order-1"}
    assert (await collect(client, report)).status_code == 204
    assert (await api.get("/conversions")).json()["meta"]["total"] == 0


async def test_junk_is_refused_with_4xx_and_changes_nothing(
    client: httpx.AsyncClient, api: Api, account: Tenant
) -> None:
    workspace = str(account.workspace_id)
    good = {"workspace": workspace, "type": "conversion"}
    refusals: list[tuple[Any, int, Any]] = [
        (b"", 422, {"workspace": ["The workspace field is required."], "type": ["The type field is required."]}),
        (b"not json", 400, "The request body is not valid JSON."),
        (b"[1, 2]", 400, "The request body must be a JSON object."),
        (b'"page_view"', 400, "The request body must be a JSON object."),
        (b'{"workspace": "\\u0000", "type": "page_view"}', 400, "The request body must not contain NUL characters."),
        ({"workspace": "1", "type": "page_view"}, 422, {"workspace": ["The workspace is invalid."]}),
        ({"workspace": workspace, "type": "click"}, 422, {"type": ["The selected type is invalid."]}),
        ({**good, "value": -1}, 422, {"value": ["The value must be at least 0."]}),
        ({**good, "value": "ten"}, 422, {"value": ["The value must be a number."]}),
        ({**good, "value": 10**13}, 422, {"value": ["The value may not be greater than 999999999999.99."]}),
        ({**good, "value": True}, 422, {"value": ["The value is invalid."]}),
        (b'{"workspace": "%s", "type": "conversion", "value": NaN}' % workspace.encode(), 422, None),
        ({**good, "currency": "ZZZ"}, 422, {"currency": ["The currency must be an ISO 4217 currency code."]}),
        ({**good, "currency": 978}, 422, {"currency": ["The currency must be a string."]}),
        ({**good, "event_id": "x" * 65}, 422, {"event_id": ["The event id may not be greater than 64 characters."]}),
        ({**good, "event_id": "order\n1"}, 422, {"event_id": ["The event id is invalid."]}),
        ({**good, "event_id": ""}, 422, {"event_id": ["The event id field is required."]}),
        ({**good, "identifier": "i" * 101}, 422, None),
        ({**good, "url": "https://shop.example/" + "p" * 2000}, 422, None),
        ({**good, "identifier": "1.000000000000000000000000"}, 422, {"identifier": ["The identifier is invalid."]}),
        ({**good, "identifier": "not signed"}, 422, {"identifier": ["The identifier is invalid."]}),
        ({"workspace": str(uuid.uuid4()), "type": "page_view"}, 404, "Not Found."),
    ]
    for report, status, detail in refusals:
        response = await collect(client, report)
        assert response.status_code == status, (report, response.text)
        if isinstance(detail, str):
            assert response.json() == {"message": detail}, report
        elif detail is not None:
            assert response.json() == {"message": "The given data was invalid.", "errors": detail}, report
    assert (await page_views(api))["page_views"] == 0


async def test_bodies_over_4_kb_are_refused(client: httpx.AsyncClient, api: Api, account: Tenant) -> None:
    padded = {"workspace": str(account.workspace_id), "type": "page_view", "padding": "x" * 4096}
    assert (await collect(client, padded)).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the stream itself is counted
        yield b'{"workspace": "%s", "type": "page_view", "padding": "' % str(account.workspace_id).encode()
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    response = await client.post("/pixel/collect", content=chunks(), headers=SCRIPT_HEADERS)
    assert response.status_code == 413
    assert response.headers["access-control-allow-origin"] == "*"
    assert (await page_views(api))["page_views"] == 0


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings.model_copy(update={"pixel_rate_limit": "3/minute"}))
    yield app
    await app.state.roost.dispose()


async def test_reports_are_limited_per_client_and_workspace(
    limited: FastAPI, api: Api, account: Tenant, other_account: Tenant
) -> None:
    async with client_for(limited) as client:
        report = {"workspace": str(account.workspace_id), "type": "page_view"}
        for _ in range(3):
            assert (await collect(client, report)).status_code == 204
        refused = await collect(client, report)
        assert refused.status_code == 429
        assert refused.json() == {"message": "Too Many Attempts."}
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # Another workspace on the same client has its own window.
        other = {"workspace": str(other_account.workspace_id), "type": "page_view"}
        assert (await collect(client, other)).status_code == 204
    assert (await page_views(api))["page_views"] == 3


async def test_the_public_pixel_routes_are_documented(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    report = paths["/pixel/collect"]["post"]
    assert set(report["responses"]) == {"204", "400", "404", "413", "422", "429"}
    assert set(report["requestBody"]["content"]) == {"text/plain", "application/json"}
    assert set(paths["/pixel/script"]["get"]["responses"]) == {"200", "304"}
    assert "/v1/pixels/page-views" in paths
