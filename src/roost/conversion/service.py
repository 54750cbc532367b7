"""Conversions: value a contact brought (seed 001: Conversions; CONVENTIONS §7).

Values are kept to the cent (rounded half up) and currencies are ISO 4217 codes, checked
against the ISO table the `iso4217` package ships. A conversion made through the API has
no attribution (`{}`); tracking fills it for conversions that follow a click.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from iso4217 import Currency
from sqlalchemy.ext.asyncio import AsyncSession

from roost import events
from roost.conversion.repository import ConversionRepository
from roost.errors import Invalid, NotFound
from roost.kit.clock import utcnow_seconds
from roost.kit.paging import ListParams, Page
from roost.models import Conversion

SEARCH_BY = ("source",)
ORDER_BY = ("created_at", "value")
MAX_VALUE = Decimal("999999999999.99")  # Numeric(14, 2)
CURRENCIES = frozenset(currency.code for currency in Currency)
CENT = Decimal("0.01")


def _currency(code: str) -> str:
    upper = code.strip().upper()
    if upper not in CURRENCIES:
        raise Invalid.field("currency", "The currency must be an ISO 4217 currency code.")
    return upper


def _cents(value: Decimal) -> Decimal:
    # The face bounds the value to 0..MAX_VALUE, so rounding cannot leave the column's range.
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _record(session: AsyncSession, conversion: Conversion, verb: str, **extra: object) -> None:
    data = {
        "conversion_id": conversion.id,
        "value": float(conversion.value),
        "currency": conversion.currency,
        **extra,
    }
    events.record(
        session,
        account_id=conversion.account_id,
        type=f"conversion.{verb}",
        contact_id=conversion.contact_id,
        data=data,
    )


async def _contact_id(repo: ConversionRepository, *, contact_id: int | None, email: str | None) -> int:
    """The converting contact: found by exactly one of its id or email, in this account only."""
    if contact_id is None and email is None:
        raise Invalid.field("contact_id", "The contact id field is required when email is not present.")
    if contact_id is not None and email is not None:
        raise Invalid.field("email", "The email field is prohibited when contact id is present.")
    found = await repo.contact_id(contact_id=contact_id, email=email)
    if found is None:
        field = "contact_id" if contact_id is not None else "email"
        raise Invalid.field(field, f"The selected {field.replace('_', ' ')} is invalid.")
    return found


async def list_page(session: AsyncSession, *, account_id: int, params: ListParams) -> Page[Conversion]:
    """A page of the account's conversions."""
    return await ConversionRepository(session, account_id).page(params)


async def get(session: AsyncSession, *, account_id: int, conversion_id: int) -> Conversion:
    """One conversion, or NotFound."""
    conversion = await ConversionRepository(session, account_id).get(conversion_id)
    if conversion is None:
        raise NotFound()
    return conversion


async def totals(session: AsyncSession, *, account_id: int, contact_id: int) -> tuple[int, Decimal]:
    """The contact's number of conversions and their total value (whatever their currencies)."""
    return await ConversionRepository(session, account_id).totals(contact_id)


async def create(
    session: AsyncSession,
    *,
    account_id: int,
    contact_id: int | None = None,
    email: str | None = None,
    value: Decimal,
    currency: str,
    source: str,
) -> Conversion:
    """Record a conversion of a contact of the account."""
    repo = ConversionRepository(session, account_id)
    converting = await _contact_id(repo, contact_id=contact_id, email=email)
    now = utcnow_seconds()
    conversion = repo.add(
        Conversion(
            account_id=account_id,
            contact_id=converting,
            value=_cents(value),
            currency=_currency(currency),
            source=source,
            attribution={},
            created_at=now,
            updated_at=now,
        )
    )
    await session.flush()
    _record(session, conversion, "created")
    return conversion


async def update(
    session: AsyncSession,
    *,
    account_id: int,
    conversion_id: int,
    value: Decimal | None = None,
    currency: str | None = None,
    source: str | None = None,
) -> Conversion:
    """Change the value, currency or source; the contact and attribution stay."""
    conversion = await get(session, account_id=account_id, conversion_id=conversion_id)
    changes = {
        "value": None if value is None else _cents(value),
        "currency": None if currency is None else _currency(currency),
        "source": source,
    }
    changed = [key for key, new in changes.items() if new is not None and getattr(conversion, key) != new]
    for key in changed:
        setattr(conversion, key, changes[key])
    if changed:
        conversion.updated_at = utcnow_seconds()
        _record(session, conversion, "updated", changed=changed)
    await session.flush()
    return conversion


async def delete(session: AsyncSession, *, account_id: int, conversion_id: int) -> None:
    """Delete a conversion."""
    conversion = await get(session, account_id=account_id, conversion_id=conversion_id)
    _record(session, conversion, "deleted")
    await ConversionRepository(session, account_id).delete(conversion)
