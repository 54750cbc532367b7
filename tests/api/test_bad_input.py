"""Bad input gets a clear 4xx in the /v1 format and changes nothing (CONVENTIONS §5)."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import Api, Tenant


async def _tag_count(api: Api) -> int:
    total: int = (await api.get("/tags")).json()["meta"]["total"]
    return total


async def test_malformed_bodies_answer_400(client: httpx.AsyncClient, account: Tenant, api: Api) -> None:
    headers = {**account.headers, "Content-Type": "application/json"}
    for raw in (b"{", b"[]", b'"name"', b"42", b"null", b"[" * 100_000, b"\xff\xfe"):
        response = await client.post("/v1/tags", content=raw, headers=headers)
        assert response.status_code == 400, raw[:10]
        assert isinstance(response.json()["message"], str)
    assert await _tag_count(api) == 0


async def test_json_is_read_whatever_the_content_type(client: httpx.AsyncClient, account: Tenant) -> None:
    response = await client.post(
        "/v1/tags",
        content=b'{"name": "curl"}',
        headers={**account.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201
    assert response.json()["name"] == "curl"


async def test_nul_characters_are_refused(api: Api) -> None:
    assert (await api.post("/tags", {"name": "a\u0000b"})).status_code == 400
    assert (await api.get("/contacts", keyword="a\u0000")).status_code == 400
    assert await _tag_count(api) == 0


async def test_oversize_values_and_bodies(client: httpx.AsyncClient, account: Tenant, api: Api) -> None:
    one_mb_name = await api.post("/tags", {"name": "x" * 1_000_000})
    assert one_mb_name.status_code == 422
    assert one_mb_name.json()["errors"] == {"name": ["The name may not be greater than 255 characters."]}
    too_big = await client.post("/v1/tags", content=b'{"name":"' + b"x" * 2_000_000 + b'"}', headers=account.headers)
    assert too_big.status_code == 413
    assert too_big.json() == {"message": "The request body is too large."}
    assert await _tag_count(api) == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"per_page": 10**9}, "per_page"),
        ({"per_page": 0}, "per_page"),
        ({"page": -1}, "page"),
        ({"page": "two"}, "page"),
        ({"page": 10**30}, "page"),
        ({"sort": "sideways"}, "sort"),
        ({"order_by": "password"}, "order_by"),
        ({"search_by": "id"}, "search_by"),
        ({"keyword": "k" * 256}, "keyword"),
    ],
)
async def test_list_parameters_are_validated(api: Api, params: dict[str, object], field: str) -> None:
    response = await api.get("/contacts", **params)
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == "The given data was invalid."
    assert list(body["errors"]) == [field]


@pytest.mark.parametrize("bad_id", ["abc", "0", "-3", "1.5", str(2**64), "1e3"])
async def test_malformed_ids_answer_404(api: Api, bad_id: str) -> None:
    for path in (f"/contacts/{bad_id}", f"/tags/{bad_id}", f"/fields/{bad_id}"):
        response = await api.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"message": "Not Found."}
    assert (await api.patch(f"/tags/{bad_id}", {"name": "x"})).status_code == 404


async def test_unknown_routes_and_methods(client: httpx.AsyncClient, account: Tenant) -> None:
    missing = await client.get("/v1/nothing-here", headers=account.headers)
    assert missing.status_code == 404
    assert missing.json() == {"message": "Not Found."}
    wrong_method = await client.put("/v1/tags/1", json={}, headers=account.headers)
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"message": "Method Not Allowed."}
    assert set(wrong_method.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}
    collection = await client.delete("/v1/contacts", headers=account.headers)
    assert set(collection.headers["allow"].split(", ")) == {"GET", "POST"}


async def test_nested_type_errors_name_the_dotted_path(api: Api) -> None:
    response = await api.post("/contacts", {"email": "a@example.com", "fields": {"first_name": ["x"]}})
    assert response.status_code == 422
    assert response.json()["errors"] == {"fields.first_name": ["The fields.first_name must be a string."]}
    assert (await api.get("/contacts")).json()["meta"]["total"] == 0


async def test_server_owned_fields_cannot_be_set(api: Api) -> None:
    created = await api.created(
        "/contacts",
        {"email": "own@example.com", "contact_id": 424242, "status": "bounced", "created_at": "2001-01-01 00:00:00"},
    )
    assert created["contact_id"] != 424242
    assert created["status"] == "active"
    assert created["created_at"] != "2001-01-01 00:00:00"
    tag = await api.created("/tags", {"name": "t", "tag_id": 999999, "account_id": 1})
    assert tag["tag_id"] != 999999
