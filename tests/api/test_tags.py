from __future__ import annotations

from tests.helpers import Api


async def test_tag_crud_follows_the_seed_examples(api: Api) -> None:
    created = await api.created("/tags", {"name": "New Tag"})
    assert set(created) == {"tag_id", "name"}
    assert created["name"] == "New Tag"
    tag_id = created["tag_id"]

    fetched = await api.get(f"/tags/{tag_id}")
    assert fetched.status_code == 200
    assert fetched.json() == created

    renamed = await api.patch(f"/tags/{tag_id}", {"name": "edit tag"})
    assert renamed.status_code == 200
    assert renamed.json() == {"tag_id": tag_id, "name": "edit tag"}

    deleted = await api.delete(f"/tags/{tag_id}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await api.get(f"/tags/{tag_id}")).status_code == 404


async def test_tag_names_are_unique_ignoring_case(api: Api) -> None:
    await api.created("/tags", {"name": "Paid"})
    duplicate = await api.post("/tags", {"name": "PAID"})
    assert duplicate.status_code == 422
    assert duplicate.json() == {
        "message": "The given data was invalid.",
        "errors": {"name": ["The name has already been taken."]},
    }
    other = await api.created("/tags", {"name": "Free"})
    clash = await api.patch(f"/tags/{other['tag_id']}", {"name": "paid"})
    assert clash.status_code == 422
    assert (await api.get(f"/tags/{other['tag_id']}")).json()["name"] == "Free"


async def test_same_tag_name_is_fine_in_two_accounts(api: Api, other_api: Api) -> None:
    await api.created("/tags", {"name": "Shared"})
    await other_api.created("/tags", {"name": "Shared"})


async def test_tag_name_is_required_and_bounded(api: Api) -> None:
    missing = await api.post("/tags", {})
    assert missing.status_code == 422
    assert missing.json()["errors"] == {"name": ["The name field is required."]}
    blank = await api.post("/tags", {"name": "   "})
    assert blank.status_code == 422
    not_a_string = await api.post("/tags", {"name": 12})
    assert not_a_string.json()["errors"] == {"name": ["The name must be a string."]}
    listing = await api.get("/tags")
    assert listing.json()["meta"]["total"] == 0


async def test_tag_list_pages_searches_and_orders(api: Api) -> None:
    for name in ("alpha", "Bravo", "charlie", "delta", "Alphabet"):
        await api.created("/tags", {"name": name})

    newest_first = (await api.get("/tags")).json()
    assert [t["name"] for t in newest_first["data"]] == ["Alphabet", "delta", "charlie", "Bravo", "alpha"]

    ordered = (await api.get("/tags", order_by="name", sort="asc")).json()
    assert [t["name"] for t in ordered["data"]] == ["alpha", "Alphabet", "Bravo", "charlie", "delta"]

    found = (await api.get("/tags", keyword="ALPHA")).json()
    assert sorted(t["name"] for t in found["data"]) == ["Alphabet", "alpha"]

    page2 = (await api.get("/tags", per_page=2, page=2, order_by="name")).json()
    assert [t["name"] for t in page2["data"]] == ["Bravo", "charlie"]
    assert page2["meta"] == {
        "current_page": 2,
        "from": 3,
        "to": 4,
        "last_page": 3,
        "path": "http://roost.test/v1/tags",
        "per_page": 2,
        "total": 5,
    }
    links = page2["links"]
    assert links["first"].startswith("http://roost.test/v1/tags?")
    assert "order_by=name" in links["next"]
    assert "page=3" in links["next"]
    assert "page=1" in links["prev"]
    assert "per_page=2" in links["prev"]

    past_the_end = await api.get("/tags", page=99)
    assert past_the_end.status_code == 200
    assert past_the_end.json()["data"] == []
    assert past_the_end.json()["meta"]["from"] is None


async def test_like_wildcards_in_keyword_match_literally(api: Api) -> None:
    await api.created("/tags", {"name": "100% match"})
    await api.created("/tags", {"name": "1000 things"})
    found = (await api.get("/tags", keyword="0%")).json()
    assert [t["name"] for t in found["data"]] == ["100% match"]
    underscore = (await api.get("/tags", keyword="_")).json()
    assert underscore["data"] == []
