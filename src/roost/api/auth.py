"""Tokens, scopes and the rate limit, for both API faces (CONVENTIONS §3, §4)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from roost.account import service as account_service
from roost.api.deps import READ_METHODS, StateDep, unit_of_work
from roost.api.errors import RateLimited
from roost.api.middleware import RATE_HEADERS_KEY
from roost.api.state import AppState
from roost.auth import service as auth_service
from roost.auth.types import Principal
from roost.db import is_reading
from roost.errors import Forbidden, NotFound, Unauthenticated
from roost.kit.batching import Batcher
from roost.kit.ids import parse_uuid

# The overlapping requests of a process are a few dozen at most; a batch is one indexed IN lookup.
TOKENS_PER_LOOKUP = 100


def bearer_token(request: Request, *, schemes: tuple[str, ...] = ("bearer",)) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip().strip('"')
    if scheme.lower() not in schemes or not token or len(token) > 512:
        raise Unauthenticated()
    return token


def token_lookups(read_engine: AsyncEngine) -> Batcher[str, Principal | None]:
    """Presented tokens resolved in batches: the requests that overlap share one query, on the
    engine of short reads (`roost.db.create_read_engine`).

    Nothing is cached, so a revoked token is refused by the next request that presents it.
    """

    async def look_up(tokens: list[str]) -> list[Principal | None]:
        async with read_engine.connect() as connection:
            return await auth_service.principals(connection, tokens)

    return Batcher(look_up, max_batch=TOKENS_PER_LOOKUP, name="token lookups")


async def authorize(
    request: Request,
    session: AsyncSession | None,
    state: StateDep,
    *,
    schemes: tuple[str, ...] = ("bearer",),
    workspace_id: str | None = None,
) -> Principal:
    """Resolve the token, count the request against the account's limit (both faces share it), check
    that the path's workspace, if any, is the token's (another one: 404, CONVENTIONS §2), and check
    the scope the method needs."""
    principal = await state.principals(bearer_token(request, schemes=schemes))
    if principal is None:
        raise Unauthenticated()
    needed = "read" if request.method in READ_METHODS else "write"
    if state.limiter is not None:
        decision = await state.limiter.hit(principal.account_id)
        request.scope.setdefault("state", {})[RATE_HEADERS_KEY] = decision.headers()
        if not decision.allowed:
            raise RateLimited(decision)
    if workspace_id is not None and parse_uuid(workspace_id) != principal.workspace_id:
        raise NotFound()
    if needed not in principal.scopes:
        raise Forbidden()
    if account_service.last_seen_due(principal.last_seen_at):
        await _record_api_use(session, state, principal.account_id)
    return principal


async def _record_api_use(session: AsyncSession | None, state: AppState, account_id: int) -> None:
    """Touch last_seen_at in a writing session: the request's, if it has one.

    A read session must not write: its writes are not committed, and on SQLite they would skip the
    write gate and hold the database's write lock until the read ends. So without a writing session
    this records in a short session of its own that passes the gate; a writing session already
    holds the gate (taking it again would wait on itself).
    """
    if session is not None and not is_reading(session):
        await account_service.touch_last_seen(session, account_id=account_id)
        return
    async with unit_of_work(state, reading=False) as writer:
        await account_service.touch_last_seen(writer, account_id=account_id)
