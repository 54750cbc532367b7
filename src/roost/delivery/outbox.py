"""The captured mail a new user looks at in /outbox (CONVENTIONS §9: mail is captured with no relay)."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.errors import NotFound
from roost.models import CapturedMail


@dataclass(frozen=True, slots=True)
class CapturedView:
    id: int
    created_at: datetime
    envelope_from: str
    recipients: str
    subject: str
    from_header: str
    html: str
    text: str


async def page(session: AsyncSession, *, page: int, per_page: int) -> tuple[list[CapturedMail], int]:
    """The newest captured mail first, and how many there are."""
    total = int(await session.scalar(select(func.count()).select_from(CapturedMail)) or 0)
    rows = await session.scalars(
        select(CapturedMail).order_by(CapturedMail.id.desc()).offset((page - 1) * per_page).limit(per_page)
    )
    return list(rows.all()), total


async def raw(session: AsyncSession, *, captured_id: int) -> bytes:
    """A captured message exactly as it would have gone out."""
    row = await session.get(CapturedMail, captured_id)
    if row is None:
        raise NotFound()
    return row.raw


async def get(session: AsyncSession, *, captured_id: int) -> CapturedView:
    """One captured message, parsed into what a reader sees."""
    row = await session.get(CapturedMail, captured_id)
    if row is None:
        raise NotFound()
    parsed = email.message_from_bytes(row.raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    html = parsed.get_body(("html",))
    text = parsed.get_body(("plain",))
    return CapturedView(
        id=row.id,
        created_at=row.created_at,
        envelope_from=row.envelope_from,
        recipients=row.recipients,
        subject=row.subject,
        from_header=str(parsed.get("from", "")),
        html=html.get_content() if isinstance(html, EmailMessage) else "",
        text=text.get_content() if isinstance(text, EmailMessage) else "",
    )
