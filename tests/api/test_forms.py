from __future__ import annotations

import re
from typing import Any

import pytest

from roost.form.service import DEFAULT_CONFIRMATION_BODY, DEFAULT_CONFIRMATION_SUBJECT
from tests.helpers import Api

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
SENDER = {"email": "john@beats.com", "name": "John", "address": "1 Main St"}


async def _tag(api: Api, name: str) -> int:
    tag_id: int = (await api.created("/tags", {"name": name}))["tag_id"]
    return tag_id


async def _sequence_id(api: Api, name: str = "Drip") -> int:
    sequence_id: int = (await api.created("/sequences", {"name": name, "sender": SENDER}))["sequence_id"]
    return sequence_id


async def test_form_defaults_and_seed_shape(api: Api) -> None:
    created = await api.created("/forms", {"name": "Example Form 1"})
    assert created == {
        "form_id": created["form_id"],
        "name": "Example Form 1",
        "double_optin": True,
        "tags": [],
        "sequence_id": None,
        "redirect_url": "",
        "confirmation": {"subject": DEFAULT_CONFIRMATION_SUBJECT, "body": DEFAULT_CONFIRMATION_BODY},
        "created_at": created["created_at"],
    }
    assert TIMESTAMP.match(created["created_at"])
    fetched = await api.get(f"/forms/{created['form_id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created
    listed = (await api.get("/forms")).json()
    assert listed["data"] == [created]
    assert listed["meta"]["total"] == 1


async def test_form_with_tags_sequence_redirect_and_confirmation(api: Api) -> None:
    vip, paid = await _tag(api, "VIP"), await _tag(api, "Paid")
    sequence_id = await _sequence_id(api)
    created = await api.created(
        "/forms",
        {
            "name": "Lead magnet",
            "double_optin": False,
            "tags": [paid, vip, paid],
            "sequence_id": sequence_id,
            "redirect_url": "https://example.com/thanks?x=1",
            "confirmation": {"subject": "Confirm, please", "body": "<a href='%confirmlink%'>Yes</a>"},
        },
    )
    assert created["double_optin"] is False
    assert created["tags"] == [paid, vip]  # duplicates folded, order kept
    assert created["sequence_id"] == sequence_id
    assert created["redirect_url"] == "https://example.com/thanks?x=1"
    assert created["confirmation"] == {"subject": "Confirm, please", "body": "<a href='%confirmlink%'>Yes</a>"}


async def test_patch_form_changes_only_what_is_given(api: Api) -> None:
    vip = await _tag(api, "VIP")
    sequence_id = await _sequence_id(api)
    form = await api.created("/forms", {"name": "F", "tags": [vip], "sequence_id": sequence_id})
    path = f"/forms/{form['form_id']}"

    renamed = (await api.patch(path, {"name": "Renamed", "confirmation": {"subject": "Please confirm"}})).json()
    assert renamed == {
        **form,
        "name": "Renamed",
        "confirmation": {"subject": "Please confirm", "body": DEFAULT_CONFIRMATION_BODY},
    }
    cleared = (await api.patch(path, {"sequence_id": None, "tags": [], "redirect_url": "http://a.example"})).json()
    assert cleared["sequence_id"] is None
    assert cleared["tags"] == []
    assert cleared["redirect_url"] == "http://a.example"
    assert (await api.patch(path, {"confirmation": {"subject": ""}})).json()["confirmation"]["subject"] == (
        DEFAULT_CONFIRMATION_SUBJECT
    )
    assert (await api.get(path)).json()["name"] == "Renamed"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"tags": [999999999]}, {"tags.0"}),
        ({"tags": ["VIP"]}, {"tags.0"}),
        ({"tags": [0]}, {"tags.0"}),
        ({"tags": list(range(1, 102))}, {"tags"}),
        ({"sequence_id": 999999999}, {"sequence_id"}),
        ({"sequence_id": "two"}, {"sequence_id"}),
        ({"sequence_id": 2**70}, {"sequence_id"}),
        ({"redirect_url": "ftp://example.com/file"}, {"redirect_url"}),
        ({"redirect_url": "javascript:alert(1)"}, {"redirect_url"}),
        ({"redirect_url": "https://"}, {"redirect_url"}),
        ({"redirect_url": "https://exa mple.com"}, {"redirect_url"}),
        ({"redirect_url": "http://[::1"}, {"redirect_url"}),
        ({"redirect_url": "https://x.com/" + "a" * 2000}, {"redirect_url"}),
        ({"double_optin": "often"}, {"double_optin"}),
        ({"confirmation": "yes"}, {"confirmation"}),
        ({"name": ""}, {"name"}),
    ],
)
async def test_form_input_is_validated(api: Api, body: dict[str, Any], errors: set[str]) -> None:
    response = await api.post("/forms", {"name": "F", **body})
    assert response.status_code == 422, response.text
    assert set(response.json()["errors"]) == errors
    assert (await api.get("/forms")).json()["meta"]["total"] == 0


async def test_unknown_tags_name_their_position(api: Api) -> None:
    tag = await _tag(api, "Known")
    response = await api.post("/forms", {"name": "F", "tags": [999999998, tag, 999999999]})
    assert response.json()["errors"] == {
        "tags.0": ["The selected tags.0 is invalid."],
        "tags.2": ["The selected tags.2 is invalid."],
    }
    unknown_sequence = await api.post("/forms", {"name": "F", "sequence_id": 999999999})
    assert unknown_sequence.json()["errors"] == {"sequence_id": ["The selected sequence id is invalid."]}


async def test_deleted_tags_leave_the_form(api: Api) -> None:
    keep, drop = await _tag(api, "Keep"), await _tag(api, "Drop")
    form = await api.created("/forms", {"name": "F", "tags": [drop, keep]})
    await api.delete(f"/tags/{drop}")
    assert (await api.get(f"/forms/{form['form_id']}")).json()["tags"] == [keep]
    assert (await api.get("/forms")).json()["data"][0]["tags"] == [keep]


async def test_form_list_searches_and_orders(api: Api) -> None:
    for name in ("Sidebar", "Popup", "sidebar footer"):
        await api.created("/forms", {"name": name})

    async def names(**params: Any) -> list[str]:
        response = await api.get("/forms", **params)
        assert response.status_code == 200, response.text
        return [f["name"] for f in response.json()["data"]]

    assert await names() == ["sidebar footer", "Popup", "Sidebar"]
    assert await names(keyword="SIDEBAR") == ["sidebar footer", "Sidebar"]
    assert await names(order_by="name", sort="asc") == ["Popup", "Sidebar", "sidebar footer"]
    assert await names(order_by="created_at", sort="asc") == ["Sidebar", "Popup", "sidebar footer"]
    # The seed lists "created_by"; it means created_at (CONVENTIONS §7).
    assert await names(order_by="created_by", sort="desc") == ["sidebar footer", "Popup", "Sidebar"]
    assert (await api.get("/forms", order_by="double_optin")).status_code == 422
    assert (await api.get("/forms", search_by="tags")).status_code == 422


async def test_delete_form(api: Api) -> None:
    form = await api.created("/forms", {"name": "F"})
    path = f"/forms/{form['form_id']}"
    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404
    assert (await api.delete(path)).status_code == 404
    for bad in ("abc", "0", str(2**64)):
        assert (await api.get(f"/forms/{bad}")).status_code == 404
