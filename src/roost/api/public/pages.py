"""The public face's route class: pages reached through links in mail (templates under roost/templates/public)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from roost.api.pages import page
from roost.errors import NotFound


class PublicRoute(APIRoute):
    """A link that names nothing (forged, or its message is gone) answers a page for people, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except NotFound:
                return page("public/not_found.html", 404)

        return route_handler


NOT_FOUND_PAGE: dict[int | str, dict[str, Any]] = {
    404: {"description": "The link is forged or names nothing any more (an HTML page).", "content": {"text/html": {}}},
}


def public_router() -> APIRouter:
    return APIRouter(route_class=PublicRoute, tags=["public"], responses=NOT_FOUND_PAGE)
