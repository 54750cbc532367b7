from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

SCOPES = ("read", "write")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the account a token reaches and what it may do there."""

    account_id: int
    workspace_id: uuid.UUID
    scopes: frozenset[str]
    token_id: int
    last_seen_at: datetime | None = None
