"""The unsubscribe page behind every marketing email's link and List-Unsubscribe header (CONVENTIONS §8)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Response
from fastapi.responses import HTMLResponse, PlainTextResponse

from roost.api.deps import SessionDep, StateDep
from roost.api.pages import page
from roost.api.public.pages import public_router
from roost.tracking import service as tracking_service

router = public_router()

ONE_CLICK = "One-Click"  # RFC 8058 §3.1: the body is List-Unsubscribe=One-Click


@router.get(
    "/u/{token}",
    response_class=HTMLResponse,
    summary="Unsubscribe page",
    description="Names the sender and the address and asks for confirmation. It changes nothing: link "
    "scanners follow links.",
)
async def unsubscribe_page(token: str, session: SessionDep, state: StateDep) -> Response:
    view = await tracking_service.unsubscribe_page(session, addressing=state.addressing, token=token)
    return page("public/unsubscribe.html", view=view)


@router.post(
    "/u/{token}",
    response_class=HTMLResponse,
    summary="Unsubscribe",
    description="Unsubscribes the contact the message was sent to (as `DELETE /v1/contacts/{id}/unsubscribe`), "
    "counts it for the email once, cancels the contact's queued messages and shows the done page. "
    "With the RFC 8058 one-click body `List-Unsubscribe=One-Click` the answer is a short text. "
    "Idempotent.",
)
async def unsubscribe(
    token: str,
    session: SessionDep,
    state: StateDep,
    list_unsubscribe: Annotated[str, Form(alias="List-Unsubscribe")] = "",
) -> Response:
    view = await tracking_service.unsubscribe(session, addressing=state.addressing, token=token)
    if list_unsubscribe == ONE_CLICK:
        return PlainTextResponse("Unsubscribed.\n", headers={"Cache-Control": "no-store"})
    return page("public/unsubscribe.html", view=view)
