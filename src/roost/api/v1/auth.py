"""The /v1 caller: a Bearer token (CONVENTIONS §3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from roost.api.auth import authorize
from roost.api.deps import SessionDep, StateDep
from roost.auth.types import Principal


async def authenticate(request: Request, session: SessionDep, state: StateDep) -> Principal:
    return await authorize(request, session, state)


async def authenticate_without_session(request: Request, state: StateDep) -> Principal:
    """The caller of a route that opens its unit of work itself, after slow checks made outside it."""
    return await authorize(request, None, state)


PrincipalDep = Annotated[Principal, Depends(authenticate)]
CallerDep = Annotated[Principal, Depends(authenticate_without_session)]
