"""The /v1 caller: a Bearer token (CONVENTIONS §3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from roost.api.auth import authorize
from roost.api.deps import SessionDep, StateDep
from roost.auth.types import Principal


async def authenticate(request: Request, session: SessionDep, state: StateDep) -> Principal:
    return await authorize(request, session, state)


PrincipalDep = Annotated[Principal, Depends(authenticate)]
