"""The one source of "now": aware UTC, truncated to whole seconds as the /v1 wire shows them."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def utcnow_seconds() -> datetime:
    return utcnow().replace(microsecond=0)
