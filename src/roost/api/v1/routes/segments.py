from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response

from roost.api.deps import SessionDep
from roost.api.v1.audience_schemas import CountOut, SegmentIn, SegmentOut, SegmentPatch
from roost.api.v1.auth import PrincipalDep
from roost.api.v1.lists import PageOut, envelope, list_params
from roost.api.v1.routing import BAD_BODY, NOT_FOUND, v1_router
from roost.audience import service as audience_service
from roost.kit.ids import MAX_ID
from roost.kit.paging import ListParams

router = v1_router("segments")
SegmentId = Annotated[int, Path(ge=1, le=MAX_ID)]
SegmentList = Annotated[ListParams, Depends(list_params(audience_service.SEARCH_BY, audience_service.ORDER_BY))]


@router.get("/segments", response_model=PageOut[SegmentOut], summary="List segments (ext)")
async def list_segments(request: Request, session: SessionDep, principal: PrincipalDep, params: SegmentList) -> Any:
    page = await audience_service.list_page(session, account_id=principal.account_id, params=params)
    return envelope(request, page, SegmentOut.of)


@router.get("/segments/{segment_id}", response_model=SegmentOut, responses=NOT_FOUND, summary="Get a segment (ext)")
async def get_segment(segment_id: SegmentId, session: SessionDep, principal: PrincipalDep) -> SegmentOut:
    return SegmentOut.of(await audience_service.get(session, account_id=principal.account_id, segment_id=segment_id))


@router.post(
    "/segments",
    status_code=201,
    response_model=SegmentOut,
    responses=BAD_BODY,
    summary="Create a segment (ext): every referenced tag, sequence and field must exist",
)
async def create_segment(body: SegmentIn, session: SessionDep, principal: PrincipalDep) -> SegmentOut:
    segment = await audience_service.create(
        session, account_id=principal.account_id, name=body.name, match=body.match, conditions=body.conditions
    )
    return SegmentOut.of(segment)


@router.patch(
    "/segments/{segment_id}",
    response_model=SegmentOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Update a segment (ext): only what is given changes; conditions are replaced as a whole",
)
async def update_segment(
    segment_id: SegmentId, body: SegmentPatch, session: SessionDep, principal: PrincipalDep
) -> SegmentOut:
    segment = await audience_service.update(
        session,
        account_id=principal.account_id,
        segment_id=segment_id,
        name=body.name,
        match=body.match,
        conditions=body.conditions,
    )
    return SegmentOut.of(segment)


@router.delete(
    "/segments/{segment_id}",
    status_code=204,
    responses=NOT_FOUND,
    summary="Delete a segment (ext); 422 naming the broadcasts not sent yet whose recipients use it",
)
async def delete_segment(segment_id: SegmentId, session: SessionDep, principal: PrincipalDep) -> Response:
    await audience_service.delete(session, account_id=principal.account_id, segment_id=segment_id)
    return Response(status_code=204)


@router.get(
    "/segments/{segment_id}/count",
    response_model=CountOut,
    responses=NOT_FOUND,
    summary="Count the contacts matching a segment now, whatever their status (ext)",
)
async def count_segment(segment_id: SegmentId, session: SessionDep, principal: PrincipalDep) -> CountOut:
    return CountOut(count=await audience_service.count(session, account_id=principal.account_id, segment_id=segment_id))
