from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.db.repository import ScopedRepository
from roost.models import AccessToken, Account


class TokenRepository(ScopedRepository[AccessToken]):
    model = AccessToken

    async def all(self) -> list[AccessToken]:
        return list((await self.session.scalars(self.scoped().order_by(AccessToken.id))).all())


async def token_with_account(session: AsyncSession, token_hash: str) -> tuple[AccessToken, Account] | None:
    """The one unscoped query: resolving a presented token to its account."""
    row = (
        await session.execute(
            select(AccessToken, Account)
            .join(Account, Account.id == AccessToken.account_id)
            .where(AccessToken.token_hash == token_hash)
        )
    ).first()
    return None if row is None else (row[0], row[1])
