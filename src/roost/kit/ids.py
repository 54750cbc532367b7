"""Bounds of row ids, and the public ids (UUIDs) that clients name rows by."""

from __future__ import annotations

import uuid

# Ids are BIGINT: no row can have a larger one, so a larger number names nothing (and would overflow).
MAX_ID = 2**63 - 1


def parse_uuid(text: str | None) -> uuid.UUID | None:
    """The UUID written in `text`, or None: an id that is not a UUID names nothing (404, not 422)."""
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
