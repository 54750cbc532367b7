"""The pixel script itself, run in Node with a tiny fake browser (tests/pixel/fake_browser.js); skipped
where Node is not installed. The last test hands what the script sent to the real collect endpoint."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import Api, Tenant
from tests.pixel.conftest import Mail, broadcast, broadcast_stats, contact, domain, links
from tests.pixel.test_collect import collect

NODE = shutil.which("node")
HARNESS = Path(__file__).with_name("fake_browser.js")
COLLECT_URL = "http://roost.test/pixel/collect"
WORKSPACE = "0b5c8c1e-1a7b-4f6c-8d0e-2f6a9e6b1c3d"
IDENTIFIER = "123.0123456789abcdef01234567"
SNIPPET = [["init", WORKSPACE], ["track", "PageView"]]

pytestmark = pytest.mark.skipif(NODE is None, reason="Node is not installed")


@pytest.fixture
async def script(client: httpx.AsyncClient, tmp_path: Path) -> Path:
    """The script as Roost serves it, collect URL filled in."""
    response = await client.get("/pixel/script")
    assert response.status_code == 200
    path = tmp_path / "pixel.js"
    path.write_bytes(response.content)
    return path


async def browse(script: Path, **scenario: Any) -> dict[str, Any]:
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(HARNESS),
        str(script),
        json.dumps(scenario),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    found: dict[str, Any] = json.loads(stdout)
    return found


def reports(found: dict[str, Any]) -> list[dict[str, Any]]:
    assert {sent["url"] for sent in found["sent"]} <= {COLLECT_URL}
    return [json.loads(sent["body"]) for sent in found["sent"]]


async def test_a_landing_from_a_click_keeps_the_identifier_and_reports_the_queue(script: Path) -> None:
    conversion = ["track", "Conversion", {"value": 49, "currency": "eur", "order_id": "A-1", "coupon": "X"}]
    found = await browse(
        script,
        href=f"https://shop.example/landing?a=1&_bsc={IDENTIFIER}&b=%20#top",
        before=SNIPPET,
        after=[conversion, ["track", "Lead"], "junk", None],
    )
    assert found["cookies"] == [f"_bsc={IDENTIFIER}; Max-Age=7776000; Path=/; SameSite=Lax; Secure"]
    assert found["url"] == "https://shop.example/landing?a=1&b=%20#top"  # the identifier left the address bar
    assert [sent["via"] for sent in found["sent"]] == ["beacon", "beacon"]
    assert reports(found) == [
        {"workspace": WORKSPACE, "type": "page_view", "identifier": IDENTIFIER},
        {
            "workspace": WORKSPACE,
            "type": "conversion",
            "identifier": IDENTIFIER,
            "url": "https://shop.example/landing",  # no query, no fragment
            "value": 49,
            "currency": "eur",
            "event_id": "A-1",
        },
    ]


async def test_without_send_beacon_it_falls_back_to_a_keepalive_fetch(script: Path) -> None:
    found = await browse(script, href="http://shop.example/", before=SNIPPET, beacon=False)
    (sent,) = found["sent"]
    assert sent["via"] == "fetch"
    assert sent["options"] == {
        "method": "POST",
        "keepalive": True,
        "mode": "cors",
        "credentials": "omit",
        "headers": {"Content-Type": "text/plain;charset=UTF-8"},
    }
    assert json.loads(sent["body"]) == {"workspace": WORKSPACE, "type": "page_view"}  # no identifier: anonymous
    assert found["cookies"] == []


async def test_a_returning_visitor_is_recognised_by_the_cookie(script: Path) -> None:
    found = await browse(
        script,
        href="https://shop.example/shoes?size=9",
        cookie=f"theme=dark; _bsc={IDENTIFIER}",
        # Commands queued before `init` wait for it; the snippet embedded twice loads the script once.
        before=[["track", "PageView"], ["init", WORKSPACE]],
        load_twice=True,
        after=[["track", "Conversion", {"value": "12.50", "event_id": 77}]],
    )
    assert found["cookies"] == []
    assert found["url"] == "https://shop.example/shoes?size=9"
    assert reports(found) == [
        {"workspace": WORKSPACE, "type": "page_view", "identifier": IDENTIFIER},
        {
            "workspace": WORKSPACE,
            "type": "conversion",
            "identifier": IDENTIFIER,
            "url": "https://shop.example/shoes",
            "value": "12.50",
            "event_id": "77",
        },
    ]


async def test_a_malformed_identifier_is_never_stored(script: Path) -> None:
    found = await browse(script, href="http://shop.example/?_bsc=x%3B%20Domain%3Devil.example", before=SNIPPET)
    assert found["cookies"] == []
    assert found["url"] == "http://shop.example/"
    assert reports(found) == [{"workspace": WORKSPACE, "type": "page_view"}]


async def test_what_the_script_sends_after_a_tracked_click_is_a_conversion(
    script: Path, api: Api, account: Tenant, client: httpx.AsyncClient, mail: Mail
) -> None:
    shop = "https://shop.example/spring"
    buyer = f"buyer@{domain()}"
    buyer_id = await contact(api, buyer)
    spring = await broadcast(api, "Spring", links(shop))
    await mail.deliver()
    landing = (await mail.follow(buyer, "Spring", shop)).headers["location"]

    found = await browse(
        script,
        href=landing,
        before=[["init", str(account.workspace_id)], ["track", "PageView"]],
        after=[["track", "Conversion", {"value": 30, "event_id": "order-9"}]],
    )
    assert found["url"] == shop
    for sent in found["sent"]:
        response = await collect(client, sent["body"].encode())
        assert response.status_code == 204, response.text
    (conversion,) = (await api.get("/conversions")).json()["data"]
    assert (conversion["contact_id"], conversion["value"], conversion["attribution"]) == (
        buyer_id,
        30,
        {"type": "broadcast", "id": spring},
    )
    assert (await broadcast_stats(api, spring))["altv"] == 30
