"""What sequences and broadcasts share on the wire: the sender, the footer, an email's subject and body, its stats.

A required value of only spaces is missing (CONVENTIONS §7). Text is trimmed before it is checked,
except a body, which is kept as given (the seed's examples answer a body with its trailing space).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from roost.api.v1.wire import Email, Name, WireIn


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("The {attr} field is required.")
    return value


Trimmed = BeforeValidator(_strip)
# Field before the validator, so that a length error reads as for any string ("field is required").
Subject = Annotated[str, Field(min_length=1, max_length=998), Trimmed]
Body = Annotated[str, Field(min_length=1, max_length=1_000_000), AfterValidator(_not_blank)]
Company = Annotated[str, Field(max_length=255), Trimmed]
Address = Annotated[str, Field(min_length=1, max_length=1000), Trimmed]
Footer = Annotated[str, Field(max_length=65_535)]


class SenderIn(WireIn):
    email: Email
    name: Name
    company: Company | None = None
    address: Address
    footer: Footer | None = None


class SenderPatch(WireIn):
    email: Email | None = None
    name: Name | None = None
    company: Company | None = None
    address: Address | None = None
    footer: Footer | None = None


FOOTER_DOC = (
    "Appended to every email; `%sender.address%` and `%unsubscribelink%` are added when it lacks them, and null "
    "or empty means a default footer. Also accepted as `sender.footer`; the top-level one wins."
)


class SenderBody(WireIn):
    """A request body with a sender; the footer comes top-level (seed examples) or as `sender.footer` (field tables)."""

    footer: Footer | None = Field(default=None, description=FOOTER_DOC)

    def sender_columns(self, sender: SenderIn | SenderPatch | None) -> dict[str, str]:
        """The sender columns given: nulls of required values are ignored, a null company or footer clears it.

        The top-level footer wins over `sender.footer`.
        """
        values: dict[str, str | None] = {}
        if sender is not None:
            values |= {"sender_email": sender.email, "sender_name": sender.name, "sender_address": sender.address}
            if "company" in sender.model_fields_set:
                values["sender_company"] = sender.company or ""
            if "footer" in sender.model_fields_set:
                values["footer"] = sender.footer or ""
        if "footer" in self.model_fields_set:
            values["footer"] = self.footer or ""
        return {column: value for column, value in values.items() if value is not None}


def value_per_sent(value: Decimal, sent: int) -> int | float:
    """Conversion value per email sent (`ltv`, `altv`), to the cent, halves up; a whole number is an integer (`0`)."""
    if not sent:
        return 0
    per_sent = (value / sent).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(per_sent) if per_sent == per_sent.to_integral_value() else float(per_sent)
