"""The one text form of a moment (CONVENTIONS §5): UTC "YYYY-MM-DD HH:MM:SS"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from roost.kit.timestamps import format_utc, parse_utc, to_utc


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 5, 3, 4, 5, 6, 999_999, tzinfo=UTC), "2026-05-03 04:05:06"),
        (datetime(2026, 5, 3, 4, 5, 6), "2026-05-03 04:05:06"),  # noqa: DTZ001 (naive is read as UTC)
        (datetime(2026, 5, 3, 1, 0, 0, tzinfo=timezone(timedelta(hours=5))), "2026-05-02 20:00:00"),
        (datetime(2026, 12, 31, 22, 30, 0, tzinfo=timezone(timedelta(hours=-3))), "2027-01-01 01:30:00"),
        (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), "0999-01-02 03:04:05"),
    ],
)
def test_moments_are_written_in_utc_to_the_second(moment: datetime, text: str) -> None:
    assert format_utc(moment) == text
    assert parse_utc(text) == to_utc(moment).replace(microsecond=0)
