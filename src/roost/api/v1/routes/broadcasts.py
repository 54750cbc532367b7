from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response

from roost.api.deps import SessionDep
from roost.api.v1.audience_schemas import CountOut
from roost.api.v1.auth import PrincipalDep
from roost.api.v1.broadcast_schemas import BroadcastIn, BroadcastOut, BroadcastPatch, TestSendIn, TestSendOut
from roost.api.v1.lists import PageOut, envelope, list_params
from roost.api.v1.routing import BAD_BODY, NOT_FOUND, v1_router
from roost.broadcast import service as broadcast_service
from roost.delivery import service as delivery_service
from roost.kit.ids import MAX_ID
from roost.kit.paging import ListParams

router = v1_router("broadcasts")
BroadcastId = Annotated[int, Path(ge=1, le=MAX_ID)]
BroadcastList = Annotated[ListParams, Depends(list_params(broadcast_service.SEARCH_BY, broadcast_service.ORDER_BY))]


@router.get("/broadcasts", response_model=PageOut[BroadcastOut], summary="List broadcasts")
async def list_broadcasts(request: Request, session: SessionDep, principal: PrincipalDep, params: BroadcastList) -> Any:
    page = await broadcast_service.list_page(session, account_id=principal.account_id, params=params)
    return envelope(request, page, BroadcastOut.of)


@router.get("/broadcasts/{broadcast_id}", response_model=BroadcastOut, responses=NOT_FOUND, summary="Get a broadcast")
async def get_broadcast(broadcast_id: BroadcastId, session: SessionDep, principal: PrincipalDep) -> BroadcastOut:
    broadcast = await broadcast_service.get(session, account_id=principal.account_id, broadcast_id=broadcast_id)
    return BroadcastOut.of(broadcast)


@router.post(
    "/broadcasts",
    status_code=201,
    response_model=BroadcastOut,
    responses=BAD_BODY,
    summary="Create a broadcast: scheduled when `immediate` or given a schedule, a draft otherwise",
)
async def create_broadcast(body: BroadcastIn, session: SessionDep, principal: PrincipalDep) -> BroadcastOut:
    broadcast = await broadcast_service.create(
        session,
        account_id=principal.account_id,
        content=body.content(),
        recipients=body.recipients or [],
        immediate=body.immediate,
        schedule=body.schedule_change(),
    )
    return BroadcastOut.of(broadcast)


@router.patch(
    "/broadcasts/{broadcast_id}",
    response_model=BroadcastOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Update a broadcast: only what is given changes; 422 once it is sending or sent",
)
async def update_broadcast(
    broadcast_id: BroadcastId, body: BroadcastPatch, session: SessionDep, principal: PrincipalDep
) -> BroadcastOut:
    broadcast = await broadcast_service.update(
        session,
        account_id=principal.account_id,
        broadcast_id=broadcast_id,
        content=body.content(),
        recipients=body.recipients,
        immediate=body.immediate,
        schedule=body.schedule_change(),
    )
    return BroadcastOut.of(broadcast)


@router.delete(
    "/broadcasts/{broadcast_id}",
    status_code=204,
    responses=NOT_FOUND,
    summary="Delete a broadcast, whatever its status (a sending one stops)",
)
async def delete_broadcast(broadcast_id: BroadcastId, session: SessionDep, principal: PrincipalDep) -> Response:
    await broadcast_service.delete(session, account_id=principal.account_id, broadcast_id=broadcast_id)
    return Response(status_code=204)


@router.post(
    "/broadcasts/{broadcast_id}/cancel",
    response_model=BroadcastOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Cancel a scheduled broadcast (ext); 422 in any other status",
)
async def cancel_broadcast(broadcast_id: BroadcastId, session: SessionDep, principal: PrincipalDep) -> BroadcastOut:
    broadcast = await broadcast_service.cancel(session, account_id=principal.account_id, broadcast_id=broadcast_id)
    return BroadcastOut.of(broadcast)


@router.post(
    "/broadcasts/{broadcast_id}/test",
    status_code=202,
    response_model=TestSendOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Send the broadcast as it stands to up to 10 addresses (ext); not counted in its stats",
)
async def test_broadcast(
    broadcast_id: BroadcastId, body: TestSendIn, session: SessionDep, principal: PrincipalDep
) -> TestSendOut:
    queued = await delivery_service.queue_test(
        session, account_id=principal.account_id, broadcast_id=broadcast_id, emails=body.emails
    )
    return TestSendOut(queued=queued)


@router.get(
    "/broadcasts/{broadcast_id}/recipients/count",
    response_model=CountOut,
    responses=NOT_FOUND,
    summary="Count the contacts that would receive the broadcast if it were sent now (ext)",
)
async def count_recipients(broadcast_id: BroadcastId, session: SessionDep, principal: PrincipalDep) -> CountOut:
    total = await broadcast_service.count_recipients(
        session, account_id=principal.account_id, broadcast_id=broadcast_id
    )
    return CountOut(count=total)
