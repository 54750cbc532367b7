"""Map every failure to a 4xx in the face's own format, once (ARCHITECTURE habit 6)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from roost.api.bird import errors as bird_errors
from roost.api.ratelimit import RateDecision
from roost.api.validation import field_errors
from roost.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unauthenticated

log = logging.getLogger("roost.api")

INVALID_MESSAGE = "The given data was invalid."
_PHRASES = {
    400: "Bad Request.",
    401: "Unauthenticated.",
    403: "This action is unauthorized.",
    404: "Not Found.",
    405: "Method Not Allowed.",
    409: "Conflict.",
    413: "The request body is too large.",
    415: "Unsupported Media Type.",
    429: "Too Many Attempts.",
}


# What pydantic says of a body that is JSON but not an object (an array, a number, a string).
_NOT_AN_OBJECT = frozenset({"model_type", "model_attributes_type", "dict_type"})


class RateLimited(Exception):
    def __init__(self, decision: RateDecision) -> None:
        super().__init__("rate limited")
        self.decision = decision


class BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def message_response(
    status: int, message: str | None = None, headers: dict[str, str] | None = None, *, bird: bool = False
) -> JSONResponse:
    """An error in the /v1 format, or with `bird` in the Bird face's (CONVENTIONS §5, §10)."""
    text = message or _PHRASES.get(status, "Error.")
    if bird:
        return bird_errors.error_response(status, text, headers=headers)
    return JSONResponse({"message": text}, status_code=status, headers=headers)


def invalid_response(errors: dict[str, list[str]], *, bird: bool = False) -> JSONResponse:
    if bird:
        return bird_errors.error_response(422, INVALID_MESSAGE, details=errors)
    return JSONResponse({"message": INVALID_MESSAGE, "errors": errors}, status_code=422)


def _validation_response(exc: RequestValidationError, *, bird: bool) -> JSONResponse:
    errors: list[dict[str, Any]] = list(exc.errors())
    # A malformed id in the path names no resource: 404, as for an unknown id.
    if any(error.get("loc", ("",))[0] == "path" for error in errors):
        return message_response(404, bird=bird)
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            return message_response(400, "The request body is not valid JSON.", bird=bird)
        if loc == ("body",) and error.get("type") in _NOT_AN_OBJECT:
            return message_response(400, "The request body must be a JSON object.", bird=bird)
    return invalid_response(field_errors(errors), bird=bird)


def domain_response(exc: DomainError, *, bird: bool = False) -> JSONResponse:
    if isinstance(exc, NotFound):
        return message_response(404, bird=bird)
    if isinstance(exc, Invalid):
        return invalid_response(exc.errors, bird=bird)
    if isinstance(exc, Unauthenticated):
        return message_response(401, headers={"WWW-Authenticate": "Bearer"}, bird=bird)
    if isinstance(exc, Forbidden):
        return message_response(403, bird=bird)
    if isinstance(exc, Conflict):
        return message_response(409, str(exc) or None, bird=bird)
    return message_response(400, str(exc) or None, bird=bird)


def _is_bird(request: Request) -> bool:
    return bird_errors.is_bird(request.url.path)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method any route serves at this path (Starlette names only the first route's)."""
    return [
        method
        for method in _METHODS
        if any(route.matches({**scope, "method": method})[0] == Match.FULL for route in app.router.routes)
    ]


def install(app: FastAPI) -> None:
    async def on_domain(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        return domain_response(exc, bird=_is_bird(request))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _validation_response(exc, bird=_is_bird(request))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(app, request.scope))
        return message_response(exc.status_code, None, headers, bird=_is_bird(request))

    async def on_rate_limited(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RateLimited)
        return message_response(429, headers=exc.decision.headers(), bird=_is_bird(request))

    async def on_bad_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BadRequest)
        return message_response(400, exc.message, bird=_is_bird(request))

    async def on_integrity(request: Request, exc: Exception) -> JSONResponse:
        # Only a race between two writers gets here: the services check uniqueness first.
        log.info("integrity race: %s", exc)
        return message_response(409, "The resource was changed by another request; try again.", bird=_is_bird(request))

    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RateLimited, on_rate_limited)
    app.add_exception_handler(BadRequest, on_bad_request)
    app.add_exception_handler(IntegrityError, on_integrity)
