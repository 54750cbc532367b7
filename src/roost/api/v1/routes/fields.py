from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response

from roost.api.deps import SessionDep
from roost.api.v1.auth import PrincipalDep
from roost.api.v1.lists import PageOut, envelope, list_params
from roost.api.v1.routing import BAD_BODY, NOT_FOUND, v1_router
from roost.api.v1.schemas import FieldIn, FieldOut, FieldPatch
from roost.field import service as field_service
from roost.kit.ids import MAX_ID
from roost.kit.paging import ListParams

router = v1_router("fields")
FieldId = Annotated[int, Path(ge=1, le=MAX_ID)]
FieldList = Annotated[ListParams, Depends(list_params(field_service.SEARCH_BY, field_service.ORDER_BY))]


@router.get("/fields", response_model=PageOut[FieldOut], summary="List custom fields (oldest first)")
async def list_fields(request: Request, session: SessionDep, principal: PrincipalDep, params: FieldList) -> Any:
    page = await field_service.list_page(session, account_id=principal.account_id, params=params)
    return envelope(request, page, FieldOut.of)


@router.get("/fields/{field_id}", response_model=FieldOut, responses=NOT_FOUND, summary="Get a custom field")
async def get_field(field_id: FieldId, session: SessionDep, principal: PrincipalDep) -> FieldOut:
    return FieldOut.of(await field_service.get(session, account_id=principal.account_id, field_id=field_id))


@router.post("/fields", status_code=201, response_model=FieldOut, responses=BAD_BODY, summary="Create a custom field")
async def create_field(body: FieldIn, session: SessionDep, principal: PrincipalDep) -> FieldOut:
    field = await field_service.create(
        session,
        account_id=principal.account_id,
        label=body.label,
        type=body.type,
        key=body.key,
        default=body.default,
    )
    return FieldOut.of(field)


@router.patch(
    "/fields/{field_id}",
    response_model=FieldOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Update a custom field (renaming the key carries contacts' values along)",
)
async def update_field(field_id: FieldId, body: FieldPatch, session: SessionDep, principal: PrincipalDep) -> FieldOut:
    field = await field_service.update(
        session,
        account_id=principal.account_id,
        field_id=field_id,
        label=body.label,
        type=body.type,
        key=body.key,
        default=body.default,
    )
    return FieldOut.of(field)


@router.delete(
    "/fields/{field_id}",
    status_code=204,
    responses=NOT_FOUND,
    summary="Delete a custom field and its values (built-in fields answer 422)",
)
async def delete_field(field_id: FieldId, session: SessionDep, principal: PrincipalDep) -> Response:
    await field_service.delete(session, account_id=principal.account_id, field_id=field_id)
    return Response(status_code=204)
