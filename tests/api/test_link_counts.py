"""Tags and sequences keep the number of their contacts (`contacts_count`, triggers of migration
0015), which a search by tag or sequence name answers as its total."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.models import ContactSequence, ContactTag, Sequence, Tag
from tests.helpers import Api, Tenant

SENDER = {"email": "john@beats.com", "name": "John", "address": "1 Main St"}
Maker = async_sessionmaker[AsyncSession]


async def _kept_and_counted(sessionmaker: Maker, account: Tenant) -> dict[str, tuple[int, int]]:
    """Each of the account's tags and sequences by name: (the count kept, its links counted now)."""
    found: dict[str, tuple[int, int]] = {}
    async with sessionmaker() as session:
        for target, link in ((Tag, ContactTag.tag_id), (Sequence, ContactSequence.sequence_id)):
            linked = select(func.count()).where(link == target.id).scalar_subquery()
            rows = await session.execute(
                select(target.name, target.contacts_count, linked).where(target.account_id == account.id)
            )
            found.update({name: (kept, counted) for name, kept, counted in rows})
    return found


async def _assert_kept(sessionmaker: Maker, account: Tenant, expected: dict[str, int]) -> None:
    kept = await _kept_and_counted(sessionmaker, account)
    assert {name: counted for name, (_, counted) in kept.items()} == expected
    assert {name: count for name, (count, _) in kept.items()} == expected


async def _total(api: Api, search_by: str, keyword: str) -> int:
    response = await api.get("/contacts", search_by=search_by, keyword=keyword)
    assert response.status_code == 200, response.text
    return int(response.json()["meta"]["total"])


async def test_counts_follow_every_way_a_link_comes_and_goes(api: Api, sessionmaker: Maker, account: Tenant) -> None:
    sequence = await api.created("/sequences", {"name": "Welcome", "sender": SENDER})
    ids = [(await api.created("/contacts", {"email": f"c{n}@example.com"}))["contact_id"] for n in range(4)]
    for contact_id in ids:
        await api.post(f"/contacts/{contact_id}/tags", {"tags": ["Gold", "Silver"]})
        await api.created(f"/contacts/{contact_id}/sequences", {"sequence_id": sequence["sequence_id"]})
    await api.post(f"/contacts/{ids[0]}/tags", {"tags": ["Gold", "Bronze"]})  # Gold again: no change
    await _assert_kept(sessionmaker, account, {"Gold": 4, "Silver": 4, "Bronze": 1, "Welcome": 4})
    assert await _total(api, "tag", "gold") == 4
    assert await _total(api, "sequence", "welcome") == 4

    silver = next(tag for tag in (await api.get("/tags")).json()["data"] if tag["name"] == "Silver")
    assert (await api.delete(f"/contacts/{ids[1]}/tags/{silver['tag_id']}")).status_code == 204
    replaced = await api.put(f"/contacts/{ids[2]}", {"email": "c2@example.com", "tags": ["Bronze"]})
    assert replaced.status_code == 200, replaced.text
    assert (await api.delete(f"/contacts/{ids[3]}")).status_code == 204  # its links go with it
    assert (await api.delete(f"/contacts/{ids[0]}/unsubscribe")).status_code == 204  # leaves the sequence
    left = await api.delete(f"/contacts/{ids[1]}/sequences/{sequence['sequence_id']}")
    assert left.status_code == 204
    await _assert_kept(sessionmaker, account, {"Gold": 2, "Silver": 1, "Bronze": 2, "Welcome": 1})
    assert await _total(api, "tag", "gold") == 2
    assert await _total(api, "tag", "silver") == 1
    assert await _total(api, "sequence", "welcome") == 1


async def test_concurrent_taggings_of_the_same_tags_are_all_counted(
    api: Api, sessionmaker: Maker, account: Tenant
) -> None:
    ids = [(await api.created("/contacts", {"email": f"p{n}@example.com"}))["contact_id"] for n in range(24)]
    await api.post(f"/contacts/{ids[0]}/tags", {"tags": ["Popular", "Second"]})

    async def tag(contact_id: int, names: list[str]) -> None:
        response = await api.post(f"/contacts/{contact_id}/tags", {"tags": names})
        assert response.status_code == 201, response.text

    # The same two tags in both orders at once: every request lands, none waits on another forever.
    orders = (["Popular", "Second"], ["Second", "Popular"])
    await asyncio.gather(*(tag(contact_id, orders[n % 2]) for n, contact_id in enumerate(ids[1:])))
    kept = await _kept_and_counted(sessionmaker, account)
    assert kept["Popular"] == kept["Second"] == (24, 24)
    assert await _total(api, "tag", "popular") == 24


async def test_concurrent_swaps_of_two_tags_are_all_counted(api: Api, sessionmaker: Maker, account: Tenant) -> None:
    emails = [f"s{n}@example.com" for n in range(24)]
    ids = [(await api.created("/contacts", {"email": email}))["contact_id"] for email in emails]
    for n, contact_id in enumerate(ids):
        await api.post(f"/contacts/{contact_id}/tags", {"tags": ["Left" if n % 2 else "Right"]})

    async def swap(n: int) -> None:
        # A PUT with a tag set removes the tag it leaves, then adds the other: half of them the
        # other way round, at once.
        replaced = {"email": emails[n], "tags": ["Right" if n % 2 else "Left"]}
        response = await api.put(f"/contacts/{ids[n]}", replaced)
        assert response.status_code == 200, response.text

    await asyncio.gather(*(swap(n) for n in range(len(ids))))
    kept = await _kept_and_counted(sessionmaker, account)
    assert kept["Left"] == kept["Right"] == (12, 12)
