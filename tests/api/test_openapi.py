from __future__ import annotations

import httpx


async def test_openapi_documents_every_status_a_route_can_return(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    assert "/v1/contacts/{contact_id}/tags/{tag_id}" in paths
    assert "/workspaces/{workspace_id}/channels/{channel_id}/messages" in paths
    checked = 0
    for path, operations in paths.items():
        if not path.startswith(("/v1/", "/workspaces/")):
            continue
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "403", "422", "429"} <= codes, f"{method} {path}: {codes}"
            if "{" in path:
                assert "404" in codes, f"{method} {path}"
            if method in {"post", "patch", "put"}:
                assert {"400", "413"} <= codes, f"{method} {path}"
            success = {c for c in codes if c.startswith("2")}
            assert len(success) == 1, f"{method} {path}: {success}"
            checked += 1
    assert checked >= 30
    invalid = document["components"]["schemas"]["ValidationErrorOut"]
    assert set(invalid["properties"]) == {"message", "errors"}
    bird_invalid = document["components"]["schemas"]["BirdValidationErrorOut"]
    assert set(bird_invalid["properties"]) == {"code", "message", "details"}


async def test_health_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok"}
