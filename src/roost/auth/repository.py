from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

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


_TOKENS = cast(Table, AccessToken.__table__)
_ACCOUNTS = cast(Table, Account.__table__)
# Built once, from the tables rather than the mapped classes: every API request runs it, building a
# statement costs more than running it, and a Core statement on the connection skips the ORM's
# result processing (a tenth of a contact read's CPU).
_PRESENTED = (
    select(
        _TOKENS.c.token_hash,
        _TOKENS.c.id,
        _TOKENS.c.account_id,
        _TOKENS.c.scopes,
        _TOKENS.c.revoked_at,
        _TOKENS.c.expires_at,
        _ACCOUNTS.c.workspace_id,
        _ACCOUNTS.c.last_seen_at,
    )
    .join(_ACCOUNTS, _ACCOUNTS.c.id == _TOKENS.c.account_id)
    .where(_TOKENS.c.token_hash.in_(bindparam("token_hashes", expanding=True)))
)


async def presented_tokens(connection: AsyncConnection, token_hashes: Collection[str]) -> dict[str, PresentedToken]:
    """The one unscoped query: resolving presented tokens to their accounts, by token hash."""
    rows = await connection.execute(_PRESENTED, {"token_hashes": sorted(set(token_hashes))})
    return {row[0]: PresentedToken(*row[1:]) for row in rows}
