from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.models import Account


class AccountRepository:
    """Accounts are the tenants themselves, so this one is not account-scoped."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, account_id: int) -> Account | None:
        return await self.session.get(Account, account_id)

    async def by_email(self, email: str) -> Account | None:
        account: Account | None = await self.session.scalar(
            select(Account).where(func.lower(Account.email) == email.lower())
        )
        return account

    async def by_workspace(self, workspace_id: uuid.UUID) -> Account | None:
        account: Account | None = await self.session.scalar(select(Account).where(Account.workspace_id == workspace_id))
        return account

    def add(self, account: Account) -> Account:
        self.session.add(account)
        return account
