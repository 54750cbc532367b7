"""The Bird face's caller: `AccessKey <token>` or `Bearer <token>`, in its own workspace (CONVENTIONS §3, §10)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from roost.api.auth import authorize
from roost.api.deps import SessionDep, StateDep
from roost.auth.types import Principal

# Any text: a malformed workspace id answers 404 like another workspace's, after the token is checked.
WorkspaceId = Annotated[str, Path(max_length=64, description="The workspace's UUID (the account's `workspace_id`).")]


async def workspace_principal(
    request: Request, workspace_id: WorkspaceId, session: SessionDep, state: StateDep
) -> Principal:
    return await authorize(request, session, state, schemes=("accesskey", "bearer"), workspace_id=workspace_id)


WorkspaceDep = Annotated[Principal, Depends(workspace_principal)]
