"""Bounce, complaint and delivery reports as real MTAs and feedback loops write them, and a contact
to bounce them for.

The samples (samples/*.eml) hold placeholders for what differs per test: {{RETURN_PATH}} (the
VERP address the original went out with), {{RECIPIENT}} (the address that bounced or
complained), {{TOKEN}} (the message token in the returned List-Unsubscribe header, and the
envelope id a success DSN names) and {{FBL_ADDRESS}} (where a feedback loop sends its reports).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosmtplib
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.delivery.addressing import Addressing
from roost.kit.clock import utcnow
from roost.models import Event, Interaction, Message
from tests.helpers import Api

SAMPLES = Path(__file__).parent / "samples"
_PLACEHOLDER = re.compile(rb"\{\{([A-Z_]+)\}\}")
SENDER = {"email": "news@example.org", "name": "Ada", "company": "Example", "address": "1 Main St"}


def sample(name: str, **values: str) -> bytes:
    """The sample with every placeholder filled from `values` (lower-case keys); a missing one is an error."""
    data = (SAMPLES / f"{name}.eml").read_bytes().replace(b"\n", b"\r\n")
    return _PLACEHOLDER.sub(lambda found: values[found.group(1).decode().lower()].encode(), data)


async def send(port: int, recipient: str, data: bytes) -> None:
    """Deliver as an MTA sends a report: null reverse path, one recipient."""
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port) as client:
        await client.sendmail("", [recipient], data)


@dataclass
class Mailing:
    """A contact in a sequence, sent its emails (message rows, status sent), and the listener port reports go to."""

    api: Api
    sessionmaker: async_sessionmaker[AsyncSession]
    addressing: Addressing
    port: int
    sequence_id: int
    contact_id: int
    address: str

    @classmethod
    async def start(
        cls, api: Api, sessionmaker: async_sessionmaker[AsyncSession], addressing: Addressing, port: int
    ) -> Mailing:
        address = f"bea-{uuid.uuid4().hex[:10]}@example.com"
        sequence = await api.created("/sequences", {"name": "Welcome", "sender": SENDER})
        contact = await api.created("/contacts", {"email": address})
        joined = await api.post(
            f"/contacts/{contact['contact_id']}/sequences", {"sequence_id": sequence["sequence_id"]}
        )
        assert joined.status_code == 201, joined.text
        return cls(api, sessionmaker, addressing, port, sequence["sequence_id"], contact["contact_id"], address)

    async def sent(self) -> tuple[int, int]:
        """A new email of the sequence and the message that delivered it: (email_id, message_id)."""
        email = await self.api.created(
            f"/sequences/{self.sequence_id}/emails", {"subject": "News", "body": "<p>Hi</p>"}
        )
        now = utcnow()
        async with self.sessionmaker() as session, session.begin():
            message = Message(
                account_id=self.api.account.id,
                kind="sequence",
                sequence_email_id=email["email_id"],
                contact_id=self.contact_id,
                to_address=self.address,
                status="sent",
                due_at=now,
                sent_at=now,
            )
            session.add(message)
        return email["email_id"], message.id

    def unsubscribe_address(self, message_id: int) -> str:
        """The List-Unsubscribe mailto address of the message."""
        return f"unsubscribe+{self.addressing.token(message_id)}@{self.addressing.bounce_domain}"

    async def deliver(self, name: str, message_id: int, *, to: str | None = None) -> None:
        """An MTA delivers the sample about that message to its VERP address (or to `to`)."""
        return_path = self.addressing.return_path(message_id)
        data = sample(
            name,
            return_path=return_path,
            recipient=self.address,
            token=self.addressing.token(message_id),
            fbl_address=to or return_path,
        )
        await send(self.port, to or return_path, data)

    async def status(self) -> str:
        response = await self.api.get(f"/contacts/{self.contact_id}")
        assert response.status_code == 200, response.text
        status: str = response.json()["status"]
        return status

    async def sequences(self) -> list[Any]:
        sequences: list[Any] = (await self.api.get(f"/contacts/{self.contact_id}")).json()["sequences"]
        return sequences

    async def stats(self, email_id: int) -> dict[str, Any]:
        response = await self.api.get(f"/sequences/{self.sequence_id}/emails/{email_id}")
        assert response.status_code == 200, response.text
        stats: dict[str, Any] = response.json()["stats"]
        return stats

    async def events(self, *types: str) -> list[Event]:
        async with self.sessionmaker() as session:
            rows = await session.scalars(
                select(Event).where(Event.account_id == self.api.account.id, Event.type.in_(types)).order_by(Event.id)
            )
            return list(rows)

    async def interactions(self, message_id: int) -> list[tuple[str, str]]:
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(Interaction.type, Interaction.detail)
                .where(Interaction.message_id == message_id)
                .order_by(Interaction.id)
            )
            return [(row.type, row.detail) for row in rows]
