from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response

from roost.api.deps import SessionDep
from roost.api.v1.auth import PrincipalDep
from roost.api.v1.lists import PageOut, envelope, list_params
from roost.api.v1.routing import BAD_BODY, NOT_FOUND, v1_router
from roost.api.v1.schemas import TagIn, TagOut, TagPatch
from roost.kit.ids import MAX_ID
from roost.kit.paging import ListParams
from roost.tag import service as tag_service

router = v1_router("tags")
TagId = Annotated[int, Path(ge=1, le=MAX_ID)]
TagList = Annotated[ListParams, Depends(list_params(tag_service.SEARCH_BY, tag_service.ORDER_BY))]


@router.get("/tags", response_model=PageOut[TagOut], summary="List tags")
async def list_tags(request: Request, session: SessionDep, principal: PrincipalDep, params: TagList) -> Any:
    page = await tag_service.list_page(session, account_id=principal.account_id, params=params)
    return envelope(request, page, TagOut.of)


@router.get("/tags/{tag_id}", response_model=TagOut, responses=NOT_FOUND, summary="Get a tag")
async def get_tag(tag_id: TagId, session: SessionDep, principal: PrincipalDep) -> TagOut:
    return TagOut.of(await tag_service.get(session, account_id=principal.account_id, tag_id=tag_id))


@router.post("/tags", status_code=201, response_model=TagOut, responses=BAD_BODY, summary="Create a tag")
async def create_tag(body: TagIn, session: SessionDep, principal: PrincipalDep) -> TagOut:
    return TagOut.of(await tag_service.create(session, account_id=principal.account_id, name=body.name))


@router.patch("/tags/{tag_id}", response_model=TagOut, responses={**NOT_FOUND, **BAD_BODY}, summary="Rename a tag")
async def update_tag(tag_id: TagId, body: TagPatch, session: SessionDep, principal: PrincipalDep) -> TagOut:
    tag = await tag_service.update(session, account_id=principal.account_id, tag_id=tag_id, name=body.name)
    return TagOut.of(tag)


@router.delete("/tags/{tag_id}", status_code=204, responses=NOT_FOUND, summary="Delete a tag")
async def delete_tag(tag_id: TagId, session: SessionDep, principal: PrincipalDep) -> Response:
    await tag_service.delete(session, account_id=principal.account_id, tag_id=tag_id)
    return Response(status_code=204)
