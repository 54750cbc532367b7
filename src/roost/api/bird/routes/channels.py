from __future__ import annotations

from roost.api.bird.auth import WorkspaceDep
from roost.api.bird.channel_schemas import ChannelIn, ChannelListOut, ChannelOut, ChannelPatch
from roost.api.bird.routing import BAD_BODY, ChannelId, bird_router
from roost.api.deps import SessionDep
from roost.channel import service as channel_service

router = bird_router("channels")


@router.get("/channels", response_model=ChannelListOut, summary="List the workspace's email channels")
async def list_channels(session: SessionDep, principal: WorkspaceDep) -> ChannelListOut:
    channels = await channel_service.list_all(session, account_id=principal.account_id)
    return ChannelListOut(results=[ChannelOut.of(channel) for channel in channels])


@router.post(
    "/channels", status_code=201, response_model=ChannelOut, responses=BAD_BODY, summary="Create an email channel"
)
async def create_channel(body: ChannelIn, session: SessionDep, principal: WorkspaceDep) -> ChannelOut:
    channel = await channel_service.create(
        session,
        account_id=principal.account_id,
        name=body.name,
        sender_email=body.sender.email,
        sender_name=body.sender.display_name,
        reply_to=body.reply_to,
    )
    return ChannelOut.of(channel)


@router.get("/channels/{channel_id}", response_model=ChannelOut, summary="Get an email channel")
async def get_channel(channel_id: ChannelId, session: SessionDep, principal: WorkspaceDep) -> ChannelOut:
    return ChannelOut.of(await channel_service.get(session, account_id=principal.account_id, channel_id=channel_id))


@router.patch(
    "/channels/{channel_id}",
    response_model=ChannelOut,
    responses=BAD_BODY,
    summary="Update an email channel (`status: inactive` stops it sending)",
)
async def update_channel(
    channel_id: ChannelId, body: ChannelPatch, session: SessionDep, principal: WorkspaceDep
) -> ChannelOut:
    channel = await channel_service.update(
        session, account_id=principal.account_id, channel_id=channel_id, changes=body.changes()
    )
    return ChannelOut.of(channel)
