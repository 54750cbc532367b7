"""Open pixel and click redirect (CONVENTIONS §8): what the tracked parts of a message point at."""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import RedirectResponse

from roost.api.deps import StateDep, WriteSessionDep
from roost.api.public.pages import public_router
from roost.tracking import service as tracking_service

router = public_router()

# The smallest transparent GIF: 1x1, one colour.
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
# Every load and every click must reach the server to be counted, not a cache on the way.
NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0", "Pragma": "no-cache", "Expires": "0"}


@router.get(
    "/t/o/{token}",
    response_class=Response,
    summary="Open pixel",
    description="A 1x1 GIF. The first load records the open of the message the token names "
    "(`opened_at`, an `open` interaction, the email's `opens`, event `email.opened`); later loads add nothing.",
    responses={200: {"content": {"image/gif": {}}, "description": "The pixel."}},
)
async def open_pixel(token: str, session: WriteSessionDep, state: StateDep) -> Response:
    await tracking_service.record_open(session, addressing=state.addressing, token=token)
    return Response(PIXEL_GIF, media_type="image/gif", headers=NO_CACHE)


@router.get(
    "/t/c/{token}",
    response_class=RedirectResponse,
    status_code=302,
    summary="Click redirect",
    description="Redirects to `url` only when `sig` binds that URL to the message the token names; anything "
    "else is 404. In marketing mail to a contact, the redirect adds `_bsc=<identifier>` to the link's query "
    "(the message, signed for this use), which the pixel script on the landing page keeps in a first-party "
    "cookie to tie the browser to the contact (off with `ROOST_PIXEL_IDENTIFIER=false`). Records the click "
    "(a `click` interaction; the first one sets `clicked_at` and counts in the email's `clicks`; event "
    "`email.clicked` once per URL) and an open if none was recorded.",
    responses={302: {"description": "To the link's own URL (with `_bsc` for marketing mail to a contact)."}},
)
async def click(token: str, session: WriteSessionDep, state: StateDep, url: str = "", sig: str = "") -> Response:
    target = await tracking_service.follow_click(
        session, addressing=state.addressing, token=token, url=url, signature=sig
    )
    return RedirectResponse(target, status_code=302, headers=NO_CACHE)
