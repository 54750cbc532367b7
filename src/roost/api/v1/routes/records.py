"""Routes for /v1/contacts/{contact_id}/notes|tasks|appointments, built from one template.

No `from __future__ import annotations`: FastAPI reads the generated signatures' types at runtime.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response
from pydantic import BaseModel

from roost.api.deps import SessionDep
from roost.api.v1.auth import PrincipalDep
from roost.api.v1.crm_schemas import (
    AppointmentIn,
    AppointmentOut,
    AppointmentPatch,
    NoteIn,
    NoteOut,
    NotePatch,
    TaskIn,
    TaskOut,
    TaskPatch,
    patch_values,
)
from roost.api.v1.lists import PageOut, envelope, list_params
from roost.api.v1.routing import BAD_BODY, NOT_FOUND, v1_router
from roost.crm import service as crm_service
from roost.crm.service import RecordKind
from roost.kit.ids import MAX_ID
from roost.kit.paging import ListParams

router = v1_router("contact records")
ContactId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _with_body(fn: Callable[..., Any], schema: type[BaseModel]) -> Callable[..., Any]:
    """Give a template route its kind's body schema; FastAPI reads it from the annotations."""
    fn.__annotations__["body"] = schema
    return fn


def _add_routes(
    kind: RecordKind,
    plural: str,
    schema_in: type[BaseModel],
    schema_patch: type[BaseModel],
    schema_out: Any,
    *,
    nullable: frozenset[str] = frozenset(),
) -> None:
    collection = f"/contacts/{{contact_id}}/{plural}"
    item = f"{collection}/{{{kind.name}_id}}"
    list_query = Annotated[ListParams, Depends(list_params(kind.search_by, kind.order_by))]
    record_id_param = Annotated[int, Path(ge=1, le=MAX_ID, alias=f"{kind.name}_id")]
    label = kind.name

    async def list_records(
        request: Request, contact_id: ContactId, session: SessionDep, principal: PrincipalDep, params: list_query
    ) -> Any:
        page = await crm_service.list_page(
            session, kind=kind, account_id=principal.account_id, contact_id=contact_id, params=params
        )
        return envelope(request, page, schema_out.of)

    async def get_record(
        contact_id: ContactId, record_id: record_id_param, session: SessionDep, principal: PrincipalDep
    ) -> Any:
        record = await crm_service.get(
            session, kind=kind, account_id=principal.account_id, contact_id=contact_id, record_id=record_id
        )
        return schema_out.of(record)

    async def create_record(
        contact_id: ContactId, body: BaseModel, session: SessionDep, principal: PrincipalDep
    ) -> Any:
        record = await crm_service.create(
            session, kind=kind, account_id=principal.account_id, contact_id=contact_id, values=body.model_dump()
        )
        return schema_out.of(record)

    def update_route(*, replace: bool) -> Callable[..., Any]:
        async def update_record(
            contact_id: ContactId,
            record_id: record_id_param,
            body: BaseModel,
            session: SessionDep,
            principal: PrincipalDep,
        ) -> Any:
            # PUT replaces the whole record (defaults fill what is omitted); PATCH changes what is given.
            values = body.model_dump() if replace else patch_values(body, nullable=nullable)
            record = await crm_service.update(
                session,
                kind=kind,
                account_id=principal.account_id,
                contact_id=contact_id,
                record_id=record_id,
                values=values,
            )
            return schema_out.of(record)

        return update_record

    async def delete_record(
        contact_id: ContactId, record_id: record_id_param, session: SessionDep, principal: PrincipalDep
    ) -> Response:
        await crm_service.delete(
            session, kind=kind, account_id=principal.account_id, contact_id=contact_id, record_id=record_id
        )
        return Response(status_code=204)

    both = {**NOT_FOUND, **BAD_BODY}
    add = router.add_api_route
    add(
        collection,
        list_records,
        methods=["GET"],
        response_model=PageOut[schema_out],
        responses=NOT_FOUND,
        summary=f"List a contact's {plural}",
    )
    add(item, get_record, methods=["GET"], response_model=schema_out, responses=NOT_FOUND, summary=f"Get a {label}")
    add(
        collection,
        _with_body(create_record, schema_in),
        methods=["POST"],
        status_code=201,
        response_model=schema_out,
        responses=both,
        summary=f"Add a {label} to a contact",
    )
    add(
        item,
        _with_body(update_route(replace=False), schema_patch),
        methods=["PATCH"],
        response_model=schema_out,
        responses=both,
        summary=f"Update a {label}: only the given properties change",
    )
    add(
        item,
        _with_body(update_route(replace=True), schema_in),
        methods=["PUT"],
        response_model=schema_out,
        responses=both,
        summary=f"Replace a {label}: omitted properties take their defaults",
    )
    add(item, delete_record, methods=["DELETE"], status_code=204, responses=NOT_FOUND, summary=f"Delete a {label}")


_add_routes(crm_service.NOTE, "notes", NoteIn, NotePatch, NoteOut)
_add_routes(crm_service.TASK, "tasks", TaskIn, TaskPatch, TaskOut, nullable=frozenset({"due_at"}))
_add_routes(
    crm_service.APPOINTMENT,
    "appointments",
    AppointmentIn,
    AppointmentPatch,
    AppointmentOut,
    nullable=frozenset({"ends_at"}),
)
