"""/outbox: the captured mail, readable in a browser (served only while no SMTP relay is configured)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response

from roost.api.deps import SessionDep
from roost.api.pages import page as render
from roost.delivery import outbox as outbox_service
from roost.kit.ids import MAX_ID

PER_PAGE = 50
router = APIRouter(include_in_schema=False)
CapturedId = Annotated[int, PathParam(ge=1, le=MAX_ID)]


@router.get("/outbox", response_class=HTMLResponse)
async def outbox(session: SessionDep, page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    rows, total = await outbox_service.page(session, page=page, per_page=PER_PAGE)
    return render("outbox/index.html", rows=rows, total=total, page=page, per_page=PER_PAGE)


@router.get("/outbox/{captured_id}", response_class=HTMLResponse)
async def captured(captured_id: CapturedId, session: SessionDep) -> Response:
    return render("outbox/message.html", mail=await outbox_service.get(session, captured_id=captured_id))


@router.get("/outbox/{captured_id}/raw")
async def raw(captured_id: CapturedId, session: SessionDep) -> Response:
    data = await outbox_service.raw(session, captured_id=captured_id)
    return Response(data, media_type="text/plain; charset=utf-8")
