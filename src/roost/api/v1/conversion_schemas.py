"""Wire schemas of conversions and the pixel code (seed 001: Conversions, Pixels; CONVENTIONS §7)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field

from roost.api.v1.wire import Email, Id, V1Time, WireIn
from roost.conversion.service import MAX_VALUE
from roost.models import Conversion
from roost.pixel.types import PageViewDayCount

Value = Annotated[
    Decimal,
    Field(ge=0, le=MAX_VALUE, description="A number, kept to the cent (rounded half up)."),
]
CurrencyCode = Annotated[
    str,
    Field(min_length=3, max_length=3, description="An ISO 4217 code; lower case is accepted."),
]
Source = Annotated[str, Field(max_length=255, description="Where the conversion happened, e.g. `checkout`.")]


class ConversionIn(WireIn):
    """The contact is named by exactly one of `contact_id` or `email`."""

    contact_id: Id | None = None
    email: Email | None = None
    value: Value = Decimal(0)
    currency: CurrencyCode = "USD"
    source: Source = ""


class ConversionPatch(WireIn):
    """Only the properties given change; the contact stays."""

    value: Value | None = None
    currency: CurrencyCode | None = None
    source: Source | None = None


class ConversionOut(BaseModel):
    conversion_id: int
    contact_id: int | None = Field(description="null once the contact has been deleted.")
    value: float
    currency: str
    source: str
    attribution: dict[str, Any] = Field(
        description='`{}`, or the email the contact last clicked: `{"type": "broadcast"|"sequence_email", "id": …}`.'
    )
    created_at: V1Time

    @classmethod
    def of(cls, conversion: Conversion) -> ConversionOut:
        return cls(
            conversion_id=conversion.id,
            contact_id=conversion.contact_id,
            value=float(conversion.value),
            currency=conversion.currency,
            source=conversion.source,
            attribution=conversion.attribution,
            created_at=conversion.created_at,
        )


class PixelCodeOut(BaseModel):
    code: str = Field(description="A <script> snippet to embed on every page of the site.")


class PageViewDayOut(BaseModel):
    date: str = Field(description="A UTC day, `YYYY-MM-DD`.")
    page_views: int
    identified: int = Field(description="Views from browsers tied to a contact through a tracked click.")


class PageViewsOut(BaseModel):
    days: int = Field(description="How many days back, today (UTC) included.")
    page_views: int = Field(description="All the views of those days.")
    identified: int = Field(description="Views from browsers tied to a contact through a tracked click.")
    daily: list[PageViewDayOut] = Field(description="The days that had views, newest first.")

    @classmethod
    def of(cls, days: int, counts: list[PageViewDayCount]) -> PageViewsOut:
        return cls(
            days=days,
            page_views=sum(count.page_views for count in counts),
            identified=sum(count.identified for count in counts),
            daily=[
                PageViewDayOut(date=count.day.isoformat(), page_views=count.page_views, identified=count.identified)
                for count in counts
            ],
        )
