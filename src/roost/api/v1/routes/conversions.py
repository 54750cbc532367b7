from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response

from roost.api.deps import SessionDep
from roost.api.v1.auth import PrincipalDep
from roost.api.v1.conversion_schemas import ConversionIn, ConversionOut, ConversionPatch
from roost.api.v1.lists import PageOut, envelope, list_params
from roost.api.v1.routing import BAD_BODY, NOT_FOUND, v1_router
from roost.conversion import service as conversion_service
from roost.kit.ids import MAX_ID
from roost.kit.paging import ListParams

router = v1_router("conversions")
ConversionId = Annotated[int, Path(ge=1, le=MAX_ID)]
ConversionList = Annotated[ListParams, Depends(list_params(conversion_service.SEARCH_BY, conversion_service.ORDER_BY))]


@router.get("/conversions", response_model=PageOut[ConversionOut], summary="List conversions")
async def list_conversions(
    request: Request, session: SessionDep, principal: PrincipalDep, params: ConversionList
) -> Any:
    page = await conversion_service.list_page(session, account_id=principal.account_id, params=params)
    return envelope(request, page, ConversionOut.of)


@router.get(
    "/conversions/{conversion_id}", response_model=ConversionOut, responses=NOT_FOUND, summary="Get a conversion"
)
async def get_conversion(conversion_id: ConversionId, session: SessionDep, principal: PrincipalDep) -> ConversionOut:
    conversion = await conversion_service.get(session, account_id=principal.account_id, conversion_id=conversion_id)
    return ConversionOut.of(conversion)


@router.post(
    "/conversions",
    status_code=201,
    response_model=ConversionOut,
    responses=BAD_BODY,
    summary="Record a conversion",
    description=(
        "Name the contact by exactly one of `contact_id` or `email` (a contact of this account). "
        "`value` (default 0) is a number kept to the cent, `currency` an ISO 4217 code (default USD), "
        "`source` free text. The conversion is attributed to the last email (broadcast or sequence email) "
        'the contact clicked within 7 days before it, `attribution` `{"type", "id"}`, or `{}`; its '
        "value then counts in that email's `altv`/`ltv`. Records the `conversion.created` event."
    ),
)
async def create_conversion(body: ConversionIn, session: SessionDep, principal: PrincipalDep) -> ConversionOut:
    conversion = await conversion_service.create(
        session,
        account_id=principal.account_id,
        contact_id=body.contact_id,
        email=body.email,
        value=body.value,
        currency=body.currency,
        source=body.source,
    )
    return ConversionOut.of(conversion)


@router.patch(
    "/conversions/{conversion_id}",
    response_model=ConversionOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Update a conversion: only the given properties change",
    description="The contact and the attribution stay; a new value moves the attributed email's `altv`/`ltv` "
    "with it. Records `conversion.updated` when something changed.",
)
async def update_conversion(
    conversion_id: ConversionId, body: ConversionPatch, session: SessionDep, principal: PrincipalDep
) -> ConversionOut:
    conversion = await conversion_service.update(
        session,
        account_id=principal.account_id,
        conversion_id=conversion_id,
        value=body.value,
        currency=body.currency,
        source=body.source,
    )
    return ConversionOut.of(conversion)


@router.delete(
    "/conversions/{conversion_id}",
    status_code=204,
    responses=NOT_FOUND,
    summary="Delete a conversion",
    description="Its value leaves the attributed email's `altv`/`ltv`. Records `conversion.deleted`.",
)
async def delete_conversion(conversion_id: ConversionId, session: SessionDep, principal: PrincipalDep) -> Response:
    await conversion_service.delete(session, account_id=principal.account_id, conversion_id=conversion_id)
    return Response(status_code=204)
