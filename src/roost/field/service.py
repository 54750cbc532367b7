"""Custom contact fields (CONVENTIONS §7: fields)."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from roost.errors import Invalid, NotFound
from roost.field.repository import FieldRepository
from roost.kit.paging import ListParams, Page
from roost.models import CustomField

SEARCH_BY = ("label",)
ORDER_BY = ("label",)
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
BUILTIN_FIELDS = (("first_name", "First Name"), ("last_name", "Last Name"))
BUILTIN_KEYS = frozenset(key for key, _ in BUILTIN_FIELDS)
MAX_VALUE_LENGTH = {"text": 1000, "textarea": 10000}
# Built-in values live in the contacts table's own name columns, String(255).
MAX_BUILTIN_VALUE_LENGTH = 255


async def create_builtins(session: AsyncSession, *, account_id: int) -> None:
    """Give a new account its first_name and last_name fields."""
    repo = FieldRepository(session, account_id)
    for key, label in BUILTIN_FIELDS:
        repo.add(CustomField(account_id=account_id, key=key, label=label, type="text", default="", builtin=True))
    await session.flush()


async def list_page(session: AsyncSession, *, account_id: int, params: ListParams) -> Page[CustomField]:
    """A page of the account's fields, oldest first."""
    return await FieldRepository(session, account_id).page(params)


async def all_fields(session: AsyncSession, *, account_id: int) -> dict[str, CustomField]:
    """Every field of the account keyed by `key`."""
    return {field.key: field for field in await FieldRepository(session, account_id).all()}


async def get(session: AsyncSession, *, account_id: int, field_id: int) -> CustomField:
    """One field, or NotFound."""
    field = await FieldRepository(session, account_id).get(field_id)
    if field is None:
        raise NotFound()
    return field


def max_value_length(field: CustomField) -> int:
    """How many characters a contact's value of this field may hold."""
    if field.builtin:
        return MAX_BUILTIN_VALUE_LENGTH
    return MAX_VALUE_LENGTH.get(field.type, MAX_VALUE_LENGTH["text"])


def _check_key(key: str) -> None:
    if not KEY_PATTERN.fullmatch(key):
        raise Invalid.field("key", "The key must start with a lowercase letter and hold only a-z, 0-9 and _.")


async def create(
    session: AsyncSession, *, account_id: int, label: str, type: str, key: str, default: str = ""
) -> CustomField:
    """Define a field; keys are unique per account."""
    _check_key(key)
    repo = FieldRepository(session, account_id)
    if await repo.by_key(key) is not None:
        raise Invalid.field("key", "The key has already been taken.")
    field = repo.add(CustomField(account_id=account_id, label=label, type=type, key=key, default=default))
    await session.flush()
    return field


def _check_builtin_kept(field: CustomField, *, key: str | None, type: str | None) -> None:
    """first_name and last_name are contact columns: their key and type are fixed (labels may change)."""
    if key is not None and key != field.key:
        raise Invalid.field("key", "The key of a built-in field cannot be changed.")
    if type is not None and type != field.type:
        raise Invalid.field("type", "The type of a built-in field cannot be changed.")


async def update(
    session: AsyncSession,
    *,
    account_id: int,
    field_id: int,
    label: str | None = None,
    type: str | None = None,
    key: str | None = None,
    default: str | None = None,
) -> CustomField:
    """Change a field; renaming a key carries every contact's value along."""
    repo = FieldRepository(session, account_id)
    field = await get(session, account_id=account_id, field_id=field_id)
    if field.builtin:
        _check_builtin_kept(field, key=key, type=type)
    if key is not None and key != field.key:
        _check_key(key)
        if await repo.by_key(key) is not None:
            raise Invalid.field("key", "The key has already been taken.")
        await repo.move_contact_values(old=field.key, new=key)
        field.key = key
    if label is not None:
        field.label = label
    if type is not None:
        field.type = type
    if default is not None:
        field.default = default
    await session.flush()
    return field


async def delete(session: AsyncSession, *, account_id: int, field_id: int) -> None:
    """Delete a custom field and its values; built-in fields stay (422)."""
    field = await get(session, account_id=account_id, field_id=field_id)
    if field.builtin:
        raise Invalid.field("field_id", "Built-in fields cannot be deleted.")
    repo = FieldRepository(session, account_id)
    await repo.move_contact_values(old=field.key, new=None)
    await repo.delete(field)
