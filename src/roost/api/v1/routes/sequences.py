from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response

from roost.api.deps import SessionDep
from roost.api.v1.auth import PrincipalDep
from roost.api.v1.lists import PageOut, envelope, list_params
from roost.api.v1.routing import BAD_BODY, NOT_FOUND, v1_router
from roost.api.v1.sequence_schemas import (
    SequenceEmailIn,
    SequenceEmailOut,
    SequenceEmailPatch,
    SequenceIn,
    SequenceOut,
    SequencePatch,
)
from roost.kit.ids import MAX_ID
from roost.kit.paging import ListParams
from roost.sequence import service as sequence_service

router = v1_router("sequences")
SequenceId = Annotated[int, Path(ge=1, le=MAX_ID)]
EmailId = Annotated[int, Path(ge=1, le=MAX_ID)]
SequenceList = Annotated[ListParams, Depends(list_params(sequence_service.SEARCH_BY, sequence_service.ORDER_BY))]
EmailList = Annotated[
    ListParams, Depends(list_params(sequence_service.EMAIL_SEARCH_BY, sequence_service.EMAIL_ORDER_BY))
]


@router.get("/sequences", response_model=PageOut[SequenceOut], summary="List sequences")
async def list_sequences(request: Request, session: SessionDep, principal: PrincipalDep, params: SequenceList) -> Any:
    page = await sequence_service.list_page(session, account_id=principal.account_id, params=params)
    return envelope(request, page, SequenceOut.of)


@router.get("/sequences/{sequence_id}", response_model=SequenceOut, responses=NOT_FOUND, summary="Get a sequence")
async def get_sequence(sequence_id: SequenceId, session: SessionDep, principal: PrincipalDep) -> SequenceOut:
    sequence = await sequence_service.get(session, account_id=principal.account_id, sequence_id=sequence_id)
    return SequenceOut.of(sequence)


@router.post(
    "/sequences",
    status_code=201,
    response_model=SequenceOut,
    responses=BAD_BODY,
    summary="Create a sequence (active unless `active` is false; the footer gets the unsubscribe link and "
    "postal address when it lacks them)",
)
async def create_sequence(body: SequenceIn, session: SessionDep, principal: PrincipalDep) -> SequenceOut:
    sequence = await sequence_service.create(session, account_id=principal.account_id, values=body.columns())
    return SequenceOut.of(sequence)


@router.patch(
    "/sequences/{sequence_id}",
    response_model=SequenceOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Update a sequence: only the given properties change",
)
async def update_sequence(
    sequence_id: SequenceId, body: SequencePatch, session: SessionDep, principal: PrincipalDep
) -> SequenceOut:
    sequence = await sequence_service.update(
        session, account_id=principal.account_id, sequence_id=sequence_id, changes=body.columns()
    )
    return SequenceOut.of(sequence)


@router.delete(
    "/sequences/{sequence_id}",
    status_code=204,
    responses=NOT_FOUND,
    summary="Delete a sequence with its emails; its members leave it",
)
async def delete_sequence(sequence_id: SequenceId, session: SessionDep, principal: PrincipalDep) -> Response:
    await sequence_service.delete(session, account_id=principal.account_id, sequence_id=sequence_id)
    return Response(status_code=204)


@router.get(
    "/sequences/{sequence_id}/emails",
    response_model=PageOut[SequenceEmailOut],
    responses=NOT_FOUND,
    summary="List a sequence's emails (by `order` unless order_by says otherwise)",
)
async def list_emails(
    request: Request, sequence_id: SequenceId, session: SessionDep, principal: PrincipalDep, params: EmailList
) -> Any:
    page = await sequence_service.list_emails(
        session, account_id=principal.account_id, sequence_id=sequence_id, params=params
    )
    return envelope(request, page, SequenceEmailOut.of)


@router.get(
    "/sequences/{sequence_id}/emails/{email_id}",
    response_model=SequenceEmailOut,
    responses=NOT_FOUND,
    summary="Get a sequence email",
)
async def get_email(
    sequence_id: SequenceId, email_id: EmailId, session: SessionDep, principal: PrincipalDep
) -> SequenceEmailOut:
    email = await sequence_service.get_email(
        session, account_id=principal.account_id, sequence_id=sequence_id, email_id=email_id
    )
    return SequenceEmailOut.of(email)


@router.post(
    "/sequences/{sequence_id}/emails",
    status_code=201,
    response_model=SequenceEmailOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Add an email as the sequence's last step",
)
async def create_email(
    sequence_id: SequenceId, body: SequenceEmailIn, session: SessionDep, principal: PrincipalDep
) -> SequenceEmailOut:
    email = await sequence_service.create_email(
        session, account_id=principal.account_id, sequence_id=sequence_id, values=body.columns()
    )
    return SequenceEmailOut.of(email)


@router.patch(
    "/sequences/{sequence_id}/emails/{email_id}",
    response_model=SequenceEmailOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Update a sequence email: only the given properties change; `order` moves it to that position",
)
async def update_email(
    sequence_id: SequenceId, email_id: EmailId, body: SequenceEmailPatch, session: SessionDep, principal: PrincipalDep
) -> SequenceEmailOut:
    email = await sequence_service.update_email(
        session,
        account_id=principal.account_id,
        sequence_id=sequence_id,
        email_id=email_id,
        changes=body.columns(),
        order=body.order,
    )
    return SequenceEmailOut.of(email)


@router.delete(
    "/sequences/{sequence_id}/emails/{email_id}",
    status_code=204,
    responses=NOT_FOUND,
    summary="Delete a sequence email; the later ones move up",
)
async def delete_email(
    sequence_id: SequenceId, email_id: EmailId, session: SessionDep, principal: PrincipalDep
) -> Response:
    await sequence_service.delete_email(
        session, account_id=principal.account_id, sequence_id=sequence_id, email_id=email_id
    )
    return Response(status_code=204)
