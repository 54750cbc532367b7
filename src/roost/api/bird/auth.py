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


async def workspace_sender(request: Request, workspace_id: WorkspaceId, state: StateDep) -> Principal:
    """The caller of a route that writes through the channel intake rather than a session of its own.

    Such a request holds no session while it waits for its batch: neither a pooled connection nor,
    on SQLite, the write gate that the batch needs.
    """
    return await authorize(request, None, state, schemes=("accesskey", "bearer"), workspace_id=workspace_id)


WorkspaceDep = Annotated[Principal, Depends(workspace_principal)]
SenderDep = Annotated[Principal, Depends(workspace_sender)]
