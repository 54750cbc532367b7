from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.db.repository import ScopedRepository
from roost.models import AccessToken, Account


class TokenRepository(ScopedRepository[AccessToken]):
    model = AccessToken

    async def all(self) -> list[AccessToken]:
        return list((await self.session.scalars(self.scoped().order_by(AccessToken.id))).all())


class TokenAccount(NamedTuple):
    """What a request needs of the token's account."""

    workspace_id: uuid.UUID
    last_seen_at: datetime | None


async def token_with_account(session: AsyncSession, token_hash: str) -> tuple[AccessToken, TokenAccount] | None:
    """The one unscoped query: resolving a presented token to its account.

    The account comes back as columns, not as an entity: last_seen_at may be written in a session of
    its own, and an Account left in this session's identity map could go on showing the old value.
    """
    row = (
        await session.execute(
            select(AccessToken, Account.workspace_id, Account.last_seen_at)
            .join(Account, Account.id == AccessToken.account_id)
            .where(AccessToken.token_hash == token_hash)
        )
    ).first()
    return None if row is None else (row[0], TokenAccount(row[1], row[2]))
