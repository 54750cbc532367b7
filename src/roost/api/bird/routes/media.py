"""Presigned media uploads (seed 004 "Uploading media", CONVENTIONS §10)."""

from __future__ import annotations

from roost.api.bird.auth import WorkspaceDep
from roost.api.bird.media_schemas import PresignIn, PresignOut
from roost.api.bird.routing import BAD_BODY, ChannelId, bird_router
from roost.api.deps import SessionDep, StateDep
from roost.media import service as media_service

router = bird_router("media")

UPLOAD_HOWTO = (
    " POST `uploadFormData`'s fields, then the file as a field named `file`, as multipart/form-data to"
    " `uploadUrl` (no Authorization header), before the link expires; the answer is 204. The file may be"
    " as large as the server's media limit and is served at `mediaUrl` with the content type given here."
    " A content type the server does not allow is a 422 at `contentType`."
)


@router.post(
    "/channel-media/presigned-upload",
    response_model=PresignOut,
    responses=BAD_BODY,
    summary="Create a presigned media upload",
    description="For any channel of the workspace." + UPLOAD_HOWTO,
)
async def presign_media(body: PresignIn, session: SessionDep, state: StateDep, principal: WorkspaceDep) -> PresignOut:
    upload = await media_service.presign(
        session, config=state.media, account_id=principal.account_id, content_type=body.content_type
    )
    return PresignOut.of(upload)


@router.post(
    "/channels/{channel_id}/presigned-upload",
    response_model=PresignOut,
    responses=BAD_BODY,
    summary="Create a presigned media upload for a channel",
    description="For the channel named in the path (404 when the workspace has no such channel)." + UPLOAD_HOWTO,
)
async def presign_channel_media(
    channel_id: ChannelId, body: PresignIn, session: SessionDep, state: StateDep, principal: WorkspaceDep
) -> PresignOut:
    upload = await media_service.presign(
        session,
        config=state.media,
        account_id=principal.account_id,
        content_type=body.content_type,
        channel_id=channel_id,
    )
    return PresignOut.of(upload)
