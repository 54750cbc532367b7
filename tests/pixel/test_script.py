"""The pixel script the embed code loads (CONVENTIONS §7: pixels): served by Roost, cacheable, consistent
with the snippet of GET /v1/pixels/code."""

from __future__ import annotations

import re

import httpx

from tests.helpers import Api

SCRIPT_SOURCE = re.compile(r"js\.src = \"([^\"]+)\"")


async def test_the_snippet_loads_the_script_roost_serves(api: Api, client: httpx.AsyncClient) -> None:
    code = (await api.get("/pixels/code")).json()["code"]
    (source,) = SCRIPT_SOURCE.findall(code)
    assert source == "http://roost.test/pixel/script"

    response = await client.get(source.removeprefix("http://roost.test"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    script = response.text
    assert 'var COLLECT_URL = "http://roost.test/pixel/collect";' in script
    assert "__ROOST_COLLECT_URL__" not in script
    for part in ("_bsq", '"init"', '"track"', "sendBeacon", "keepalive", "replaceState", "SameSite=Lax"):
        assert part in script, part


async def test_the_script_is_revalidated_with_its_etag(client: httpx.AsyncClient) -> None:
    first = await client.get("/pixel/script")
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    for held in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await client.get("/pixel/script", headers={"If-None-Match": held})
        assert again.status_code == 304, held
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == "public, max-age=3600"
    stale = await client.get("/pixel/script", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200
    assert stale.content == first.content
