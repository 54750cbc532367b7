from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SequenceLink:
    """A contact's membership of a sequence, as the contact's wire shape shows it."""

    sequence_id: int
    current_step: int
    name: str
    description: str
    subscribed_at: datetime
    confirmed_at: datetime | None
