"""The /v1 router class and the error responses every route documents in OpenAPI."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from roost.api.errors import BadRequest
from roost.api.v1.schemas import ErrorOut, ValidationErrorOut

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class V1Route(APIRoute):
    """Bodies are JSON whatever Content-Type says (seed 000: "all parameters … formatted in JSON").

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


def _doc(description: str, model: type[Any] = ErrorOut) -> dict[str, Any]:
    return {"model": model, "description": description}


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _doc("Missing, unknown, revoked or expired token (with `WWW-Authenticate: Bearer`)."),
    403: _doc("The token lacks the scope this method needs (read for GET, write otherwise)."),
    429: _doc("Over the per-account rate limit; see `Retry-After`."),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _doc("No such resource in this account.")}
INVALID: dict[int | str, dict[str, Any]] = {
    422: _doc("Invalid input, keyed by dotted field path.", ValidationErrorOut),
}
BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: _doc("Malformed JSON or a body that is not an object."),
    413: _doc("The body is larger than the configured limit."),
}


def v1_router(tag: str) -> APIRouter:
    return APIRouter(route_class=V1Route, tags=[tag], responses={**AUTH_ERRORS, **INVALID})
