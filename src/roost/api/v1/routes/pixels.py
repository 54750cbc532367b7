from __future__ import annotations

from roost.api.deps import StateDep
from roost.api.v1.auth import PrincipalDep
from roost.api.v1.conversion_schemas import PixelCodeOut
from roost.api.v1.routing import v1_router
from roost.pixel import service as pixel_service

router = v1_router("pixels")


@router.get(
    "/pixels/code",
    response_model=PixelCodeOut,
    summary="Get the tracking pixel's embed code",
    description="A `<script>` to embed on every page: it names the account by its workspace UUID and "
    "loads the pixel script from this server (`/pixel/script`).",
)
async def get_pixel_code(principal: PrincipalDep, state: StateDep) -> PixelCodeOut:
    code = pixel_service.code(workspace_id=principal.workspace_id, base_url=state.settings.base_url)
    return PixelCodeOut(code=code)
