"""The tracking pixel's public side (CONVENTIONS §7: pixels): the script sites load, and where it reports.

Both are reached from other sites' pages. The script is static and cached; the collect endpoint
answers any origin (CORS `*`, never with credentials: it reads no cookie of its own), takes small
JSON bodies only and is rate limited per client address and workspace, and every refusal is a
4xx in the /v1 error format with the CORS headers, so a browser never hides it.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from roost.api.deps import StateDep, unit_of_work
from roost.api.errors import domain_response, invalid_response, message_response
from roost.api.state import AppState
from roost.api.v1.conversion_schemas import CurrencyCode, Value
from roost.api.v1.schemas import ErrorOut, ValidationErrorOut
from roost.api.validation import field_errors
from roost.conversion import service as conversion_service
from roost.errors import DomainError
from roost.pixel import service as pixel_service
from roost.pixel.types import Hit

router = APIRouter(tags=["public"])

MAX_COLLECT_BYTES = 4096  # what the script sends is a few hundred bytes
SCRIPT_TYPE = "text/javascript; charset=utf-8"  # RFC 9239

_CORS = {"Access-Control-Allow-Origin": "*"}
_COLLECT_HEADERS = {**_CORS, "Cache-Control": "no-store"}
_PREFLIGHT_HEADERS = {
    **_COLLECT_HEADERS,
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}
# Browsers revalidate within the hour (an ETag makes that a 304), so a new script reaches every site soon.
_SCRIPT_HEADERS = {
    **_CORS,
    "Cache-Control": "public, max-age=3600",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "cross-origin",
}


class CollectIn(BaseModel):
    """A report of the pixel script. Unknown properties are ignored."""

    model_config = ConfigDict(extra="ignore")

    workspace: uuid.UUID = Field(description="The workspace UUID the snippet's `init` names.")
    type: Literal["page_view", "conversion"]
    identifier: Annotated[str, Field(max_length=100)] | None = Field(
        default=None, description="The visitor identifier a tracked click handed on (the `_bsc` cookie)."
    )
    url: Annotated[str, Field(max_length=2000)] | None = Field(
        default=None, description="The page of a conversion; kept as its `source` without query or fragment."
    )
    value: Value = Decimal(0)
    currency: CurrencyCode = "USD"
    event_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x20-\x7e]+$")] | None = Field(
        default=None, description="The site's key of a conversion (an order number): reported twice, recorded once."
    )

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, code: str) -> str:
        # Checked for every report, not only for the conversions that are recorded: junk is refused alike.
        if code.upper() not in conversion_service.CURRENCIES:
            raise ValueError("The {attr} must be an ISO 4217 currency code.")
        return code.upper()


class _Refused(Exception):
    """A report refused before any work: its answer."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def _collect_answer(response: Response) -> Response:
    response.headers.update(_COLLECT_HEADERS)
    return response


async def _body(request: Request) -> bytes:
    """The body, refused (413) beyond MAX_COLLECT_BYTES whether or not Content-Length says so."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_COLLECT_BYTES:
        raise _Refused(message_response(413))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_COLLECT_BYTES:
            raise _Refused(message_response(413))
    return bytes(body)


def _hit(body: bytes) -> Hit:
    """The report, read as JSON whatever Content-Type says (sendBeacon sends text/plain)."""
    if b"\\u0000" in body:  # PostgreSQL text cannot hold NUL
        raise _Refused(message_response(400, "The request body must not contain NUL characters."))
    try:
        report = CollectIn.model_validate_json(body or b"{}")
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [dict(error) for error in exc.errors()]
        if any(error["type"] == "json_invalid" for error in errors):
            raise _Refused(message_response(400, "The request body is not valid JSON.")) from None
        if any(not error["loc"] for error in errors):
            raise _Refused(message_response(400, "The request body must be a JSON object.")) from None
        raise _Refused(invalid_response(field_errors(errors, strip=0))) from None
    return Hit(
        workspace_id=report.workspace,
        type=report.type,
        identifier=report.identifier,
        url=report.url,
        value=report.value,
        currency=report.currency,
        event_id=report.event_id,
    )


async def _limit(state: AppState, request: Request, hit: Hit) -> None:
    """The per client address and workspace limit (`ROOST_PIXEL_RATE_LIMIT`)."""
    if state.pixel_limiter is None:
        return
    client = request.client.host if request.client else ""
    decision = await state.pixel_limiter.hit_key(f"{client}|{hit.workspace_id}")
    if not decision.allowed:
        raise _Refused(message_response(429, headers={"Retry-After": str(decision.retry_after)}))


def _error(description: str, model: type[Any] = ErrorOut) -> dict[str, Any]:
    return {"model": model, "description": description}


@router.get(
    pixel_service.SCRIPT_PATH,
    response_class=Response,
    summary="Pixel script",
    description="The script the embed code of `GET /v1/pixels/code` loads. It runs the `_bsq` command queue "
    "(`init` with the workspace UUID, `track` `PageView` and `Conversion` with `{value, currency, event_id}`), "
    "keeps the `_bsc` visitor identifier a tracked click adds to the landing URL in a first-party cookie, and "
    "reports to `POST /pixel/collect`. Cacheable for an hour, with an ETag (`If-None-Match` answers 304).",
    responses={
        200: {"content": {"text/javascript": {}}, "description": "The script."},
        304: {"description": "The copy the client holds is current."},
    },
)
async def pixel_script(request: Request, state: StateDep) -> Response:
    served = pixel_service.script(base_url=state.settings.base_url)
    headers = {**_SCRIPT_HEADERS, "ETag": served.etag}
    held = {tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")}
    if served.etag in held or "*" in held:
        return Response(status_code=304, headers=headers)
    return Response(served.body, media_type=SCRIPT_TYPE, headers=headers)


@router.options(pixel_service.COLLECT_PATH, include_in_schema=False)
async def collect_preflight() -> Response:
    """The CORS preflight of a report sent as application/json (the script itself sends text/plain)."""
    return Response(status_code=204, headers=_PREFLIGHT_HEADERS)


@router.post(
    pixel_service.COLLECT_PATH,
    status_code=204,
    response_class=Response,
    summary="Pixel report",
    description="What the pixel script reports, from any origin (CORS `*`, no credentials), as a JSON body "
    f"of at most {MAX_COLLECT_BYTES} bytes whatever its Content-Type. A `page_view` counts in the workspace's "
    "page views of the day (`GET /v1/pixels/page-views`). A `conversion` from a browser tied to a contact "
    "(`identifier`) records a conversion of that contact with source `pixel: <page>`, as "
    "`POST /v1/conversions` would: attributed to the email the contact last clicked within 7 days, event "
    "`conversion.created`, so `has_conversion*` rules fire; with an `event_id` already recorded, nothing new. "
    "A conversion tied to no contact, or to one deleted since, is dropped. 204 whenever the report was "
    "valid; a forged identifier is 422, an unknown workspace 404. At most `ROOST_PIXEL_RATE_LIMIT` reports "
    "per client address and workspace (429 with `Retry-After`).",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/plain": {"schema": CollectIn.model_json_schema()},
                "application/json": {"schema": CollectIn.model_json_schema()},
            },
        }
    },
    responses={
        204: {"description": "Recorded (or dropped, as described)."},
        400: _error("Malformed JSON, a body that is not an object, or NUL characters."),
        404: _error("No workspace has this UUID."),
        413: _error(f"The body is larger than {MAX_COLLECT_BYTES} bytes."),
        422: _error("Invalid input, keyed by field, or a forged `identifier`.", ValidationErrorOut),
        429: _error("Over the per client address and workspace limit; see `Retry-After`."),
    },
)
async def collect(request: Request, state: StateDep) -> Response:
    try:
        hit = _hit(await _body(request))
        await _limit(state, request, hit)
        async with unit_of_work(state, reading=False) as session:
            await pixel_service.collect(session, addressing=state.addressing, hit=hit)
    except _Refused as refused:
        return _collect_answer(refused.response)
    except DomainError as exc:
        return _collect_answer(domain_response(exc))
    return Response(status_code=204, headers=_COLLECT_HEADERS)
