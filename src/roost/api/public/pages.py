"""HTML pages of the public face (Jinja2 templates under roost/templates/public) and its route class."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape

from roost.errors import NotFound

_TEMPLATES = Environment(
    loader=PackageLoader("roost", "templates/public"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
# Pages reached through links in mail: never framed (a hidden confirm button), never cached or
# indexed, and their tokened URL never sent on as a referrer.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_TEMPLATES.get_template(template).render(**context), status_code, headers=PAGE_HEADERS)


class PublicRoute(APIRoute):
    """A link that names nothing (forged, or its message is gone) answers a page for people, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except NotFound:
                return page("not_found.html", 404)

        return route_handler


NOT_FOUND_PAGE: dict[int | str, dict[str, Any]] = {
    404: {"description": "The link is forged or names nothing any more (an HTML page).", "content": {"text/html": {}}},
}


def public_router() -> APIRouter:
    return APIRouter(route_class=PublicRoute, tags=["public"], responses=NOT_FOUND_PAGE)
