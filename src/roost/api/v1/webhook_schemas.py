"""Wire schemas of webhooks (CONVENTIONS §7: webhooks, an extension) and of the payloads they send."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, create_model

from roost.api.v1.wire import V1Time, WireIn
from roost.models import WebhookEndpoint, WebhookMessage
from roost.net.guard import MAX_URL_LENGTH
from roost.webhook.catalogue import CATALOGUE, WILDCARD, EventSpec
from roost.webhook.types import CreatedEndpoint, DeliveryView, webhook_id

EVENTS = f"""Event types to receive (see `GET /v1/webhooks/events`), or `{WILDCARD}` for all of them."""
Url = Annotated[
    str,
    BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v),
    Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description=(
            "An http(s) URL. Its host must resolve to public addresses only (private, loopback, link-local "
            "and metadata addresses are refused unless the server allows them)."
        ),
    ),
]
EventName = Annotated[str, Field(min_length=1, max_length=64)]
Events = Annotated[list[EventName], Field(min_length=1, max_length=64, description=EVENTS)]


class WebhookIn(WireIn):
    url: Url
    events: Events
    active: bool = True


class WebhookPatch(WireIn):
    """Only the properties given change."""

    url: Url | None = None
    events: Events | None = None
    active: bool | None = Field(
        default=None, description="Switching a webhook on clears `disabled_reason` and resumes its pending messages."
    )


class WebhookOut(BaseModel):
    webhook_id: int
    url: str
    events: list[str]
    active: bool
    disabled_reason: str | None = Field(description="Why Roost switched the webhook off (it answered 410 Gone).")
    created_at: V1Time
    updated_at: V1Time

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookOut:
        return cls(
            webhook_id=endpoint.id,
            url=endpoint.url,
            events=list(endpoint.events),
            active=endpoint.active,
            disabled_reason=endpoint.disabled_reason,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class WebhookSecretOut(WebhookOut):
    secret: str = Field(
        description=(
            "The signing secret (`whsec_…`, Standard Webhooks), shown only here: when the webhook is created "
            "and when the secret is rotated."
        )
    )

    @classmethod
    def created(cls, created: CreatedEndpoint) -> WebhookSecretOut:
        return cls(**dict(WebhookOut.of(created.endpoint)), secret=created.secret)


class EventTypeOut(BaseModel):
    type: str
    description: str
    data: dict[str, str] = Field(
        description="The keys of the payload's `data` besides `contact_id` and `contact`, with what each holds."
    )
    about_contact: bool = Field(description="Whether `data` carries `contact_id` and `contact`.")

    @classmethod
    def of(cls, spec: EventSpec) -> EventTypeOut:
        return cls(type=spec.type, description=spec.description, data=dict(spec.data), about_contact=spec.about_contact)


MessageStatus = Literal["pending", "delivered", "failed"]


class WebhookMessageOut(BaseModel):
    """An event sent to one webhook, with the `webhook-id` every attempt at it carries."""

    message_id: str = Field(description="The `webhook-id` header: `msg_<n>`, the same on every attempt.")
    event_id: int
    type: str
    status: MessageStatus = Field(
        description="`pending` (to be sent, or waiting to be retried), `delivered`, `failed` (retries ran out)."
    )
    attempts: int
    next_attempt_at: V1Time = Field(description="When it is sent next, while `pending`.")
    delivered_at: V1Time

    @classmethod
    def of(cls, message: WebhookMessage) -> WebhookMessageOut:
        pending = message.status == "pending"
        return cls(
            message_id=webhook_id(message.id),
            event_id=message.event_id,
            type=message.event_type,
            status=message.status,
            attempts=message.attempts,
            next_attempt_at=message.next_attempt_at if pending else None,
            delivered_at=message.delivered_at,
        )


class DeliveryOut(BaseModel):
    """One attempt to deliver a message."""

    delivery_id: int
    webhook_id: int
    attempt: int = Field(description="1 for the message's first attempt, then 2, 3 …")
    trigger: Literal["scheduled", "manual"] = Field(description="`manual` for an attempt asked for by redeliver.")
    status: Literal["succeeded", "failed"]
    status_code: int | None = Field(description="The HTTP status answered; null when no answer came.")
    latency_ms: int
    response: str = Field(description="The first KiB of the answer's body.")
    error: str | None = Field(description="Why no answer came (timeout, refused connection, refused address).")
    created_at: V1Time
    message: WebhookMessageOut

    @classmethod
    def of(cls, view: DeliveryView) -> DeliveryOut:
        delivery = view.delivery
        return cls(
            delivery_id=delivery.id,
            webhook_id=delivery.endpoint_id,
            attempt=delivery.attempt,
            trigger=delivery.trigger,
            status="succeeded" if delivery.succeeded else "failed",
            status_code=delivery.status_code,
            latency_ms=delivery.latency_ms,
            response=delivery.response,
            error=delivery.error,
            created_at=delivery.created_at,
            message=WebhookMessageOut.of(view.message),
        )


# Payloads (documented under the OpenAPI document's `webhooks`) ----------------------------------


class ContactSnapshot(BaseModel):
    """The contact as it is when the event is handed to webhooks (moments after it happened)."""

    contact_id: int
    email: str
    status: str = Field(description="active, unconfirmed, unsubscribed, bounced, complained or non_subscribed")
    fields: dict[str, str | None] = Field(description="first_name, last_name and the custom fields, by key")


def _data_model(spec: EventSpec) -> type[BaseModel]:
    fields: dict[str, Any] = {key: (Any, Field(description=meaning or None)) for key, meaning in spec.data.items()}
    if spec.about_contact:
        fields["contact_id"] = (int, Field(description="The contact the event is about."))
        fields["contact"] = (ContactSnapshot | None, Field(description="Null once the contact is deleted."))
    name = "".join(part.capitalize() for part in spec.type.replace("_", ".").split("."))
    return create_model(f"{name}Data", **fields)


def payload_model(spec: EventSpec) -> type[BaseModel]:
    """The body sent for events of this type."""
    name = "".join(part.capitalize() for part in spec.type.replace("_", ".").split("."))
    event_type: Any = Literal[spec.type]
    return create_model(
        f"{name}Payload",
        type=(event_type, ...),
        timestamp=(str, Field(description="When the event happened, RFC 3339 in UTC.")),
        data=(_data_model(spec), ...),
    )


PAYLOADS: dict[str, type[BaseModel]] = {spec.type: payload_model(spec) for spec in CATALOGUE}
