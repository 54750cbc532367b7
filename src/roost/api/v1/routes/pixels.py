from __future__ import annotations

from typing import Annotated

from fastapi import Query

from roost.api.deps import SessionDep, StateDep
from roost.api.v1.auth import PrincipalDep
from roost.api.v1.conversion_schemas import PageViewsOut, PixelCodeOut
from roost.api.v1.routing import v1_router
from roost.pixel import service as pixel_service

router = v1_router("pixels")


@router.get(
    "/pixels/code",
    response_model=PixelCodeOut,
    summary="Get the tracking pixel's embed code",
    description="A `<script>` to embed on every page: it names the account by its workspace UUID and "
    "loads the pixel script from this server (`/pixel/script`), which records page views and, with "
    "`_bsq.push(['track', 'Conversion', {value: 49, currency: 'USD', event_id: 'order-1'}])`, conversions "
    "of the contact whose tracked click led the browser to the site.",
)
async def get_pixel_code(principal: PrincipalDep, state: StateDep) -> PixelCodeOut:
    code = pixel_service.code(workspace_id=principal.workspace_id, base_url=state.settings.base_url)
    return PixelCodeOut(code=code)


@router.get(
    "/pixels/page-views",
    response_model=PageViewsOut,
    summary="Page views the pixel recorded (ext)",
    description="Per UTC day, over the last `days` days (1..366, default 30, today included): all views, and "
    "those from browsers tied to a contact through a tracked click. Only counts are kept.",
)
async def get_page_views(
    session: SessionDep, principal: PrincipalDep, days: Annotated[int, Query(ge=1, le=366)] = 30
) -> PageViewsOut:
    counts = await pixel_service.page_views(session, account_id=principal.account_id, days=days)
    return PageViewsOut.of(days, counts)
