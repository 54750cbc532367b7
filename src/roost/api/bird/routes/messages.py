from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Header, Path, Query, Response

from roost.api.bird.auth import SenderDep, WorkspaceDep
from roost.api.bird.message_schemas import (
    InteractionListOut,
    InteractionOut,
    MessageIn,
    MessageListOut,
    MessageOut,
)
from roost.api.bird.routing import BAD_BODY, ChannelId, bird_router
from roost.api.bird.wire import BirdTimeIn
from roost.api.deps import SessionDep, StateDep
from roost.channel import messages as channel_messages
from roost.channel.types import MessageFilter, Submission
from roost.errors import Invalid
from roost.kit.ids import parse_uuid
from roost.models.channel import CHANNEL_MESSAGE_STATUSES

router = bird_router("messages")
MessageId = Annotated[str, Path(max_length=64, description="The message's UUID.")]
Many = Annotated[list[str] | None, Query(max_length=100)]


@router.post(
    "/channels/{channel_id}/messages",
    status_code=202,
    response_model=MessageOut,
    responses={**BAD_BODY, 409: {"description": "The Idempotency-Key was used for a different request."}},
    summary="Send a message",
    description=(
        "Accepts an email for sending through an active channel: a body (text, or html with an optional "
        "text fallback) or a template, to receivers by address or contact id (to, cc or bcc). Answers 202 "
        "with the message, status `accepted` (or `scheduled`). With an `Idempotency-Key` header, a retry "
        "answers the first request's message (with `Idempotent-Replayed: true`) and sends nothing more."
    ),
)
async def send_message(
    channel_id: ChannelId,
    body: MessageIn,
    principal: SenderDep,
    state: StateDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> MessageOut:
    accepted = await state.intake(
        Submission(principal.account_id, channel_id, body.to_new(keyed=idempotency_key is not None), idempotency_key)
    )
    if accepted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return MessageOut.of(accepted.message, _uuid(channel_id))


@router.get(
    "/channels/{channel_id}/messages",
    response_model=MessageListOut,
    summary="List a channel's messages",
    description=(
        "Newest first (`reverse=true`: oldest first). `nextPageToken` is present when more follow; pass it "
        "as `pageToken` for the next page: pages stay consistent while messages are being sent. List filters "
        "(`id`, `from`, `to`, `tag`, `status`) take several values, repeated or comma-separated. "
        "`emailSubject` matches subjects containing every word given."
    ),
)
async def list_messages(
    channel_id: ChannelId,
    session: SessionDep,
    principal: WorkspaceDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    page_token: Annotated[str | None, Query(alias="pageToken", max_length=8000)] = None,
    reverse: bool = False,
    direction: Annotated[str | None, Query(pattern="^(incoming|outgoing)$")] = None,
    id: Many = None,
    start_at: Annotated[BirdTimeIn | None, Query(alias="startAt")] = None,
    end_at: Annotated[BirdTimeIn | None, Query(alias="endAt")] = None,
    from_: Annotated[list[str] | None, Query(alias="from", max_length=100)] = None,
    to: Many = None,
    tag: Many = None,
    status: Many = None,
    email_subject: Annotated[str | None, Query(alias="emailSubject", max_length=998)] = None,
) -> MessageListOut:
    statuses = _split(status)
    if unknown := [s for s in statuses if s not in CHANNEL_MESSAGE_STATUSES]:
        raise Invalid.field("status", f"Unknown status {unknown[0]!r}: one of {', '.join(CHANNEL_MESSAGE_STATUSES)}.")
    ids = _split(id)
    if any(parse_uuid(value) is None for value in ids):
        raise Invalid.field("id", "Each id must be a message UUID.")
    page = await channel_messages.list_page(
        session,
        account_id=principal.account_id,
        channel_id=channel_id,
        filters=MessageFilter(
            ids=ids,
            start_at=start_at,
            end_at=end_at,
            senders=_split(from_),
            receivers=_split(to),
            tags=_split(tag),
            statuses=statuses,
            subject=email_subject,
            incoming=direction == "incoming",
        ),
        limit=limit,
        page_token=page_token,
        reverse=reverse,
    )
    channel_uuid = _uuid(channel_id)
    return MessageListOut(
        results=[MessageOut.of(message, channel_uuid) for message in page.messages],
        next_page_token=page.next_page_token,
    )


@router.get("/channels/{channel_id}/messages/{message_id}", response_model=MessageOut, summary="Get a message")
async def get_message(
    channel_id: ChannelId, message_id: MessageId, session: SessionDep, principal: WorkspaceDep
) -> MessageOut:
    message = await channel_messages.get(
        session, account_id=principal.account_id, channel_id=channel_id, message_id=message_id
    )
    return MessageOut.of(message, _uuid(channel_id))


@router.get(
    "/channels/{channel_id}/messages/{message_id}/interactions",
    response_model=InteractionListOut,
    summary="List a message's interactions",
    description="What its receivers did: `opened`, `clicked` (with the link), `unsubscribed`, `bounced`, `complained`.",
)
async def list_interactions(
    channel_id: ChannelId, message_id: MessageId, session: SessionDep, principal: WorkspaceDep
) -> InteractionListOut:
    message, interactions = await channel_messages.interactions(
        session, account_id=principal.account_id, channel_id=channel_id, message_id=message_id
    )
    channel_uuid = _uuid(channel_id)
    return InteractionListOut(results=[InteractionOut.of(item, message, channel_uuid) for item in interactions])


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def _uuid(channel_id: str) -> uuid.UUID:
    parsed = parse_uuid(channel_id)
    assert parsed is not None  # the service found the channel by it
    return parsed
