"""The Bird face's error body (CONVENTIONS §10): `{"code", "message"}`, plus `details` on a 422."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from pydantic import BaseModel

# The workspace routes, and the media routes presigned uploads and mediaUrls reach (seed 004).
PREFIXES = ("/workspaces/", "/media/")
CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    422: "InvalidPayload",
    429: "TooManyRequests",
}


class BirdErrorOut(BaseModel):
    code: str
    message: str


class BirdValidationErrorOut(BaseModel):
    code: str = "InvalidPayload"
    message: str = "The given data was invalid."
    details: dict[str, list[str]]


def is_bird(path: str) -> bool:
    return path.startswith(PREFIXES)


def error_response(
    status: int,
    message: str,
    *,
    details: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, object] = {"code": CODES.get(status, "Error"), "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)
