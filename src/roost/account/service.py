"""Accounts: the tenants (CONVENTIONS §2)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import available_timezones

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from roost.account.repository import AccountRepository
from roost.errors import Invalid, NotFound
from roost.field import service as field_service
from roost.kit.clock import utcnow_seconds
from roost.kit.secrets import hash_password
from roost.models import Account

# last_seen_at is kept to the minute: writing it on every request would turn reads into writes.
LAST_SEEN_GRANULARITY = timedelta(minutes=1)


def _check_timezone(name: str) -> None:
    if name not in available_timezones():
        raise Invalid.field("timezone", "The timezone must be a valid IANA zone.")


async def create(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    timezone: str = "UTC",
) -> Account:
    """Create an account with its built-in contact fields."""
    repo = AccountRepository(session)
    if await repo.by_email(email) is not None:
        raise Invalid.field("email", "The email has already been taken.")
    if len(password) < 8:
        raise Invalid.field("password", "The password must be at least 8 characters.")
    _check_timezone(timezone)
    account = repo.add(
        Account(
            email=email,
            password_hash=hash_password(password),
            first_name=first_name,
            last_name=last_name,
            timezone=timezone,
        )
    )
    await session.flush()
    await field_service.create_builtins(session, account_id=account.id)
    return account


async def get(session: AsyncSession, *, account_id: int) -> Account:
    """The account, or NotFound."""
    account = await AccountRepository(session).get(account_id)
    if account is None:
        raise NotFound()
    return account


async def get_by_workspace(session: AsyncSession, *, workspace_id: uuid.UUID) -> Account:
    """The account whose workspace UUID this is (CONVENTIONS §2), or NotFound."""
    account = await AccountRepository(session).by_workspace(workspace_id)
    if account is None:
        raise NotFound()
    return account


def display_name(account: Account) -> str:
    """How the account owner is named to people: first and last name, else the email address."""
    return f"{account.first_name} {account.last_name}".strip() or account.email


def last_seen_due(last_seen_at: datetime | None) -> bool:
    """Whether API use should be recorded again: at most once a minute, so most reads stay reads."""
    return last_seen_at is None or utcnow_seconds() - last_seen_at >= LAST_SEEN_GRANULARITY


async def touch_last_seen(session: AsyncSession, *, account_id: int) -> None:
    """Record API use now (CONVENTIONS §7: account); ask last_seen_due first."""
    await session.execute(update(Account).where(Account.id == account_id).values(last_seen_at=utcnow_seconds()))
