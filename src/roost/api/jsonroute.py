"""The route class of both API faces: request bodies read as JSON, NUL refused up front."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from roost.api.errors import BadRequest

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class JsonRoute(APIRoute):
    """Bodies are JSON whatever Content-Type says (seed 000: "all parameters … formatted in JSON"; both APIs).

    An empty body reads as `{}`, so a bare POST gets field-by-field 422s, and a JSON body sent
    as `application/x-www-form-urlencoded` (curl -d) is still read as JSON.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            # PostgreSQL text cannot hold NUL; refuse it up front rather than fail in the database.
            if b"%00" in request.scope.get("query_string", b""):
                raise BadRequest("The query string must not contain NUL characters.")
            if request.method in _BODY_METHODS:
                body = (await request.body()).strip() or b"{}"
                if b"\\u0000" in body:
                    raise BadRequest("The request body must not contain NUL characters.")
                headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
                scope = {**request.scope, "headers": [*headers, (b"content-type", b"application/json")]}
                request = Request(scope, request.receive)
                request._body = body
            return await handler(request)

        return route_handler
