from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import Depends, Path, Request, Response

from roost.api.deps import SessionDep, StateDep, read_connection, unit_of_work
from roost.api.v1.auth import CallerDep, PrincipalDep
from roost.api.v1.lists import PageOut, envelope, list_params
from roost.api.v1.routing import BAD_BODY, NOT_FOUND, v1_router
from roost.api.v1.schemas import (
    ContactIn,
    ContactOut,
    ContactPatch,
    ContactReplace,
    ContactSequenceIn,
    ContactSubscribeIn,
    ContactTagsIn,
)
from roost.contact import service as contact_service
from roost.contact.types import NewContact
from roost.kit.ids import MAX_ID
from roost.kit.paging import ListParams

router = v1_router("contacts")
ContactId = Annotated[int, Path(ge=1, le=MAX_ID)]
TagId = Annotated[int, Path(ge=1, le=MAX_ID)]
SequenceId = Annotated[int, Path(ge=1, le=MAX_ID)]
ContactList = Annotated[ListParams, Depends(list_params(contact_service.SEARCH_BY, contact_service.ORDER_BY))]


@router.get("/contacts", response_model=PageOut[ContactOut], summary="List contacts")
async def list_contacts(request: Request, state: StateDep, principal: CallerDep, params: ContactList) -> Response:
    # The two most called reads open their session or connection here rather than through
    # SessionDep: FastAPI's machinery for a dependency that yields cost a tenth of a contact read's CPU.
    if contact_service.searches_links(params):
        async with read_connection(state) as connection:
            page = await contact_service.linked_page(connection, account_id=principal.account_id, params=params)
    else:
        async with unit_of_work(state, reading=True) as session:
            page = await contact_service.list_page(session, account_id=principal.account_id, params=params)
    # The contacts come as the JSON text the database wrote (roost.contact.repository), sent as it is.
    return Response(orjson.dumps(envelope(request, page, orjson.Fragment)), media_type="application/json")


@router.get("/contacts/{contact_id}", response_model=ContactOut, responses=NOT_FOUND, summary="Get a contact")
async def get_contact(contact_id: ContactId, state: StateDep, principal: CallerDep) -> Response:
    async with read_connection(state) as connection:
        wire = await contact_service.wire(connection, account_id=principal.account_id, contact_id=contact_id)
    return Response(wire, media_type="application/json")


@router.post(
    "/contacts",
    status_code=201,
    response_model=ContactOut,
    responses=BAD_BODY,
    summary="Create a contact: through the form when `form_id` is given, else active and confirmed at once",
)
async def create_contact(body: ContactIn, state: StateDep, principal: CallerDep) -> ContactOut:
    new = NewContact(principal.account_id, body.email, body.fields, body.ipaddress)
    if body.form_id is None:
        # The most frequent write of the API: batched with the creates that overlap it (group commit).
        return ContactOut.of(await state.contact_creates(new))
    async with unit_of_work(state, reading=False) as session:
        view = await contact_service.create_through_form(session, new=new, form_id=body.form_id)
    return ContactOut.of(view)


@router.patch(
    "/contacts/{contact_id}",
    response_model=ContactOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Update a contact: only the given properties change, a null field value clears it",
)
async def update_contact(
    contact_id: ContactId, body: ContactPatch, session: SessionDep, principal: PrincipalDep
) -> ContactOut:
    view = await contact_service.update(
        session,
        account_id=principal.account_id,
        contact_id=contact_id,
        email=body.email,
        fields=body.fields,
        ipaddress=body.ipaddress,
        clear_ipaddress="ipaddress" in body.model_fields_set and body.ipaddress is None,
    )
    return ContactOut.of(view)


@router.put(
    "/contacts/{contact_id}",
    response_model=ContactOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Replace a contact: email and all fields; with `tags` (names), the tag set",
)
async def replace_contact(
    contact_id: ContactId, body: ContactReplace, session: SessionDep, principal: PrincipalDep
) -> ContactOut:
    view = await contact_service.replace(
        session,
        account_id=principal.account_id,
        contact_id=contact_id,
        email=body.email,
        fields=body.fields,
        tags=body.tags,
        ipaddress=body.ipaddress,
    )
    return ContactOut.of(view)


@router.delete("/contacts/{contact_id}", status_code=204, responses=NOT_FOUND, summary="Delete a contact")
async def delete_contact(contact_id: ContactId, session: SessionDep, principal: PrincipalDep) -> Response:
    await contact_service.delete(session, account_id=principal.account_id, contact_id=contact_id)
    return Response(status_code=204)


@router.post(
    "/contacts/{contact_id}/tags",
    status_code=201,
    response_model=ContactOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Apply tags by name (missing tags are created; re-applying is a no-op)",
)
async def add_tags(
    contact_id: ContactId, body: ContactTagsIn, session: SessionDep, principal: PrincipalDep
) -> ContactOut:
    view = await contact_service.apply_tags(
        session, account_id=principal.account_id, contact_id=contact_id, names=body.tags
    )
    return ContactOut.of(view)


@router.delete(
    "/contacts/{contact_id}/tags/{tag_id}",
    status_code=204,
    responses=NOT_FOUND,
    summary="Remove a tag from a contact (204 even when it was not applied)",
)
async def remove_tag(contact_id: ContactId, tag_id: TagId, session: SessionDep, principal: PrincipalDep) -> Response:
    await contact_service.remove_tag(session, account_id=principal.account_id, contact_id=contact_id, tag_id=tag_id)
    return Response(status_code=204)


@router.post(
    "/contacts/{contact_id}/sequences",
    status_code=201,
    response_model=ContactOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Add the contact to a sequence at step 0 (joining again changes nothing)",
)
async def join_sequence(
    contact_id: ContactId, body: ContactSequenceIn, session: SessionDep, principal: PrincipalDep
) -> ContactOut:
    view = await contact_service.join_sequence(
        session, account_id=principal.account_id, contact_id=contact_id, sequence_id=body.sequence_id
    )
    return ContactOut.of(view)


@router.delete(
    "/contacts/{contact_id}/sequences/{sequence_id}",
    status_code=204,
    responses=NOT_FOUND,
    summary="Take the contact out of a sequence (204 even when it was not in it)",
)
async def leave_sequence(
    contact_id: ContactId, sequence_id: SequenceId, session: SessionDep, principal: PrincipalDep
) -> Response:
    await contact_service.leave_sequence(
        session, account_id=principal.account_id, contact_id=contact_id, sequence_id=sequence_id
    )
    return Response(status_code=204)


@router.post(
    "/contacts/{contact_id}/subscribe",
    status_code=201,
    response_model=ContactOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Subscribe the contact through a form (double opt-in: unconfirmed until the confirmation link)",
)
async def subscribe(
    contact_id: ContactId, body: ContactSubscribeIn, session: SessionDep, principal: PrincipalDep
) -> ContactOut:
    view = await contact_service.subscribe(
        session,
        account_id=principal.account_id,
        contact_id=contact_id,
        form_id=body.form_id,
        fields=body.fields,
        ipaddress=body.ipaddress,
    )
    return ContactOut.of(view)


@router.delete(
    "/contacts/{contact_id}/unsubscribe",
    status_code=204,
    responses=NOT_FOUND,
    summary="Unsubscribe a contact from all mailings; it leaves every sequence",
)
async def unsubscribe(contact_id: ContactId, session: SessionDep, principal: PrincipalDep) -> Response:
    await contact_service.unsubscribe(session, account_id=principal.account_id, contact_id=contact_id)
    return Response(status_code=204)
