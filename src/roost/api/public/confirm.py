"""The link of a double opt-in confirmation email (CONVENTIONS §7: forms)."""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import HTMLResponse, RedirectResponse

from roost.api.deps import StateDep, WriteSessionDep
from roost.api.pages import page
from roost.api.public.pages import public_router
from roost.tracking import service as tracking_service

router = public_router()

# The form's redirect URL learns nothing of the tokened link, and the answer is never cached.
REDIRECT_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@router.get(
    "/confirm/{token}",
    response_class=HTMLResponse,
    summary="Confirm a subscription",
    description="Following the link confirms at once, as mature email platforms do: the contact becomes "
    "`active` with `confirmed_at` set and the form's tags and sequence apply (as "
    "`POST /v1/contacts/{id}/subscribe` would for a confirmed contact), event `contact.subscribed`. "
    "Then a 303 to the form's redirect URL, or a page saying so. Following it again changes nothing. "
    "A forged link, or one whose contact or form is gone or whose contact unsubscribed since, is the 404 page.",
    responses={303: {"description": "To the form's redirect URL, when it has one."}},
)
async def confirm(token: str, session: WriteSessionDep, state: StateDep) -> Response:
    view = await tracking_service.confirm_subscription(session, addressing=state.addressing, token=token)
    if view.redirect_url:
        return RedirectResponse(view.redirect_url, status_code=303, headers=REDIRECT_HEADERS)
    return page("public/confirmed.html", view=view)
