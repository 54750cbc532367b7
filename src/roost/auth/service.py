"""Personal Access Tokens and authentication (CONVENTIONS §3)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from roost.account import service as account_service
from roost.auth.repository import PresentedToken, TokenRepository, presented_tokens
from roost.auth.types import SCOPES, Principal
from roost.errors import Invalid, NotFound
from roost.kit.clock import utcnow, utcnow_seconds
from roost.kit.secrets import hash_token, new_token
from roost.models import AccessToken


def parse_scopes(raw: str | list[str]) -> frozenset[str]:
    """Scopes from "read,write" or a list; unknown or empty sets are invalid."""
    items = raw.split(",") if isinstance(raw, str) else raw
    scopes = frozenset(item.strip() for item in items if item.strip())
    unknown = scopes - set(SCOPES)
    if not scopes or unknown:
        raise Invalid.field("scopes", f"The scopes must be a non-empty subset of {', '.join(SCOPES)}.")
    return scopes


async def create_token(
    session: AsyncSession, *, account_id: int, scopes: frozenset[str], name: str = ""
) -> tuple[AccessToken, str]:
    """Issue a PAT; the plain token is returned once and only its hash is stored."""
    await account_service.get(session, account_id=account_id)
    plain = new_token("roost_pat")
    token = TokenRepository(session, account_id).add(
        AccessToken(
            account_id=account_id,
            name=name,
            kind="pat",
            token_hash=hash_token(plain),
            scopes=",".join(sorted(scopes)),
        )
    )
    await session.flush()
    return token, plain


async def list_tokens(session: AsyncSession, *, account_id: int) -> list[AccessToken]:
    """Every token of the account, revoked ones included."""
    return await TokenRepository(session, account_id).all()


async def revoke_token(session: AsyncSession, *, account_id: int, token_id: int) -> AccessToken:
    """Revoke a token at once; later requests with it answer 401."""
    token = await TokenRepository(session, account_id).get(token_id)
    if token is None:
        raise NotFound()
    if token.revoked_at is None:
        token.revoked_at = utcnow_seconds()
    return token


async def principals(connection: AsyncConnection, tokens: Sequence[str]) -> list[Principal | None]:
    """The principal behind each presented token; None for a token that is unknown, revoked or expired."""
    hashes = [hash_token(token) for token in tokens]
    found = await presented_tokens(connection, hashes)
    now = utcnow()
    return [_principal(found.get(token_hash), now) for token_hash in hashes]


def _principal(found: PresentedToken | None, now: datetime) -> Principal | None:
    if found is None or found.revoked_at is not None:
        return None
    if found.expires_at is not None and found.expires_at <= now:
        return None
    return Principal(
        account_id=found.account_id,
        workspace_id=found.workspace_id,
        scopes=frozenset(found.scopes.split(",")),
        token_id=found.token_id,
        last_seen_at=found.last_seen_at,
    )
