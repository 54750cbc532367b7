"""Wire types both API faces use."""

from __future__ import annotations

from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field


def check_email(value: str) -> str:
    value = value.strip()
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise ValueError("The {attr} must be a valid email address.") from None
    return value


Email = Annotated[str, Field(max_length=254), AfterValidator(check_email)]

__all__ = ["Email", "check_email"]
