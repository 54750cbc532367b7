"""Tags (CONVENTIONS §7: tags)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from roost.errors import Invalid, NotFound
from roost.kit.paging import ListParams, Page
from roost.models import Tag
from roost.tag.repository import TagRepository

SEARCH_BY = ("name",)
ORDER_BY = ("name",)


async def list_page(session: AsyncSession, *, account_id: int, params: ListParams) -> Page[Tag]:
    """A page of the account's tags."""
    return await TagRepository(session, account_id).page(params)


async def get(session: AsyncSession, *, account_id: int, tag_id: int) -> Tag:
    """One tag, or NotFound."""
    tag = await TagRepository(session, account_id).get(tag_id)
    if tag is None:
        raise NotFound()
    return tag


async def create(session: AsyncSession, *, account_id: int, name: str) -> Tag:
    """Create a tag; names are unique per account ignoring case."""
    repo = TagRepository(session, account_id)
    if await repo.name_taken(name):
        raise Invalid.field("name", "The name has already been taken.")
    tag = repo.add(Tag(account_id=account_id, name=name))
    await session.flush()
    return tag


async def update(session: AsyncSession, *, account_id: int, tag_id: int, name: str | None) -> Tag:
    """Rename a tag."""
    repo = TagRepository(session, account_id)
    tag = await get(session, account_id=account_id, tag_id=tag_id)
    if name is not None and name != tag.name:
        if await repo.name_taken(name, except_id=tag.id):
            raise Invalid.field("name", "The name has already been taken.")
        tag.name = name
        await session.flush()
    return tag


async def delete(session: AsyncSession, *, account_id: int, tag_id: int) -> None:
    """Delete a tag; it leaves every contact without firing rules (CONVENTIONS §7)."""
    tag = await get(session, account_id=account_id, tag_id=tag_id)
    await TagRepository(session, account_id).delete(tag)


async def existing(session: AsyncSession, *, account_id: int, tag_ids: Sequence[int]) -> list[Tag]:
    """The tags with these ids that exist in the account, in the given order."""
    found = await TagRepository(session, account_id).by_ids(tag_ids)
    return [found[tag_id] for tag_id in dict.fromkeys(tag_ids) if tag_id in found]


async def get_or_create(session: AsyncSession, *, account_id: int, names: Sequence[str]) -> list[Tag]:
    """The tags with these names, creating the missing ones; order follows `names`, duplicates folded."""
    repo = TagRepository(session, account_id)
    existing = await repo.by_names(names)
    result: dict[str, Tag] = {}
    for name in names:
        key = name.lower()
        if key in result:
            continue
        tag = existing.get(key)
        if tag is None:
            tag = repo.add(Tag(account_id=account_id, name=name))
            existing[key] = tag
        result[key] = tag
    await session.flush()
    return [*result.values()]
