"""Broadcasts (CONVENTIONS §7: broadcasts; seed 001).

Status: `draft` until it is given a time; `immediate` or a schedule makes it `scheduled`
(immediate means now); the delivery engine moves it to `sending` and `sent`, after which it
can no longer be edited; a scheduled one can be `cancelled`. Recipients are condition groups,
checked against the account when saved and resolved when sending starts (audience.service).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy.ext.asyncio import AsyncSession

from roost.account import service as account_service
from roost.audience import service as audience_service
from roost.audience.types import RecipientGroupSpec
from roost.broadcast.repository import BroadcastRepository
from roost.broadcast.types import ScheduleSpec
from roost.errors import Invalid, NotFound
from roost.kit.clock import utcnow_seconds
from roost.kit.paging import ListParams, Page
from roost.kit.timestamps import to_utc
from roost.models import Broadcast

SEARCH_BY = ("name", "status")
ORDER_BY = ("name", "created_at")
# Content columns a client sets, with the wire path naming each one in errors.
CONTENT_PATHS = {
    "name": "name",
    "subject": "email.subject",
    "body": "email.body",
    "sender_email": "sender.email",
    "sender_name": "sender.name",
    "sender_company": "sender.company",
    "sender_address": "sender.address",
    "footer": "footer",
}
REQUIRED_CONTENT = ("name", "subject", "body", "sender_email", "sender_name", "sender_address")
LOCKED_STATUSES = frozenset({"sending", "sent"})

Content = Mapping[str, str]


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


@dataclass(frozen=True, slots=True)
class _Timing:
    status: str
    immediate: bool
    scheduled_at: datetime | None
    timezone: str


async def _account_timezone(session: AsyncSession, account_id: int) -> str:
    return (await account_service.get(session, account_id=account_id)).timezone


async def _scheduled_at(session: AsyncSession, account_id: int, schedule: ScheduleSpec) -> tuple[datetime, str]:
    """The UTC instant a `scheduled` schedule names, and the zone it was read in."""
    if schedule.datetime is None:
        raise Invalid.field("schedule.datetime", "The schedule.datetime field is required.")
    zone = schedule.timezone or await _account_timezone(session, account_id)
    if zone not in _timezones():
        raise Invalid.field("schedule.timezone", "The schedule.timezone must be a valid IANA zone.")
    moment = schedule.datetime
    try:
        at = to_utc(moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo(zone)))
    except ValueError:
        raise Invalid.field("schedule.datetime", "The schedule.datetime is not a valid date.") from None
    at = at.replace(microsecond=0)
    if at <= utcnow_seconds():
        raise Invalid.field("schedule", "The schedule must be a date after now (or set immediate).")
    return at, zone


async def _timing(
    session: AsyncSession,
    account_id: int,
    current: Broadcast | None,
    immediate: bool | None,
    schedule: ScheduleSpec | None,
) -> _Timing | None:
    """The status and time a request asks for; None when it leaves them as they are.

    `immediate: true` wins over any schedule. `immediate: false` alone only unschedules a
    broadcast that was immediate; a schedule of type draft (or null) unschedules any.
    """
    zone = current.schedule_timezone if current is not None else ""
    if immediate or (schedule is not None and schedule.type == "immediate"):
        return _Timing("scheduled", True, utcnow_seconds(), zone)
    if schedule is not None and schedule.type == "scheduled":
        at, zone = await _scheduled_at(session, account_id, schedule)
        return _Timing("scheduled", False, at, zone)
    if schedule is not None or current is None or (immediate is False and current.immediate):
        return _Timing("draft", False, None, zone)
    return None


def _apply(broadcast: Broadcast, content: Content, timing: _Timing | None) -> None:
    for column, value in content.items():
        if column not in CONTENT_PATHS:
            raise ValueError(f"{column!r} is not broadcast content")
        setattr(broadcast, column, value)
    if timing is not None:
        broadcast.status = timing.status
        broadcast.immediate = timing.immediate
        broadcast.scheduled_at = timing.scheduled_at
        broadcast.schedule_timezone = timing.timezone


async def list_page(session: AsyncSession, *, account_id: int, params: ListParams) -> Page[Broadcast]:
    """A page of the account's broadcasts."""
    return await BroadcastRepository(session, account_id).page(params)


async def get(session: AsyncSession, *, account_id: int, broadcast_id: int) -> Broadcast:
    """One broadcast, or NotFound."""
    broadcast = await BroadcastRepository(session, account_id).get(broadcast_id)
    if broadcast is None:
        raise NotFound()
    return broadcast


async def _locked(session: AsyncSession, account_id: int, broadcast_id: int) -> Broadcast:
    """The broadcast, its row locked until the transaction ends (PostgreSQL).

    Delivery takes the same lock to mark it `sending`, so it cannot start the broadcast between a
    check of its status here and the change that depends on it.
    """
    broadcast = await BroadcastRepository(session, account_id).get_for_update(broadcast_id)
    if broadcast is None:
        raise NotFound()
    return broadcast


async def create(
    session: AsyncSession,
    *,
    account_id: int,
    content: Content,
    recipients: Sequence[RecipientGroupSpec] = (),
    immediate: bool | None = None,
    schedule: ScheduleSpec | None = None,
) -> Broadcast:
    """Create a broadcast: scheduled when immediate or given a schedule, a draft otherwise."""
    missing = {
        CONTENT_PATHS[c]: [f"The {CONTENT_PATHS[c]} field is required."] for c in REQUIRED_CONTENT if not content.get(c)
    }
    if missing:
        raise Invalid(missing)
    groups = await audience_service.check_recipients(session, account_id=account_id, groups=recipients)
    timing = await _timing(session, account_id, None, immediate, schedule)
    now = utcnow_seconds()
    broadcast = Broadcast(account_id=account_id, recipients=groups, created_at=now, updated_at=now)
    _apply(broadcast, content, timing)
    BroadcastRepository(session, account_id).add(broadcast)
    await session.flush()
    return broadcast


def _check_editable(broadcast: Broadcast) -> None:
    if broadcast.status in LOCKED_STATUSES:
        raise Invalid.field(
            "status",
            f"The broadcast is {broadcast.status}: a broadcast that is sending or sent can no longer be edited.",
        )


async def update(
    session: AsyncSession,
    *,
    account_id: int,
    broadcast_id: int,
    content: Content,
    recipients: Sequence[RecipientGroupSpec] | None = None,
    immediate: bool | None = None,
    schedule: ScheduleSpec | None = None,
) -> Broadcast:
    """Change what is given; a broadcast that is sending or sent cannot be edited (CONVENTIONS §7)."""
    broadcast = await _locked(session, account_id, broadcast_id)
    _check_editable(broadcast)
    if recipients is not None:
        broadcast.recipients = await audience_service.check_recipients(
            session, account_id=account_id, groups=recipients
        )
    _apply(broadcast, content, await _timing(session, account_id, broadcast, immediate, schedule))
    broadcast.updated_at = utcnow_seconds()
    await session.flush()
    return broadcast


async def delete(session: AsyncSession, *, account_id: int, broadcast_id: int) -> None:
    """Delete a broadcast whatever its status (a sending one stops with it)."""
    broadcast = await _locked(session, account_id, broadcast_id)
    await BroadcastRepository(session, account_id).delete(broadcast)


async def cancel(session: AsyncSession, *, account_id: int, broadcast_id: int) -> Broadcast:
    """Stop a scheduled broadcast from going out; only a scheduled one can be cancelled."""
    broadcast = await _locked(session, account_id, broadcast_id)
    if broadcast.status != "scheduled":
        raise Invalid.field(
            "status", f"The broadcast is {broadcast.status}: only a scheduled broadcast can be cancelled."
        )
    broadcast.status = "cancelled"
    broadcast.updated_at = utcnow_seconds()
    await session.flush()
    return broadcast


async def count_recipients(session: AsyncSession, *, account_id: int, broadcast_id: int) -> int:
    """How many contacts would receive the broadcast if it were sent now."""
    broadcast = await get(session, account_id=account_id, broadcast_id=broadcast_id)
    return await audience_service.count_recipients(session, account_id=account_id, groups=broadcast.recipients)
