"""The Bird face's routers and the error responses every route documents in OpenAPI."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from roost.api.bird.errors import BirdErrorOut, BirdValidationErrorOut
from roost.api.jsonroute import JsonRoute

# A channel's id in a path: any text, so that a malformed one answers 404 like an unknown one.
ChannelId = Annotated[str, Path(max_length=64, description="The channel's UUID.")]


def _doc(description: str, model: type[Any] = BirdErrorOut) -> dict[str, Any]:
    return {"model": model, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    401: _doc("Missing, unknown, revoked or expired token (`AccessKey` or `Bearer`)."),
    403: _doc("The token lacks the scope this method needs (read for GET, write otherwise)."),
    404: _doc("No such resource in this workspace, or another workspace."),
    422: _doc("Invalid input, with `details` keyed by dotted field path.", BirdValidationErrorOut),
    429: _doc("Over the per-account rate limit; see `Retry-After`."),
}
BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: _doc("Malformed JSON or a body that is not an object."),
    413: _doc("The body is larger than the configured limit."),
}


def bird_router(tag: str) -> APIRouter:
    return APIRouter(prefix="/workspaces/{workspace_id}", route_class=JsonRoute, tags=[tag], responses=ERRORS)
