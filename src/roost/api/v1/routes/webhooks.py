from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request, Response

from roost.api.deps import SessionDep, StateDep, unit_of_work
from roost.api.v1.auth import CallerDep, PrincipalDep
from roost.api.v1.lists import PageOut, envelope, list_params
from roost.api.v1.routing import BAD_BODY, NOT_FOUND, v1_router
from roost.api.v1.webhook_schemas import (
    PAYLOADS,
    DeliveryOut,
    EventTypeOut,
    WebhookIn,
    WebhookMessageOut,
    WebhookOut,
    WebhookPatch,
    WebhookSecretOut,
)
from roost.kit.ids import MAX_ID
from roost.kit.paging import ListParams
from roost.webhook import service as webhook_service
from roost.webhook.catalogue import CATALOGUE
from roost.webhook.sender import RETRY_SCHEDULE

router = v1_router("webhooks")

WebhookId = Annotated[int, Path(ge=1, le=MAX_ID)]
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID)]
WebhookList = Annotated[ListParams, Depends(list_params(webhook_service.SEARCH_BY, webhook_service.ORDER_BY))]
DeliveryList = Annotated[
    ListParams, Depends(list_params(webhook_service.DELIVERY_SEARCH_BY, webhook_service.DELIVERY_ORDER_BY))
]
EventList = Annotated[ListParams, Depends(list_params(webhook_service.EVENT_SEARCH_BY, webhook_service.EVENT_ORDER_BY))]


def _schedule() -> str:
    def show(seconds: float) -> str:
        for unit, size in (("h", 3600), ("min", 60)):
            if seconds >= size:
                return f"{seconds / size:g} {unit}"
        return f"{seconds:g} s"

    return ", ".join(show(wait.total_seconds()) for wait in RETRY_SCHEDULE)


DELIVERY = f"""Roost POSTs each event a webhook subscribes to as JSON `{{"type", "timestamp", "data"}}` (the
payload of each type is documented under `webhooks` in this document), signed per
[Standard Webhooks](https://www.standardwebhooks.com): `webhook-id` (`msg_<n>`, the same on every
attempt: use it to drop repeats), `webhook-timestamp` (Unix seconds of the attempt) and
`webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the secret),
verifiable with any Standard Webhooks library.

- A 2xx answer within 10 s delivers it. Redirects are not followed.
- `410 Gone` switches the webhook off (`active` false, `disabled_reason` says why); its pending
  messages are kept and sent, in order, when it is switched on again.
- Anything else (another status, a timeout, a refused connection) is retried after {_schedule()}
  (about three days), or later when the answer's `Retry-After` asks for more (at most a day);
  then the message has `failed`.
- Events about a contact arrive in the order they happened: the next one waits while an earlier
  one for the same contact is not yet delivered (or failed). Others are not ordered.
- Only active webhooks get events; one switched off receives nothing of what happens meanwhile.
- Destinations resolving to private, loopback, link-local or metadata addresses are refused
  when the webhook is saved (422) and at every connection (a failed attempt), unless the server
  sets `ROOST_WEBHOOKS_ALLOW_PRIVATE=1`."""
CREATE = f"""Subscribe a URL to event types; the answer carries the signing `secret`, shown only here
(and on rotation). At most {webhook_service.MAX_ENDPOINTS} webhooks per account.

{DELIVERY}"""
EVENTS = """The event types webhooks can subscribe to, in catalogue order (`order_by=type` sorts them by name;
`keyword` filters by type). `message.status` is sent for messages of the Bird Channels API."""
DELIVERIES = """The webhook's delivery log: one entry per attempt, newest first, each with the message it carried
(its `webhook-id`, event and current status). `search_by` `event` (event type), `status`
(`succeeded`, `failed`) or `error`; `order_by` `created_at`, `status_code` or `latency_ms`."""
REDELIVER = """Send the message this attempt carried again, now, with a fresh retry schedule; answers 202 with the
message (`pending`). The same `webhook-id` is sent. A message already being sent, or due within a
minute, is left as it is. The webhook must be active (422 otherwise). A message redelivered is
again first in line for its contact: later events for that contact wait until it is delivered."""


@router.get("/webhooks/events", response_model=PageOut[EventTypeOut], summary="List event types", description=EVENTS)
async def list_event_types(request: Request, principal: PrincipalDep, params: EventList) -> Any:
    return envelope(request, webhook_service.event_types(params), EventTypeOut.of)


@router.get("/webhooks", response_model=PageOut[WebhookOut], summary="List webhooks")
async def list_webhooks(request: Request, session: SessionDep, principal: PrincipalDep, params: WebhookList) -> Any:
    page = await webhook_service.list_page(session, account_id=principal.account_id, params=params)
    return envelope(request, page, WebhookOut.of)


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookSecretOut,
    responses=BAD_BODY,
    summary="Create a webhook",
    description=CREATE,
)
async def create_webhook(body: WebhookIn, principal: CallerDep, state: StateDep) -> WebhookSecretOut:
    # The URL's host is resolved before the unit of work opens: see CheckedUrl.
    url = await webhook_service.checked_url(body.url, allow_private=state.settings.webhooks_allow_private)
    async with unit_of_work(state, reading=False) as session:
        created = await webhook_service.create(
            session, account_id=principal.account_id, url=url, events=body.events, active=body.active
        )
    return WebhookSecretOut.created(created)


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut, responses=NOT_FOUND, summary="Get a webhook")
async def get_webhook(webhook_id: WebhookId, session: SessionDep, principal: PrincipalDep) -> WebhookOut:
    return WebhookOut.of(await webhook_service.get(session, account_id=principal.account_id, webhook_id=webhook_id))


@router.patch(
    "/webhooks/{webhook_id}",
    response_model=WebhookOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Update a webhook: only the given properties change",
)
async def update_webhook(
    webhook_id: WebhookId, body: WebhookPatch, principal: CallerDep, state: StateDep
) -> WebhookOut:
    url = None
    if body.url is not None:
        async with unit_of_work(state, reading=True) as session:  # another account's webhook: 404 first
            await webhook_service.get(session, account_id=principal.account_id, webhook_id=webhook_id)
        # The URL's host is resolved before the writing unit of work opens: see CheckedUrl.
        url = await webhook_service.checked_url(body.url, allow_private=state.settings.webhooks_allow_private)
    async with unit_of_work(state, reading=False) as session:
        endpoint = await webhook_service.update(
            session,
            account_id=principal.account_id,
            webhook_id=webhook_id,
            url=url,
            events=body.events,
            active=body.active,
        )
    return WebhookOut.of(endpoint)


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    responses=NOT_FOUND,
    summary="Delete a webhook, its pending messages and its delivery log",
)
async def delete_webhook(webhook_id: WebhookId, session: SessionDep, principal: PrincipalDep) -> Response:
    await webhook_service.delete(session, account_id=principal.account_id, webhook_id=webhook_id)
    return Response(status_code=204)


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    response_model=WebhookSecretOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Rotate a webhook's signing secret",
    description="A new `secret`, shown only here. Every attempt from now on, retries included, is signed with it "
    "alone: the old secret stops verifying at once.",
)
async def rotate_webhook_secret(
    webhook_id: WebhookId, session: SessionDep, principal: PrincipalDep
) -> WebhookSecretOut:
    rotated = await webhook_service.rotate_secret(session, account_id=principal.account_id, webhook_id=webhook_id)
    return WebhookSecretOut.created(rotated)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=PageOut[DeliveryOut],
    responses=NOT_FOUND,
    summary="List a webhook's delivery attempts",
    description=DELIVERIES,
)
async def list_webhook_deliveries(
    webhook_id: WebhookId, request: Request, session: SessionDep, principal: PrincipalDep, params: DeliveryList
) -> Any:
    page = await webhook_service.list_deliveries(
        session, account_id=principal.account_id, webhook_id=webhook_id, params=params
    )
    return envelope(request, page, DeliveryOut.of)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=WebhookMessageOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Redeliver the message of a delivery attempt",
    description=REDELIVER,
)
async def redeliver_webhook_message(
    webhook_id: WebhookId, delivery_id: DeliveryId, session: SessionDep, principal: PrincipalDep
) -> WebhookMessageOut:
    message = await webhook_service.redeliver(
        session, account_id=principal.account_id, webhook_id=webhook_id, delivery_id=delivery_id
    )
    return WebhookMessageOut.of(message)


def document_payloads(app: FastAPI) -> None:
    """List every event's payload under the OpenAPI document's `webhooks` (what Roost POSTs to endpoints)."""
    hooks: APIRouter = app.webhooks
    for spec in CATALOGUE:

        async def receive(body: Any) -> None:
            """Documentation only: what a receiver gets."""

        # Set here, not written: annotations are strings under `from __future__ import annotations`.
        receive.__annotations__["body"] = PAYLOADS[spec.type]
        hooks.add_api_route(
            spec.type,
            receive,
            methods=["POST"],
            summary=spec.type,
            description=f"{spec.description}\n\n{DELIVERY}" if spec is CATALOGUE[0] else spec.description,
            status_code=200,
            response_description="Any 2xx answer delivers the message; 410 switches the webhook off.",
            tags=["webhook payloads"],
        )
