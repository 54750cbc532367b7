from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response

from roost.api.deps import SessionDep
from roost.api.v1.auth import PrincipalDep
from roost.api.v1.form_schemas import FormIn, FormOut, FormPatch
from roost.api.v1.lists import PageOut, envelope, list_params
from roost.api.v1.routing import BAD_BODY, NOT_FOUND, v1_router
from roost.form import service as form_service
from roost.kit.ids import MAX_ID
from roost.kit.paging import ListParams

router = v1_router("forms")
FormId = Annotated[int, Path(ge=1, le=MAX_ID)]
FormList = Annotated[
    ListParams,
    Depends(list_params(form_service.SEARCH_BY, form_service.ORDER_BY, order_aliases=form_service.ORDER_ALIASES)),
]


@router.get("/forms", response_model=PageOut[FormOut], summary="List forms (order_by created_by means created_at)")
async def list_forms(request: Request, session: SessionDep, principal: PrincipalDep, params: FormList) -> Any:
    page = await form_service.list_page(session, account_id=principal.account_id, params=params)
    return envelope(request, page, FormOut.of)


@router.get("/forms/{form_id}", response_model=FormOut, responses=NOT_FOUND, summary="Get a form")
async def get_form(form_id: FormId, session: SessionDep, principal: PrincipalDep) -> FormOut:
    return FormOut.of(await form_service.get(session, account_id=principal.account_id, form_id=form_id))


@router.post(
    "/forms",
    status_code=201,
    response_model=FormOut,
    responses=BAD_BODY,
    summary="Create a form (double opt-in unless `double_optin` is false; `tags` and `sequence_id` apply on "
    "confirmation)",
)
async def create_form(body: FormIn, session: SessionDep, principal: PrincipalDep) -> FormOut:
    return FormOut.of(await form_service.create(session, account_id=principal.account_id, values=body.columns()))


@router.patch(
    "/forms/{form_id}",
    response_model=FormOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Update a form: only the given properties change",
)
async def update_form(form_id: FormId, body: FormPatch, session: SessionDep, principal: PrincipalDep) -> FormOut:
    form = await form_service.update(session, account_id=principal.account_id, form_id=form_id, changes=body.columns())
    return FormOut.of(form)


@router.delete("/forms/{form_id}", status_code=204, responses=NOT_FOUND, summary="Delete a form")
async def delete_form(form_id: FormId, session: SessionDep, principal: PrincipalDep) -> Response:
    await form_service.delete(session, account_id=principal.account_id, form_id=form_id)
    return Response(status_code=204)
