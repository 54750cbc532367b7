"""The capture transport: with no SMTP relay configured, mail is kept in the database (CONVENTIONS §9)."""

from __future__ import annotations

import email.parser
import email.policy
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.db import Gate, no_gate
from roost.mail.smtp import DeliveryStatus, DsnRequest, SendOutcome
from roost.models import CapturedMail

_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.default)


class CaptureTransport:
    """Stores each message as it would have gone out; it always "delivers"."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], gate: Gate = no_gate) -> None:
        self.sessionmaker = sessionmaker
        self.gate = gate

    async def send(
        self, envelope_from: str, recipients: Sequence[str], message: bytes, *, dsn: DsnRequest | None = None
    ) -> SendOutcome:
        """Keep the message; like a relay without DSN, it reports nothing later (`dsn` changes nothing)."""
        subject = str(_HEADERS.parsebytes(message).get("subject", ""))[:998]
        async with self.gate(), self.sessionmaker() as session, session.begin():
            session.add(
                CapturedMail(
                    envelope_from=envelope_from, recipients=", ".join(recipients), subject=subject, raw=message
                )
            )
        return SendOutcome(DeliveryStatus.SENT, 250, "captured")

    async def close(self) -> None:
        return None
