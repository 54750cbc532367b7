"""Wire types shared by the /v1 schemas: timestamps, ids, strings, emails."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from roost.api.types import Email
from roost.kit.ids import MAX_ID
from roost.kit.timestamps import format_utc, to_utc


def _format_time(value: datetime | None) -> str | None:
    return None if value is None else format_utc(value)


# "YYYY-MM-DD HH:MM:SS" in UTC, null when unset (CONVENTIONS §5).
V1Time = Annotated[datetime | None, PlainSerializer(_format_time, return_type=str | None)]
Id = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]
Name = Annotated[
    str, Field(min_length=1, max_length=255), BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v)
]


def _field_value(value: Any) -> Any:
    # Numbers are accepted and stored as text (a phone number sent as 12345 is still a phone number).
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


FieldValue = Annotated[str, BeforeValidator(_field_value), Field(max_length=10000)]


class WireIn(BaseModel):
    """Request bodies: unknown properties are ignored (CONVENTIONS §5)."""

    model_config = ConfigDict(extra="ignore")


def _as_utc(value: datetime) -> datetime:
    # A time without an offset is UTC, as every /v1 timestamp is (CONVENTIONS §5).
    try:
        return to_utc(value)
    except ValueError:
        # The field's sentence rather than the kit's.
        raise ValueError("The {attr} is not a valid date.") from None


# Accepts "YYYY-MM-DD HH:MM:SS" (UTC) or ISO 8601 with an offset.
V1TimeIn = Annotated[datetime, AfterValidator(_as_utc)]

__all__ = ["Email", "FieldValue", "Id", "Name", "V1Time", "V1TimeIn", "WireIn"]
