"""Wire conventions of the Bird face: camelCase properties, RFC 3339 UTC timestamps with milliseconds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

from roost.kit.timestamps import to_utc


def format_rfc3339(moment: datetime) -> str:
    """`2025-02-16T20:58:46.649Z`: UTC, milliseconds (CONVENTIONS §10)."""
    return to_utc(moment).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _format_time(value: datetime | None) -> str | None:
    return None if value is None else format_rfc3339(value)


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("The {attr} must be an RFC 3339 timestamp with a time zone offset.")
    try:
        return to_utc(value)
    except ValueError:
        raise ValueError("The {attr} is not a valid date.") from None


BirdTime = Annotated[datetime | None, PlainSerializer(_format_time, return_type=str | None)]
BirdTimeIn = Annotated[datetime, AfterValidator(_aware_utc)]


class BirdIn(BaseModel):
    """Request bodies: camelCase, unknown properties ignored (seeds 003/004 carry many for other platforms)."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


class BirdOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)
