"""The /v1 router class and the error responses every route documents in OpenAPI."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from roost.api.jsonroute import JsonRoute
from roost.api.v1.schemas import ErrorOut, ValidationErrorOut


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
    return APIRouter(prefix="/v1", route_class=JsonRoute, tags=[tag], responses={**AUTH_ERRORS, **INVALID})
