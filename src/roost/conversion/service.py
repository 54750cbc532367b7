"""Conversions: value a contact brought (seed 001: Conversions; CONVENTIONS §7).

Values are kept to the cent (rounded half up) and currencies are ISO 4217 codes, checked
against the ISO table the `iso4217` package ships.

Attribution (CONVENTIONS §7: stats): a conversion, however it is recorded (the API, the pixel,
a rule's `add_conversion`), is attributed to the last email the contact clicked within 7 days
before it: a broadcast or a sequence email, never a test send. Its value then counts in that
email's `conversion_value`, the sum behind `altv`/`ltv`, whatever its currency (as
`has_conversion_value` sums them); changing the value moves the sum with it and deleting the
conversion takes it back. Without such a click `attribution` is `{}`. The attribution is made
once, when the conversion is recorded: later clicks do not move it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from iso4217 import Currency
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from roost import events
from roost.conversion.repository import ConversionRepository
from roost.delivery import stats
from roost.errors import Invalid, NotFound
from roost.kit.clock import utcnow_seconds
from roost.kit.paging import ListParams, Page
from roost.models import Conversion

SEARCH_BY = ("source",)
ORDER_BY = ("created_at", "value")
MAX_VALUE = Decimal("999999999999.99")  # Numeric(14, 2)
CURRENCIES = frozenset(currency.code for currency in Currency)
CENT = Decimal("0.01")
ATTRIBUTION_WINDOW = timedelta(days=7)
# The wire names of the emails a conversion is attributed to, by the stats owner kind (delivery.stats).
_ATTRIBUTED_TYPES = {"broadcast": "broadcast", "sequence": "sequence_email"}
_OWNER_KINDS = {wire: kind for kind, wire in _ATTRIBUTED_TYPES.items()}


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


async def _attribution(repo: ConversionRepository, contact_id: int, at: datetime) -> dict[str, Any]:
    """The email the contact last clicked within the window before `at`, as the wire shows it, or `{}`."""
    clicked = await repo.last_clicked(contact_id, at - ATTRIBUTION_WINDOW)
    if clicked is None:
        return {}
    kind, broadcast_id, sequence_email_id = clicked
    owner = stats.owner_of(kind=kind, broadcast_id=broadcast_id, sequence_email_id=sequence_email_id)
    return {} if owner is None else {"type": _ATTRIBUTED_TYPES[owner[0]], "id": owner[1]}


async def _count_value(session: AsyncSession, conversion: Conversion, amount: Decimal) -> None:
    """Add `amount` to the `conversion_value` of the email the conversion is attributed to, if any."""
    kind = _OWNER_KINDS.get(conversion.attribution.get("type", ""))
    owner_id = conversion.attribution.get("id")
    if kind is not None and isinstance(owner_id, int) and amount:
        await stats.add_value(session, (kind, owner_id), amount)


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
    event_id: str | None = None,
) -> Conversion:
    """Record a conversion of a contact of the account, attributed to the email the contact last clicked.

    With an `event_id` (the pixel's), a conversion already recorded with it in the account is
    answered instead, and nothing new is recorded.
    """
    repo = ConversionRepository(session, account_id)
    converting = await _contact_id(repo, contact_id=contact_id, email=email)
    if event_id is not None and (existing := await repo.by_event_id(event_id)) is not None:
        return existing
    now = utcnow_seconds()
    conversion = Conversion(
        account_id=account_id,
        contact_id=converting,
        value=_cents(value),
        currency=_currency(currency),
        source=source,
        attribution=await _attribution(repo, converting, now),
        event_id=event_id,
        created_at=now,
        updated_at=now,
    )
    if event_id is None:
        repo.add(conversion)
        await session.flush()
    else:
        try:
            # Two requests with one event id at once: the unique (account_id, event_id) lets one in.
            async with session.begin_nested():
                repo.add(conversion)
                await session.flush()
        except IntegrityError:
            existing = await repo.by_event_id(event_id)
            if existing is None:
                raise
            return existing
    await _count_value(session, conversion, conversion.value)
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
    """Change the value, currency or source; the contact and attribution stay, the email's sum follows the value."""
    conversion = await ConversionRepository(session, account_id).get_for_update(conversion_id)
    if conversion is None:
        raise NotFound()
    new_value = None if value is None else _cents(value)
    changes = {
        "value": new_value,
        "currency": None if currency is None else _currency(currency),
        "source": source,
    }
    changed = [key for key, new in changes.items() if new is not None and getattr(conversion, key) != new]
    if new_value is not None and "value" in changed:
        await _count_value(session, conversion, new_value - conversion.value)
    for key in changed:
        setattr(conversion, key, changes[key])
    if changed:
        conversion.updated_at = utcnow_seconds()
        _record(session, conversion, "updated", changed=changed)
    await session.flush()
    return conversion


async def delete(session: AsyncSession, *, account_id: int, conversion_id: int) -> None:
    """Delete a conversion; its value leaves the sum of the email it was attributed to."""
    repo = ConversionRepository(session, account_id)
    conversion = await repo.get_for_update(conversion_id)
    if conversion is None:
        raise NotFound()
    await _count_value(session, conversion, -conversion.value)
    _record(session, conversion, "deleted")
    await repo.delete(conversion)
