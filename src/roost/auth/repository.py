from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.db.repository import ScopedRepository
from roost.models import AccessToken, Account


class TokenRepository(ScopedRepository[AccessToken]):
    model = AccessToken

    async def all(self) -> list[AccessToken]:
        return list((await self.session.scalars(self.scoped().order_by(AccessToken.id))).all())


class PresentedToken(NamedTuple):
    """What a request needs of a presented token and its account."""

    token_id: int
    account_id: int
    scopes: str
    revoked_at: datetime | None
    expires_at: datetime | None
    workspace_id: uuid.UUID
    last_seen_at: datetime | None


# Built once: every API request runs it, and building a statement costs more than running it.
_PRESENTED = (
    select(
        AccessToken.id,
        AccessToken.account_id,
        AccessToken.scopes,
        AccessToken.revoked_at,
        AccessToken.expires_at,
        Account.workspace_id,
        Account.last_seen_at,
    )
    .join(Account, Account.id == AccessToken.account_id)
    .where(AccessToken.token_hash == bindparam("token_hash"))
)


async def presented_token(session: AsyncSession, token_hash: str) -> PresentedToken | None:
    """The one unscoped query: resolving a presented token to its account.

    Columns, not entities: last_seen_at may be written in a session of its own, and an Account left
    in this session's identity map could go on showing the old value.
    """
    row = (await session.execute(_PRESENTED, {"token_hash": token_hash})).first()
    return None if row is None else PresentedToken(*row)
